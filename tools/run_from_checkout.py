#!/usr/bin/env python
"""Runs one `liveavatar` verb from a source checkout that is not pip-installed (e.g. a GPU box, no network).

    python tools/run_from_checkout.py bench --preset lite --device cuda --json

The pip install maps engines/ to liveavatar.engines (pyproject's package-dir); here the same mapping is
registered by hand before anything imports it. Only the named verb's module is imported, so verbs whose
dependencies are missing on that machine (mediapipe, safetensors, Qt) do not stop this one.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAPPED = {"liveavatar.engines": ROOT / "engines", "liveavatar.ui": ROOT / "ui"}


def bootstrap() -> None:
    """Makes `liveavatar` (and its mapped subpackages) import from this checkout."""
    sys.path.insert(0, str(ROOT))
    import liveavatar

    for name, folder in MAPPED.items():
        init = folder / "__init__.py"
        if name in sys.modules or not init.is_file():
            continue
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(folder)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
        setattr(liveavatar, name.rsplit(".", 1)[1], module)


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(__doc__, file=sys.stderr)
        return 2
    bootstrap()
    from liveavatar.errors import LiveAvatarError

    verb = argv[0]
    module = importlib.import_module(f"liveavatar.commands.{verb.replace('-', '_')}")
    parser = argparse.ArgumentParser(prog="liveavatar")
    sub = parser.add_subparsers(dest="command", required=True)
    module.register(sub)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except LiveAvatarError as exc:
        print(f"liveavatar {verb}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
