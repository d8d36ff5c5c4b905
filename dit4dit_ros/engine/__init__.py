"""Inference backends behind one interface (`PolicyEngine`); `make_engine` picks one by name.

Only the interface and the factory are imported here: a backend (torch, onnxruntime, tensorrt) is imported when
`make_engine` is asked for it.
"""
from dit4dit_ros.engine.base import PolicyEngine, PolicyNoise, PolicyOutput, UnknownInstructionError
from dit4dit_ros.engine.factory import ENGINE_KINDS, make_engine

__all__ = ["ENGINE_KINDS", "PolicyEngine", "PolicyNoise", "PolicyOutput", "UnknownInstructionError", "make_engine"]
