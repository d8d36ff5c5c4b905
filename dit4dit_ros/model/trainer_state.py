"""The trainer's own state (optimizer, scheduler, RNGs, step) on disk, loadable without running pickle code.

`torch.load(weights_only=False)` executes whatever a crafted file tells the unpickler to (a trainer_state.pt
from a download or a shared drive is enough to run code). The state is therefore written as tensors and
plain Python values only and read with `weights_only=True`; numpy's and Python's RNG states, which are
numpy arrays and tuples, are stored as tensors.
"""
from __future__ import annotations

import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain Python values only, so that the file loads without pickle code
    (`torch.load(weights_only=True)`)."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    version, internal, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"kind": str(kind), "keys": torch.from_numpy(np.asarray(keys, np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "python": {"version": int(version), "internal": torch.tensor(internal, dtype=torch.int64),
                   "gauss_next": gauss_next},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    numpy_state, python_state = state["numpy"], state["python"]
    if isinstance(numpy_state, dict):
        np.random.set_state((numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                             numpy_state["has_gauss"], numpy_state["cached_gaussian"]))
    else:  # files written before the pickle-free format: numpy's own tuple
        np.random.set_state(numpy_state)
    if isinstance(python_state, dict):
        internal = tuple(int(v) for v in python_state["internal"].tolist())
        random.setstate((python_state["version"], internal, python_state["gauss_next"]))
    else:
        random.setstate(python_state)
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


# What trainer_state.pt files written before the pickle-free RNG format hold besides tensors and plain data:
# numpy's RNG state (an ndarray of uint32). Rebuilding an ndarray runs no code of the file's choosing.
_LEGACY_SAFE_GLOBALS = [np._core.multiarray._reconstruct, np.ndarray, np.dtype, type(np.dtype(np.uint32))]


def load_trainer_state(path: Path) -> dict[str, Any]:
    """trainer_state.pt without unpickling code: tensors and plain Python data only (`weights_only=True`), plus
    numpy's RNG array for files of the older format. Anything else is a ValueError naming the file."""
    with torch.serialization.safe_globals(_LEGACY_SAFE_GLOBALS):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as exc:
            detail = _unpickler_detail(str(exc))
            if "global" not in detail.lower():
                raise ValueError(f"{path}: not a readable trainer state ({detail})") from None
            raise ValueError(f"{path}: refused: it holds Python objects other than tensors and plain data, which "
                             f"loading would have to run as code ({detail}); a file written by `dit4dit train` "
                             "never does: do not use it") from None
        except (RuntimeError, EOFError, OSError) as exc:
            raise ValueError(f"{path}: not a readable trainer state ({type(exc).__name__}: {exc})") from None
    missing = [k for k in ("step", "optimizer", "scheduler", "rng") if not isinstance(state, dict) or k not in state]
    if missing:
        raise ValueError(f"{path}: not a trainer state written by `dit4dit train` (missing {missing})")
    return state


def _unpickler_detail(message: str) -> str:
    """The line of torch's weights_only error that says what was found (its other lines are boilerplate)."""
    boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation", "WeightsUnpickler")
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(boilerplate)]
    return (useful or lines or ["unknown error"])[0][:300]
