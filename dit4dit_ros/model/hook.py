"""Capture one transformer block's output with a removable forward hook.

Why a hook and not a return value: the same capture works on diffusers' own `CosmosTransformer3DModel.forward`
(the reference the tests compare against) and on our truncated trunk, so both paths are measured the same way.
The hook lives only inside a `with` block and is removed in `finally`, so nothing leaks across calls even when
the forward raises. A lock serialises captures on one module: two threads sharing a model never see each
other's tensors.
"""
from __future__ import annotations

import threading
from types import TracebackType
from typing import Optional

import torch
from torch import nn


class BlockOutputCapture:
    """Context manager: while active, stores the output of `module`'s most recent forward call.

    `detach=True` stores a detached tensor (the action branch must not backpropagate into the video trunk).
    """

    def __init__(self, module: nn.Module, lock: threading.Lock, detach: bool = True) -> None:
        self._module = module
        self._lock = lock
        self._detach = detach
        self._handle: Optional[torch.utils.hooks.RemovableHandle] = None
        self._output: Optional[torch.Tensor] = None

    def _hook(self, module: nn.Module, args: tuple, output: torch.Tensor) -> None:
        if not isinstance(output, torch.Tensor):
            raise TypeError(f"hooked block returned {type(output).__name__}, expected a Tensor")
        self._output = output.detach() if self._detach else output

    def __enter__(self) -> "BlockOutputCapture":
        self._lock.acquire()
        try:
            self._output = None
            self._handle = self._module.register_forward_hook(self._hook)
        except BaseException:
            self._lock.release()
            raise
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        try:
            if self._handle is not None:
                self._handle.remove()
                self._handle = None
        finally:
            self._lock.release()

    @property
    def output(self) -> torch.Tensor:
        """The captured tensor; an error if the hooked block did not run inside the `with` block."""
        if self._output is None:
            raise RuntimeError("the hooked transformer block did not run: nothing was captured")
        return self._output

    @property
    def active(self) -> bool:
        return self._handle is not None
