"""mypy over the package as it installs: the core with engines/ and ui/ at liveavatar.engines and liveavatar.ui.

setuptools' package-dir puts engines/ and ui/ under `liveavatar` when the package is installed; mypy reads
folders, not import hooks, so run on the checkout it would see them as top-level `engines` and `ui` (or not at
all) and every `liveavatar.engines.X` type as missing. This script builds the installed layout from symlinks
in .mypy_cache/installed-layout/ (rebuilt each run, so new modules are in), runs mypy there with the
repository's config (pyproject.toml [tool.mypy]: the flags and the shrink-only baseline) and prints its
messages with the checkout's paths (engines/…, ui/…). Exit status: mypy's, and 1 when the baseline names a
module that does not exist (mypy merely notes it). `.ci/run` calls it; extra arguments go to mypy.

    python3 tools/typecheck.py
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Installed name → folder in the checkout, as pyproject.toml's package-dir says.
MOUNTED = {"engines": ROOT / "engines", "ui": ROOT / "ui"}


def build_layout(into: Path) -> Path:
    """into/liveavatar: a symlink per entry of the core package, plus engines and ui where they install."""
    package = into / "liveavatar"
    if into.exists():
        shutil.rmtree(into)
    package.mkdir(parents=True)
    for entry in sorted((ROOT / "liveavatar").iterdir()):
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in MOUNTED.items():
        (package / name).symlink_to(folder)
    return into


def checkout_path(line: str) -> str:
    """liveavatar/engines/x.py:3: … → engines/x.py:3: … (the file to open); core paths stay as they are."""
    for name in MOUNTED:
        prefix = f"liveavatar/{name}/"
        if line.startswith(prefix):
            return f"{name}/{line[len(prefix) :]}"
    return line


def main(argv: list[str]) -> int:
    cache = ROOT / ".mypy_cache"
    layout = build_layout(cache / "installed-layout")
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += ["--cache-dir", str(cache), *argv]
    done = subprocess.run(command, cwd=layout, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        print(checkout_path(line))
    sys.stderr.write(done.stderr)
    if "unused section(s)" in done.stdout + done.stderr:  # mypy only notes it; a stale name hides nothing
        print("typecheck: remove the names above from the baseline in pyproject.toml (no such module)")
        return done.returncode or 1
    return done.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
