"""THE description of the machine a figure was measured on (`run --stats-json`, `bench --json`).

One function so every measured figure names its machine the same way. Light: it reads versions from
package metadata and asks torch only when something already imported it (the ONNX Runtime path never does).
"""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any


def available_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def describe_machine(device: str = "cpu") -> dict[str, Any]:
    """System, CPU, cores, load, library versions; the GPU when torch is loaded and sees one (its CUDA
    settings too when device is "cuda")."""
    torch = sys.modules.get("torch")  # only when a torch engine ran
    gpu = torch is not None and bool(torch.cuda.is_available())
    info: dict[str, Any] = {
        "system": f"{platform.system()} {platform.release()}",
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "torch_threads": torch.get_num_threads() if torch else None,
        "python": platform.python_version(),
        "torch": torch.__version__ if torch else None,
        "numpy": _version("numpy"),
        "onnxruntime": _version("onnxruntime") or _version("onnxruntime-gpu"),
        "load_average_1min": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "gpu": torch.cuda.get_device_name(0) if torch is not None and gpu else None,
    }
    if device == "cuda" and torch is not None and gpu:
        info["cuda"] = torch.version.cuda
        info["cudnn_benchmark"] = torch.backends.cudnn.benchmark
        info["tf32_convolutions"] = torch.backends.cudnn.allow_tf32
    return info
