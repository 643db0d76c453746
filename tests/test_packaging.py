"""The distribution ships every package of the source tree (editable installs hide a missing one)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _declared() -> tuple[set[str], dict[str, str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return set(config["packages"]), config["package-dir"]


def test_every_source_package_is_declared():
    packages, package_dir = _declared()
    on_disk = {
        ".".join((name, *init.parent.relative_to(ROOT / folder).parts))
        for name, folder in package_dir.items()
        for init in (ROOT / folder).rglob("__init__.py")
    }
    missing = sorted(p for p in on_disk if p not in packages)
    assert not missing, f"add these to [tool.setuptools] packages in pyproject.toml: {missing}"


def test_the_bundled_model_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["liveavatar.assets"]
    assert "*.safetensors" in patterns and "*.md" in patterns


def test_the_bundled_graphs_are_package_data():
    """The runtime has no PyTorch to export them with: a wheel without them could not build an avatar."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = config["package-data"]["liveavatar.assets"]
    from liveavatar.engines.bundled import graphs_dir

    folder = graphs_dir()
    assert folder is not None and folder.is_dir(), "no bundled model's graphs: run tools/export_bundled_graphs.py"
    shipped = sorted(p.relative_to(ROOT / "liveavatar" / "assets") for p in folder.iterdir())
    assert shipped, f"{folder} is empty: run tools/export_bundled_graphs.py"
    for path in shipped:
        # setuptools globs do not cross folders: "*.json" covers assets/x.json, not assets/lite-onnx/x.json.
        covered = any(path.match(p) and len(path.parts) == len(Path(p).parts) for p in patterns)
        assert covered, f"{path} is not covered by package-data {patterns}"


def test_torch_is_not_a_runtime_requirement():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = [r.split(">")[0].split("<")[0].split("=")[0].split("[")[0].strip().lower() for r in project["dependencies"]]
    assert "torch" not in names and "onnxscript" not in names
    assert any(r.startswith("torch") for r in project["optional-dependencies"]["train"])
    assert any("train" in r for r in project["optional-dependencies"]["dev"])


def test_the_type_check_sees_the_installed_layout(tmp_path):
    """tools/typecheck.py rebuilds package-dir's layout for mypy: every module lands under its installed name,
    and mypy's messages point back at the checkout's files."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("typecheck", ROOT / "tools" / "typecheck.py")
    typecheck = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(typecheck)
    _, package_dir = _declared()
    layout = typecheck.build_layout(tmp_path / "layout")
    for name, folder in package_dir.items():
        installed = layout.joinpath(*name.split("."))
        assert sorted(p.name for p in installed.glob("*.py")) == sorted(p.name for p in (ROOT / folder).glob("*.py"))
    assert (layout / "liveavatar" / "engines" / "health.py").resolve() == ROOT / "engines" / "health.py"
    assert typecheck.checkout_path("liveavatar/ui/session.py:3: error: x") == "ui/session.py:3: error: x"
    assert typecheck.checkout_path("liveavatar/capture.py:3: error: x") == "liveavatar/capture.py:3: error: x"
