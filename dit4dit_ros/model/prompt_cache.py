"""Prompt embeddings computed once, offline, and stored next to a checkpoint.

Why: the Cosmos text encoder is a 7B-class VLM whose output depends only on the instruction text. The official
code runs it on every control step; here it runs once per instruction (`dit4dit embed-prompts`), and the policy
only looks the result up. The cache is keyed by instruction text and remembers which encoder produced it, so
embeddings of two encoders never mix.
"""
from __future__ import annotations

import json
import os
from typing import Iterable, Optional, Union

import torch

FILENAME = "prompt_embeddings.safetensors"
_FORMAT = "dit4dit-prompt-cache-v1"


class UnknownInstructionError(KeyError):
    """An instruction that was never embedded; the message lists the known ones.

    The one definition: the cache raises it on lookup and every policy engine raises it on input validation.
    """

    def __init__(self, instruction: object, known: Iterable[str]) -> None:
        self.instruction = instruction
        self.known = sorted(known)
        super().__init__(instruction)

    def __str__(self) -> str:
        return (f"instruction {self.instruction!r} has no cached prompt embedding; known instructions: {self.known}"
                " (add it with `dit4dit embed-prompts`)")


def _key(instruction: str) -> str:
    if not isinstance(instruction, str) or not instruction.strip():
        raise ValueError(f"an instruction must be a non-empty string, got {instruction!r}")
    return instruction.strip()


class PromptEmbeddingCache:
    """instruction -> (L, C) float tensor, all from one encoder (`encoder_id`) and of one shape."""

    def __init__(self, encoder_id: str, embeddings: Optional[dict[str, torch.Tensor]] = None) -> None:
        if not encoder_id:
            raise ValueError("encoder_id must be a non-empty string")
        self.encoder_id = encoder_id
        self._embeddings: dict[str, torch.Tensor] = {}
        for instruction, emb in (embeddings or {}).items():
            self.add(instruction, emb)

    @property
    def instructions(self) -> list[str]:
        return list(self._embeddings)

    @property
    def shape(self) -> Optional[tuple[int, int]]:
        """(L, C) shared by every entry; None while empty."""
        first = next(iter(self._embeddings.values()), None)
        return None if first is None else tuple(first.shape)  # type: ignore[return-value]

    def __len__(self) -> int:
        return len(self._embeddings)

    def __contains__(self, instruction: object) -> bool:
        return isinstance(instruction, str) and instruction.strip() in self._embeddings

    def add(self, instruction: str, embedding: torch.Tensor) -> None:
        if not isinstance(embedding, torch.Tensor) or embedding.ndim != 2:
            raise ValueError(f"embedding of {instruction!r} must be a (L, C) tensor, got {getattr(embedding, 'shape', embedding)}")
        if self.shape is not None and tuple(embedding.shape) != self.shape:
            raise ValueError(f"embedding of {instruction!r} has shape {tuple(embedding.shape)}, the cache holds {self.shape}")
        self._embeddings[_key(instruction)] = embedding.detach().to("cpu", torch.float32).contiguous()

    def get(self, instruction: str, encoder_id: Optional[str] = None) -> torch.Tensor:
        """(L, C) embedding; `encoder_id` (optional) must match the cache's encoder."""
        if encoder_id is not None and encoder_id != self.encoder_id:
            raise ValueError(f"cache holds embeddings of encoder {self.encoder_id!r}, not {encoder_id!r}")
        try:
            return self._embeddings[_key(instruction)]
        except KeyError:
            raise UnknownInstructionError(instruction, self.instructions) from None

    def batch(self, instructions: list[str]) -> torch.Tensor:
        """(B, L, C) for a list of instructions."""
        return torch.stack([self.get(i) for i in instructions])

    def merge(self, other: "PromptEmbeddingCache") -> None:
        if other.encoder_id != self.encoder_id:
            raise ValueError(f"cannot merge embeddings of encoder {other.encoder_id!r} into a {self.encoder_id!r} cache")
        for instruction in other.instructions:
            self.add(instruction, other.get(instruction))

    @staticmethod
    def resolve_path(path: Union[str, os.PathLike]) -> str:
        """A directory (e.g. a checkpoint) means `<dir>/prompt_embeddings.safetensors`."""
        path = os.fspath(path)
        return os.path.join(path, FILENAME) if os.path.isdir(path) else path

    def save(self, path: Union[str, os.PathLike]) -> str:
        from safetensors.torch import save_file

        target = self.resolve_path(path)
        tensors = {f"prompt_{i:05d}": emb for i, emb in enumerate(self._embeddings.values())}
        metadata = {"format": _FORMAT, "encoder_id": self.encoder_id, "instructions": json.dumps(self.instructions)}
        os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
        tmp = target + ".tmp"
        save_file(tensors, tmp, metadata=metadata)
        os.replace(tmp, target)  # atomic: a reader never sees a half-written cache
        return target

    @classmethod
    def load(cls, path: Union[str, os.PathLike]) -> "PromptEmbeddingCache":
        from safetensors import safe_open

        source = cls.resolve_path(path)
        if not os.path.isfile(source):
            raise FileNotFoundError(f"no prompt embedding cache at {source!r} (create it with `dit4dit embed-prompts`)")
        with safe_open(source, framework="pt") as f:
            meta = f.metadata() or {}
            if meta.get("format") != _FORMAT:
                raise ValueError(f"{source!r} is not a DiT4DiT prompt cache (format {meta.get('format')!r})")
            instructions = json.loads(meta["instructions"])
            embeddings = {text: f.get_tensor(f"prompt_{i:05d}") for i, text in enumerate(instructions)}
        return cls(meta["encoder_id"], embeddings)
