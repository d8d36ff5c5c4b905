"""What this installation and machine provide: component versions and inference backends."""
from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import platform
from pathlib import Path

_DISTRIBUTIONS = (
    "torch", "diffusers", "transformers", "safetensors", "onnxruntime", "onnx", "mujoco",
    "unitree-sdk2py-dimos", "cyclonedds", "ros-rclpy", "rosbags", "pyarrow", "av", "tensorrt",
)


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def collect_info() -> dict:
    """Versions and capabilities; imports torch only to ask about CUDA."""
    import dit4dit_ros
    from dit4dit_ros.paths import shared_dir

    info: dict = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": {d: _version(d) for d in _DISTRIBUTIONS},
        "package": str(Path(dit4dit_ros.__file__).resolve().parent),
    }
    for kind in ("config", "models"):  # where an installed package finds its data files (paths.py)
        try:
            info[f"{kind}_dir"] = str(shared_dir(kind))
        except FileNotFoundError as exc:
            info[f"{kind}_dir"] = f"MISSING: {exc}"
    try:
        import torch

        info["cuda"] = torch.cuda.is_available()
        info["cuda_device"] = torch.cuda.get_device_name(0) if info["cuda"] else None
    except ImportError:
        info["cuda"] = False
        info["cuda_device"] = None
    info["tensorrt"] = importlib.util.find_spec("tensorrt") is not None and info["cuda"]
    from dit4dit_ros.utils.realtime import realtime_available

    info["realtime"], info["realtime_detail"] = realtime_available()
    return info


def format_info(info: dict, as_json: bool = False) -> str:
    if as_json:
        return json.dumps(info, indent=2, sort_keys=True)
    lines = [f"python {info['python']} ({info['machine']})", f"package {info['package']}",
             f"config  {info['config_dir']}", f"models  {info['models_dir']}"]
    lines += [f"  {name:22s} {ver or '-'}" for name, ver in info["versions"].items()]
    lines.append(f"cuda: {info['cuda_device'] or 'no'}   tensorrt usable: {'yes' if info['tensorrt'] else 'no'}")
    lines.append(f"real-time scheduling: {'yes' if info['realtime'] else 'no'} ({info['realtime_detail']})")
    return "\n".join(lines)
