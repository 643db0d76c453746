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
