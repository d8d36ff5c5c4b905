"""Inference backends behind one interface (`PolicyEngine`); `make_engine` picks one by name.

Only the interface is imported here: backends import torch/onnxruntime/tensorrt lazily in `make_engine`.
"""
from dit4dit_ros.engine.base import ENGINE_KINDS, PolicyEngine, PolicyOutput, UnknownInstructionError, make_engine

__all__ = ["ENGINE_KINDS", "PolicyEngine", "PolicyOutput", "UnknownInstructionError", "make_engine"]
