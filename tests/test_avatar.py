"""Avatar build → save → load on real portraits, and every bad input the `avatar` command can meet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from liveavatar.avatar import load_avatar, save_avatar
from liveavatar.cli import main
from liveavatar.config import PRESETS
from liveavatar.engines.embedder import build_avatar
from liveavatar.errors import AvatarError, InputError, NoFaceError
from liveavatar.models.checkpoint import save_checkpoint
from liveavatar.models.talking_head import TalkingHead


@pytest.fixture(scope="module")
def checkpoint_path(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["tiny"], num_videos=2))
    return path


def test_build_save_load_round_trip(portraits, checkpoint, tmp_path):
    steps = []
    avatar = build_avatar(
        [portraits / "painting_mona_lisa.jpg"], checkpoint, progress=lambda what, f: steps.append((what, f))
    )
    s = PRESETS["tiny"].image_size
    assert avatar.psi.shape == (checkpoint.model.psi_size,) and np.isfinite(avatar.psi).all()
    assert avatar.crop.shape == (s, s, 3) and avatar.crop.dtype == np.uint8
    assert avatar.landmarks.shape == (68, 2)
    assert (avatar.landmarks >= 0).all() and (avatar.landmarks < s).all()
    assert avatar.thumbnail.shape == (128, 128, 3)
    assert steps[-1] == ("done", 1.0) and [f for _, f in steps] == sorted(f for _, f in steps)
    path = save_avatar(avatar, tmp_path / "mona.avatar")
    loaded = load_avatar(path, checkpoint_sha256=checkpoint.sha256)
    np.testing.assert_array_equal(loaded.psi, avatar.psi)
    np.testing.assert_array_equal(loaded.crop, avatar.crop)
    assert loaded.portrait.shape == avatar.portrait.shape
    assert loaded.name == "painting_mona_lisa" and not loaded.is_finetuned
    # ψ stored in the avatar is what the model computes from the crop: G gives the same frame from either.
    assert float(np.abs(loaded.portrait.astype(int) - avatar.portrait.astype(int)).mean()) < 3  # JPEG


def test_several_portraits_average_the_embedding(portraits, checkpoint):
    one = build_avatar([portraits / "photo_barack_obama.jpg"], checkpoint)
    two = build_avatar([portraits / "photo_barack_obama.jpg", portraits / "photo_joe_biden.jpg"], checkpoint)
    other = build_avatar([portraits / "photo_joe_biden.jpg"], checkpoint)
    with torch.no_grad():
        p = checkpoint.model.projection.matrix.weight  # ψ = P·ê is linear, so ψ of the mean is the mean of ψ
    assert p.shape[0] == one.psi.size
    np.testing.assert_allclose(two.psi, (one.psi + other.psi) / 2, rtol=1e-4, atol=1e-5)


def test_avatar_from_another_checkpoint_is_refused(portraits, checkpoint, tmp_path):
    avatar = build_avatar([portraits / "photo_grace_hopper.jpg"], checkpoint)
    path = save_avatar(avatar, tmp_path / "hopper.avatar")
    with pytest.raises(AvatarError, match="was built with checkpoint .* rebuild it"):
        load_avatar(path, checkpoint_sha256="0" * 64)


def test_corrupt_avatar_file(tmp_path):
    bad = tmp_path / "bad.avatar"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(AvatarError, match="bad.avatar"):
        load_avatar(bad)


def test_no_face_is_a_clear_error(portraits, checkpoint):
    with pytest.raises(NoFaceError, match="painting_munch_the_scream.jpg"):
        build_avatar([portraits / "painting_munch_the_scream.jpg"], checkpoint)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file"),
        (b"this is text, not a picture", "not an image"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 64, "not an image"),
    ],
)
def test_cli_bad_inputs_give_one_line_and_leave_nothing(tmp_path, checkpoint_path, capsys, content, message):
    bad = tmp_path / "portrait.jpg"
    bad.write_bytes(content)
    out = tmp_path / "x.avatar"
    code = main(["avatar", str(bad), "-o", str(out), "--checkpoint", str(checkpoint_path)])
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert code == 2
    assert len(errors) == 1 and "portrait.jpg" in errors[0] and message in errors[0]
    assert not list(tmp_path.glob("x.avatar*"))


def test_cli_no_face_and_missing_file(tmp_path, portraits, checkpoint_path, capsys):
    out = tmp_path / "scream.avatar"
    assert main(["avatar", str(portraits / "painting_munch_the_scream.jpg"), "-o", str(out),
                 "--checkpoint", str(checkpoint_path)]) == 2  # fmt: skip
    assert "no face found in painting_munch_the_scream.jpg" in capsys.readouterr().err
    assert main(["avatar", str(tmp_path / "missing.png"), "-o", str(out), "--checkpoint", str(checkpoint_path)]) == 2
    assert "missing.png: no such file" in capsys.readouterr().err
    assert not list(tmp_path.glob("*.avatar*"))


def test_cli_builds_from_a_painting(tmp_path, portraits, checkpoint_path, capsys):
    out = tmp_path / "van_gogh.avatar"
    code = main(["avatar", str(portraits / "painting_van_gogh_self_portrait_1889.jpg"), "-o", str(out),
                 "--checkpoint", str(checkpoint_path)])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    stdout = capsys.readouterr().out
    assert "found with" in stdout  # the retry that found the face is reported
    assert load_avatar(out).preset == "tiny"
    assert main(["avatar", str(portraits / "painting_mona_lisa.jpg"), "-o", str(out),
                 "--checkpoint", str(checkpoint_path)]) == 2  # fmt: skip
    assert "already exists" in capsys.readouterr().err


def test_read_image_rejects_a_folder(tmp_path):
    from liveavatar.files.imageio import read_image

    with pytest.raises(InputError, match="is a folder"):
        read_image(tmp_path)


def test_cli_output_is_free_of_mediapipe_native_logging(tmp_path, portraits, checkpoint_path):
    """mediapipe's C++ warnings (XNNPACK, feedback manager, NORM_RECT) go to fd 2 before absl logging is set
    up; users should see only our lines. Runs in a subprocess: only there is fd 2 a real stderr."""
    import subprocess
    import sys

    out = tmp_path / "mona.avatar"
    portrait = portraits / "painting_mona_lisa.jpg"
    command = ["avatar", str(portrait), "-o", str(out), "--checkpoint", str(checkpoint_path)]
    proc = subprocess.run(
        [sys.executable, "-m", "liveavatar.cli", *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    for noise in ("XNNPACK", "inference_feedback_manager", "NORM_RECT", "absl::InitializeLog"):
        assert noise not in proc.stderr
    assert "wrote" in proc.stdout
