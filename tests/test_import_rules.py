"""The layers point one way, and the core stays light (docs/ARCHITECTURE.md, "Layout and dependency direction").

    cli, commands ──► ui ──► engines ──► core;   inside the core's live path: pipeline ──► capture, sinks ──► live

Checked two ways: a fresh interpreter imports the whole runtime core and must not have loaded PySide6,
onnxruntime, mediapipe or torch (they load lazily, inside the function that needs them); and every
import statement of the package as it installs (engines/ and ui/ under liveavatar), also those inside
functions, is read from the source (ast) and checked against the arrows above: none points up a layer, and
the modules' graph has no circle. Imports under `if TYPE_CHECKING:` are names for the type checker only
(never executed), so they are not arrows of the running program.
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


def _import_statements(tree: ast.AST, package: str, skip: frozenset[int] | set[int] = frozenset()):
    """(base, names) of every import statement in the tree (absolute or relative, at any depth) but the nodes
    in skip: `import a.b` is ("a.b", []), `from .x import y, z` in package p is ("p.x", ["y", "z"])."""
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, []
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            yield base, [alias.name for alias in node.names]


def _imports(path: Path, package: str) -> set[str]:
    """Every module an import statement in the file names (absolute or relative), at any depth."""
    found: set[str] = set()
    for base, names in _import_statements(ast.parse(path.read_text(encoding="utf-8")), package):
        found.add(base)
        found.update(f"{base}.{name}" for name in names)
    return found


def _all_files() -> dict[str, Path]:
    files = {_module_name(p, CORE, "liveavatar"): p for p in CORE.rglob("*.py")}
    files.update({_module_name(p, ROOT / "engines", "liveavatar.engines"): p for p in (ROOT / "engines").rglob("*.py")})
    files.update({_module_name(p, ROOT / "ui", "liveavatar.ui"): p for p in (ROOT / "ui").rglob("*.py")})
    return files


def _runtime_imports(name: str, path: Path, files: dict[str, Path]) -> set[str]:
    """The package's modules this one imports when it runs (lazy imports included, `if TYPE_CHECKING:`
    blocks left out), each as the module it names: `from a import b` is a.b when b is a module, else a."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = {
        id(inner)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for inner in ast.walk(statement)
    }
    found: set[str] = set()
    for base, names in _import_statements(tree, _package_of(name, path), type_only):
        found.update(f"{base}.{a}" if f"{base}.{a}" in files else base for a in names or [""])
    modules = set()
    for imported in found:
        while imported and imported not in files:
            imported = imported.rpartition(".")[0]
        if imported and imported != name:
            modules.add(imported)
    return modules


def _layer(name: str) -> int:
    """0 the core, 1 engines, 2 the app, 3 the command line (cli, its verbs, `python -m liveavatar`)."""
    if any(_names_prefix(name, top) for top in ("liveavatar.cli", "liveavatar.commands", "liveavatar.__main__")):
        return 3
    if _names_prefix(name, "liveavatar.ui"):
        return 2
    if _names_prefix(name, "liveavatar.engines"):
        return 1
    return 0


def _import_graph() -> dict[str, set[str]]:
    files = _all_files()
    return {name: _runtime_imports(name, path, files) for name, path in files.items()}


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The graph's strongly connected components of more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, successors = work[-1]
            following = next(successors, None)
            if following is not None:
                if following not in index:
                    index[following] = low[following] = len(index)
                    stack.append(following)
                    on_stack.add(following)
                    work.append((following, iter(sorted(graph[following]))))
                elif following in on_stack:
                    low[node] = min(low[node], index[following])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    circles.append(sorted(component))
    return circles


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
        if name in UI_ENTRY_POINTS or _names_prefix(name, "liveavatar.ui"):  # the app's own modules
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


def test_no_import_points_up_a_layer():
    """The core never reaches engines, the app or the command line; engines never reach the app. Whoever
    needs an engine's work in the core is handed it (the embedder to build_avatar, the engine factory to
    the runner)."""
    graph = _import_graph()
    assert {"liveavatar.avatar", "liveavatar.environment.health", "liveavatar.ui.main_window"} <= graph.keys()
    offenders = [
        f"{name} imports {imported}"
        for name, imported_modules in graph.items()
        for imported in sorted(imported_modules)
        if _layer(imported) > _layer(name)
    ]
    assert offenders == []


def test_the_package_has_no_import_circle():
    circles = _circles(_import_graph())
    assert circles == [], f"modules that import each other, directly or through others: {circles}"


def test_the_rule_readers_find_what_they_look_for(tmp_path):
    # The two checks above would pass vacuously if the readers missed an arrow or a circle: pin that they do not.
    files = {"liveavatar.a": tmp_path / "a.py", "liveavatar.engines.b": tmp_path / "b.py"}
    files["liveavatar.a"].write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from liveavatar.ui import x\n"
        "def f():\n    from liveavatar.engines import b\n"
    )
    found = _runtime_imports("liveavatar.a", files["liveavatar.a"], files)
    assert found == {"liveavatar.engines.b"} and _layer("liveavatar.engines.b") > _layer("liveavatar.a")
    assert _circles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _circles({"a": {"b"}, "b": set()}) == []


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


def test_the_house_keeps_its_sizes():
    """Where the next changes land stays small enough to read (issue 23): at most ten loose modules at the top
    of the core (the rest sit in packages that say what they are), no module over 650 lines, and a main
    window that only lays out and wires (its parts take callbacks) in at most 400 lines."""
    loose = sorted(p.name for p in CORE.glob("*.py") if p.name != "__init__.py")
    assert len(loose) <= 10, loose
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _all_files().items()}
    assert {name: n for name, n in sizes.items() if n > 650} == {}
    tree = ast.parse((ROOT / "ui" / "main_window.py").read_text(encoding="utf-8"))
    window = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "MainWindow")
    assert window.end_lineno is not None and window.end_lineno - window.lineno + 1 <= 400
