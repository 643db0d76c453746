"""PyTorch is optional: the everyday verbs run on ONNX Runtime; training, export and the PyTorch engines need it.

`import_torch(purpose)` is the one place that imports torch for a feature that cannot work without it, so
a missing torch is always one line naming what needed it and the install command, never a traceback.
`torch_version()` reads the installed version from package metadata without importing torch (which costs
seconds and is what the runtime avoids).
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType

from liveavatar.errors import LiveAvatarError

# The CPU line first: a plain `pip install -e '.[train]'` on Linux resolves torch from PyPI, the CUDA build
# (several GB) that a CPU machine cannot use (README, "PyTorch for training").
TORCH_EXTRA_HINT = (
    "pip install torch --index-url https://download.pytorch.org/whl/cpu && pip install -e '.[train]' "
    "(from a checkout; 'liveavatar[train]' from an index; without the first command Linux gets the multi-GB "
    "CUDA build)"
)


class TorchMissingError(LiveAvatarError):
    """A feature that needs PyTorch was asked for in an environment without it."""


def import_torch(purpose: str) -> ModuleType:
    """The torch module, or TorchMissingError saying that `purpose` needs it and how to install it."""
    try:
        import torch
    except ImportError as exc:
        raise TorchMissingError(
            f"{purpose} needs PyTorch, which is not installed; install the train extra: {TORCH_EXTRA_HINT} "
            "(README, 'PyTorch for training', has the CPU and CUDA builds)"
        ) from exc
    return torch


def torch_available() -> bool:
    """Whether torch can be imported here (imports it: call only where torch will be used next)."""
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def torch_version() -> str | None:
    """The installed torch's version from its package metadata (no import), or None when not installed."""
    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None
