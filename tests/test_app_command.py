"""`liveavatar app` / `python -m liveavatar`: argument checks, and the offscreen screenshot end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from liveavatar.cli import main


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--source", "/nonexistent/clip.mp4"], "source /nonexistent/clip.mp4 does not exist"),
        (["--avatar", "/nonexistent/a.avatar"], "avatar /nonexistent/a.avatar does not exist"),
        (["--checkpoint", "/nonexistent/c.safetensors"], "checkpoint /nonexistent/c.safetensors does not exist"),
        (["--engine", "warp-drive"], "engine 'warp-drive': choose one of auto"),
        (["--source", "webcam:x"], "the webcam index must be a number"),
        (["--after-frames", "0", "--screenshot", "x.png"], "--after-frames must be at least 1"),
    ],
)
def test_bad_arguments_are_one_line_errors(argv, message, capsys):
    assert main(["app", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liveavatar app: error: ") and message in err and err.count("\n") == 1


def test_no_display_is_a_clear_error_not_a_qt_abort(monkeypatch, capsys):
    for name in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "platform", "linux")
    assert main(["app"]) == 2
    assert "no display found" in capsys.readouterr().err


@pytest.mark.slow
def test_screenshot_of_the_live_window(tmp_path, portraits, driving):
    """The real window, offscreen, driven by a clip for 12 frames, saved as a PNG by `python -m liveavatar`."""
    pytest.importorskip("PySide6")
    import cv2
    import torch

    from liveavatar.avatar import save_avatar
    from liveavatar.config import PRESETS
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import load_checkpoint, save_checkpoint
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, TalkingHead(PRESETS["tiny"], num_videos=2), {})
    avatar = build_avatar([portraits / "painting_mona_lisa.jpg"], load_checkpoint(ckpt, discriminator=False))
    save_avatar(avatar, tmp_path / "mona.avatar")
    out = tmp_path / "shot.png"
    env = dict(os.environ, LIVEAVATAR_DATA_DIR=str(tmp_path / "data"), QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "liveavatar", "--source", str(driving / "lp_d0_man_greenscreen.mp4"),
         "--avatar", str(tmp_path / "mona.avatar"), "--checkpoint", str(ckpt), "--engine", "torch",
         "--screenshot", str(out), "--after-frames", "12"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"wrote {out}" in result.stdout
    image = cv2.imread(str(out))
    assert image is not None and image.shape[:2] == (720, 1280)
    assert not list(Path(tmp_path).glob("*.partial*"))
    # The live view is not blank: the camera side shows the clip's green screen.
    left = image[100:400, 40:360].reshape(-1, 3).astype(int)
    greenish = (left[:, 1] > left[:, 0] + 30) & (left[:, 1] > left[:, 2] + 30)
    assert greenish.mean() > 0.2


def test_relative_paths_reach_the_app_absolute(tmp_path, monkeypatch, driving):
    """The app remembers its source: a relative one failed when the app was next started from elsewhere."""
    pytest.importorskip("PySide6")
    import shutil

    import liveavatar.ui.app

    shutil.copy(driving / "lp_d0_man_greenscreen.mp4", tmp_path / "clip.mp4")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    seen = []
    monkeypatch.setattr(liveavatar.ui.app, "run_app", lambda options, **_: seen.append(options) or 0)
    assert main(["app", "--source", "clip.mp4"]) == 0
    assert seen[0].source == str(tmp_path / "clip.mp4")
