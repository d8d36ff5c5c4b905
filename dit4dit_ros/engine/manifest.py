"""Exported engines live next to the checkpoint, tied to the weights they came from by a manifest.

Layout: <checkpoint>/engines/<kind>-<precision>/ holds one ONNX graph per stage (engine/stages.py) and
manifest.json: format, engine kind, precision, opset, the stages' files with their sha256 and static shapes, the
ONNX Runtime parity figures of the export, and the sha256 of the checkpoint files the graphs were exported from
(model.safetensors, config.json). Before an engine runs, `verify_manifest` recomputes those hashes: graphs exported
from other weights (a retrained or replaced checkpoint) or a damaged graph file are refused with a message that
says what changed and how to re-export, never run silently.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dit4dit_ros.engine.stages import TensorSpec

MANIFEST_FILE = "manifest.json"
ENGINES_DIR = "engines"
MANIFEST_FORMAT = "dit4dit-engine-v1"
#: checkpoint files whose contents the exported graphs depend on (prompts are projected at run time: not listed)
SOURCE_FILES = ("model.safetensors", "config.json")
PRECISIONS = ("fp32", "fp16", "bf16")
EXPORT_KINDS = ("onnxruntime", "tensorrt")


class EngineError(RuntimeError):
    """An exported engine is missing, stale (other weights) or damaged; the message says how to re-export."""


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def engine_dir(checkpoint_dir: str | os.PathLike, kind: str, precision: str) -> Path:
    if kind not in EXPORT_KINDS:
        raise ValueError(f"exported engine kind must be one of {EXPORT_KINDS}, got {kind!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return Path(checkpoint_dir) / ENGINES_DIR / f"{kind}-{precision}"


def export_command(checkpoint_dir: str | os.PathLike, kind: str, precision: str) -> str:
    return f"dit4dit export-engine --checkpoint {checkpoint_dir} --engine {kind} --precision {precision}"


@dataclass
class StageEntry:
    file: str  # the graph, relative to the engine directory
    files: dict[str, str]  # every file of the stage (graph + external weights) -> sha256
    inputs: list[TensorSpec]
    outputs: list[TensorSpec]
    parity_max_abs_diff: float | None = None  # ONNX Runtime vs torch at export; None where ORT cannot run it

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "files": dict(self.files), "inputs": [s.to_dict() for s in self.inputs],
                "outputs": [s.to_dict() for s in self.outputs], "parity_max_abs_diff": self.parity_max_abs_diff}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageEntry":
        return cls(str(d["file"]), {str(k): str(v) for k, v in d["files"].items()},
                   [TensorSpec.from_dict(s) for s in d["inputs"]], [TensorSpec.from_dict(s) for s in d["outputs"]],
                   d.get("parity_max_abs_diff"))


@dataclass
class EngineManifest:
    engine: str
    precision: str
    opset: int
    source: dict[str, str]  # checkpoint file name -> sha256
    stages: dict[str, StageEntry]
    prompt_length: int
    versions: dict[str, str] = field(default_factory=dict)
    format: str = MANIFEST_FORMAT

    def to_dict(self) -> dict[str, Any]:
        return {"format": self.format, "engine": self.engine, "precision": self.precision, "opset": self.opset,
                "prompt_length": self.prompt_length, "source": dict(self.source),
                "stages": {k: v.to_dict() for k, v in self.stages.items()}, "versions": dict(self.versions)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EngineManifest":
        return cls(engine=str(d["engine"]), precision=str(d["precision"]), opset=int(d["opset"]),
                   source={str(k): str(v) for k, v in d["source"].items()},
                   stages={k: StageEntry.from_dict(v) for k, v in d["stages"].items()},
                   prompt_length=int(d["prompt_length"]), versions=dict(d.get("versions", {})),
                   format=str(d.get("format", "")))

    def save(self, directory: str | os.PathLike) -> Path:
        path = Path(directory) / MANIFEST_FILE
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, path)  # written last and atomically: a manifest only ever describes complete graphs
        return path


def source_hashes(checkpoint_dir: str | os.PathLike) -> dict[str, str]:
    root = Path(checkpoint_dir)
    missing = [name for name in SOURCE_FILES if not (root / name).is_file()]
    if missing:
        raise FileNotFoundError(f"checkpoint {root} lacks {missing}: cannot tie an engine to its weights")
    return {name: sha256_file(root / name) for name in SOURCE_FILES}


def load_manifest(directory: str | os.PathLike) -> EngineManifest:
    path = Path(directory) / MANIFEST_FILE
    if not path.is_file():
        raise EngineError(f"{path}: missing; no engine was exported here")
    try:
        manifest = EngineManifest.from_dict(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise EngineError(f"{path}: not a valid engine manifest ({exc})") from exc
    if manifest.format != MANIFEST_FORMAT:
        raise EngineError(f"{path}: manifest format {manifest.format!r}, this build reads {MANIFEST_FORMAT!r}")
    return manifest


def verify_manifest(checkpoint_dir: str | os.PathLike, kind: str, precision: str,
                    stages: tuple[str, ...]) -> tuple[Path, EngineManifest]:
    """The engine directory and its manifest, after checking that it belongs to the checkpoint's current weights
    and that every graph file is intact; EngineError otherwise, naming the file and the command that fixes it."""
    directory = engine_dir(checkpoint_dir, kind, precision)
    fix = f"re-export with `{export_command(checkpoint_dir, kind, precision)}`"
    try:
        manifest = load_manifest(directory)
    except EngineError as exc:
        raise EngineError(f"{exc}; {fix}") from exc
    if (manifest.engine, manifest.precision) != (kind, precision):
        raise EngineError(f"{directory}: manifest says {manifest.engine}-{manifest.precision}; {fix}")
    current = source_hashes(checkpoint_dir)
    for name, digest in current.items():
        recorded = manifest.source.get(name)
        if recorded != digest:
            raise EngineError(
                f"stale engine in {directory}: it was exported from {name} sha256 {str(recorded)[:12]}..., the "
                f"checkpoint's {name} is now sha256 {digest[:12]}...; refusing to run graphs of other weights; {fix}")
    for stage in stages:
        entry = manifest.stages.get(stage)
        if entry is None:
            raise EngineError(f"{directory}: manifest has no stage {stage!r}; {fix}")
        for name, digest in entry.files.items():
            path = directory / name
            if not path.is_file():
                raise EngineError(f"{path}: missing file of stage {stage!r}; {fix}")
            if sha256_file(path) != digest:
                raise EngineError(f"{path}: file of stage {stage!r} does not match its manifest hash (damaged or "
                                  f"replaced); {fix}")
    return directory, manifest


def check_prompt_length(checkpoint_dir: str | os.PathLike, kind: str, precision: str, manifest: EngineManifest,
                        prompt_cache: Any) -> None:
    """The graphs have a static prompt length: the checkpoint's prompt cache must still have it."""
    if prompt_cache is not None and len(prompt_cache) and prompt_cache.shape[0] != manifest.prompt_length:
        raise EngineError(f"{engine_dir(checkpoint_dir, kind, precision)}: exported for prompts of "
                          f"{manifest.prompt_length} tokens, the checkpoint's prompt cache holds {prompt_cache.shape[0]};"
                          f" re-export with `{export_command(checkpoint_dir, kind, precision)}`")
