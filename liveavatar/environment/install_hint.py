"""The pip command that installs an optional extra, worded for how this copy of LiveAvatar was installed.

    pip_install("ui")   # "pip install -e '.[ui]'" in a checkout installed with -e (run from its folder),
                        # "pip install -e '/src/liveavatar[ui]'" from elsewhere,
                        # "pip install 'liveavatar[ui]'" when it came from a package index

A checkout is recognised by the pyproject.toml beside the package (an editable install or PYTHONPATH
runs the code in place); otherwise pip's own record, the distribution's direct_url.json (PEP 610),
names the folder of a `pip install FOLDER`, and an install from an index has none.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

DISTRIBUTION = "liveavatar"


def install_source() -> tuple[str, Path | None]:
    """("checkout" | "folder" | "index", the folder to install from, or None for the index)."""
    from importlib import metadata

    tree = Path(__file__).resolve().parents[1]
    if (tree / "pyproject.toml").is_file():
        # The code runs from a source tree (an editable install, or PYTHONPATH): pip's record would be
        # the wrong witness here, since a stale egg-info in the tree has none.
        return "checkout", tree
    try:
        text = metadata.distribution(DISTRIBUTION).read_text("direct_url.json")
        record = json.loads(text) if text else {}
    except (metadata.PackageNotFoundError, ValueError):
        record = {}
    url = urlparse(record.get("url", ""))
    if url.scheme == "file" and Path(unquote(url.path)).is_dir():
        return "folder", Path(unquote(url.path))  # `pip install /some/checkout` (not editable)
    return "index", None


def pip_install(extra: str) -> str:
    """The one-line command that adds `extra` (e.g. "ui", "vcam") to this installation."""
    kind, folder = install_source()
    if folder is None:
        return f"pip install '{DISTRIBUTION}[{extra}]'"
    where = "." if Path.cwd().resolve() == folder else str(folder)
    return f"pip install {'-e ' if kind == 'checkout' else ''}'{where}[{extra}]'"
