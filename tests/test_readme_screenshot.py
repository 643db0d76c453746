"""tools/readme_screenshot.py: the README's picture of the app, remade by one command (here with 2 of its 6
avatars), in its own temporary data folder; and its one-line error when the real portraits are absent."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "readme_screenshot.py"


def load_tool():
    spec = importlib.util.spec_from_file_location("readme_screenshot", TOOL)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    return tool


@pytest.mark.slow
def test_screenshot_of_two_avatars_shows_the_driven_portrait(tmp_path, portraits):
    pytest.importorskip("PySide6")
    import cv2

    out = tmp_path / "shot.png"
    temp, xdg = tmp_path / "temp", tmp_path / "xdg"
    temp.mkdir()
    # The user's folders, moved here: the tool must write none of them (its data folder is a temporary one).
    env = dict(os.environ, TMPDIR=str(temp), HOME=str(xdg / "home"), XDG_DATA_HOME=str(xdg / "data"))
    env["XDG_CONFIG_HOME"] = str(xdg / "config")
    env.pop("LIVEAVATAR_DATA_DIR", None)
    result = subprocess.run(
        [sys.executable, str(TOOL), "--out", str(out), "--portraits", str(portraits), "--avatars", "2",
         "--after-frames", "10"],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {out} (1280×720" in result.stdout
    assert "2/2" in result.stderr  # the progress bar over the avatars it built
    assert "Traceback" not in result.stderr
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (720, 1280)  # the window's size in screenshot mode
    # The avatar pane (right of the camera view, above the status line) shows the portrait, not black.
    pane = image[150:380, 560:760].astype(float)
    assert pane.mean() > 35 and pane.std() > 25, (pane.mean(), pane.std())
    assert not list(temp.glob("liveavatar-readme-*")), "the temporary data folder was left behind"
    # (ONNX Runtime's and matplotlib's caches may land in the home folder; the app's folders must not.)
    written = [p.relative_to(xdg) for p in xdg.rglob("*") if p.is_file()]
    assert not [p for p in written if p.parts[0] != "home" or "liveavatar" in str(p).lower()], written


def test_absent_portraits_are_one_line(tmp_path, capsys):
    code = load_tool().main(["--portraits", str(tmp_path / "nowhere"), "--out", str(tmp_path / "shot.png")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "portraits folder" in err and "--portraits DIR" in err
    assert not (tmp_path / "shot.png").exists()
