"""The layers point one way, and the core stays light (docs/ARCHITECTURE.md, "Layout and dependency direction").

    ui ──► engines ──► core;   inside the core's live path: pipeline ──► capture, sinks ──► live (vocabulary)

Checked two ways: a fresh interpreter imports the whole runtime core and must not have loaded PySide6,
onnxruntime, mediapipe or torch (they load lazily, inside the function that needs them); and every
import statement in the package, also those inside functions, is read from the source (ast) and checked
against the arrows above.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "liveavatar"
# c2pa and cryptography: only when a file is signed or checked (liveavatar/provenance).
HEAVY = ("PySide6", "onnxruntime", "mediapipe", "torch", "c2pa", "cryptography")
# The trainer and the torch model classes are torch by definition (the `train` extra).
TORCH_SIDE = ("liveavatar.training", "liveavatar.models.")
TORCH_FREE_MODELS = ("liveavatar.models.checkpoint", "liveavatar.models.adain_layout")
# The app's entry points: the verbs that start or check the desktop app.
UI_ENTRY_POINTS = {"liveavatar.commands.app", "liveavatar.commands.doctor"}


def _module_name(path: Path, root: Path, package: str) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join((package, *parts))


def _core_modules() -> list[str]:
    names = [_module_name(p, CORE, "liveavatar") for p in sorted(CORE.rglob("*.py"))]
    return [n for n in names if not n.startswith(TORCH_SIDE) or n in TORCH_FREE_MODELS]


def _imports(path: Path, package: str) -> set[str]:
    """Every module an import statement in the file names (absolute or relative), at any depth."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


def _all_files() -> dict[str, Path]:
    files = {_module_name(p, CORE, "liveavatar"): p for p in CORE.rglob("*.py")}
    files.update({_module_name(p, ROOT / "engines", "liveavatar.engines"): p for p in (ROOT / "engines").rglob("*.py")})
    return files


def _package_of(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _names_prefix(imported: str, prefix: str) -> bool:
    return imported == prefix or imported.startswith(prefix + ".")


def test_the_runtime_core_imports_no_heavy_runtime_at_import_time():
    modules = _core_modules()
    assert "liveavatar.pipeline.runner" in modules and "liveavatar.sinks.record" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [], f"imported at import time by the core: {done.stdout}"


def test_only_the_apps_entry_points_import_the_ui():
    offenders = []
    for name, path in _all_files().items():
        if name in UI_ENTRY_POINTS:
            continue
        for imported in _imports(path, _package_of(name, path)):
            if _names_prefix(imported, "liveavatar.ui") or imported == "ui" or imported.startswith("ui."):
                offenders.append(f"{name} imports {imported}")
    assert offenders == []


def test_no_upward_imports_between_the_pipeline_its_sources_and_sinks():
    below = {
        # module prefix: what it must not import (anything above it)
        "liveavatar.live": ("liveavatar.pipeline", "liveavatar.capture", "liveavatar.sinks", "liveavatar.engines"),
        "liveavatar.capture": ("liveavatar.pipeline", "liveavatar.sinks", "liveavatar.engines"),
        "liveavatar.sinks": ("liveavatar.pipeline", "liveavatar.capture", "liveavatar.engines"),
    }
    offenders = []
    checked = 0
    for name, path in _all_files().items():
        for layer, forbidden in below.items():
            if not _names_prefix(name, layer):
                continue
            checked += 1
            for imported in _imports(path, _package_of(name, path)):
                if any(_names_prefix(imported, up) for up in forbidden):
                    offenders.append(f"{name} imports {imported}")
    assert checked >= 10  # the live vocabulary, capture and every sink module were read
    assert offenders == []


def test_the_import_reader_sees_imports_inside_functions(tmp_path):
    # The rule checks above would pass vacuously if the reader missed lazy imports: pin that it does not.
    source = tmp_path / "m.py"
    source.write_text("def f():\n    from liveavatar.pipeline.runner import Runner\n    from . import base\n")
    found = _imports(source, "liveavatar.sinks")
    assert "liveavatar.pipeline.runner" in found and "liveavatar.sinks.base" in found


def test_the_apps_module_map_names_every_module():
    """ui/__init__.py is the map of the app; a module missing from it is a module nobody finds."""
    ui = ROOT / "ui"
    text = (ui / "__init__.py").read_text(encoding="utf-8")
    modules = [p.name for p in sorted(ui.glob("*.py")) if p.name != "__init__.py"]
    assert len(modules) >= 10
    assert [name for name in modules if name not in text] == []
