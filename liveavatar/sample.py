"""The built-in sample portrait: the public-domain photo of Grace Hopper that matplotlib ships as sample
data. `liveavatar demo` drives it, and the app offers it as a one-click first avatar."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from liveavatar.errors import InputError

SAMPLE_NAME = "Grace Hopper"
SAMPLE_FILE = "grace_hopper.jpg"


def sample_portrait() -> Path:
    """The sample's path, found without importing matplotlib (cheap enough for a GUI thread)."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = Path(folder) / "mpl-data" / "sample_data" / SAMPLE_FILE
            if path.is_file():
                return path
    raise InputError(
        f"the sample portrait ({SAMPLE_FILE}, shipped with matplotlib) is not installed: "
        "pip install matplotlib, or add a portrait of your own"
    )
