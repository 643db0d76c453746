"""Shared fixtures. Real media comes from ../shared/data (never copied into the repo)."""

from __future__ import annotations

import os
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

# Qt tests run on the offscreen platform; set before any test imports PySide6.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The C2PA signing key is made on first use in the config folder: tests make theirs in a folder of their own,
# never in the user's (liveavatar/provenance/config_dir.py).
os.environ.setdefault("LIVEAVATAR_CONFIG_DIR", tempfile.mkdtemp(prefix="liveavatar-test-config-"))

SHARED_DATA = Path(os.environ.get("LIVEAVATAR_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "MANIFEST.tsv").is_file():
        pytest.skip(f"real media folder {SHARED_DATA} is absent (set LIVEAVATAR_SHARED_DATA to point at it)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def portraits(shared_data: Path) -> Path:
    return shared_data / "portraits"


@pytest.fixture(scope="session")
def driving(shared_data: Path) -> Path:
    return shared_data / "driving"


@pytest.fixture(scope="session")
def checkpoint_path(tmp_path_factory) -> Path:
    """A tiny-preset checkpoint with random weights (seed 0, no discriminator): fast, for tests of the
    plumbing rather than of the pictures. Shared by every test module; none of them writes to it."""
    import torch

    from liveavatar.config import PRESETS
    from liveavatar.models.checkpoint import save_checkpoint
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["tiny"], num_videos=2, discriminator=False))
    return path


@pytest.fixture(scope="module")
def checkpoint(checkpoint_path):
    """The tiny checkpoint, loaded once per module (without its discriminator)."""
    from liveavatar.models.checkpoint import load_checkpoint

    return load_checkpoint(checkpoint_path, discriminator=False)


def free_port() -> int:
    """A local TCP port nothing listens on now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], bool], timeout: float = 30.0) -> None:
    """Polls predicate until it holds or timeout seconds pass, then asserts it (a worker thread's work)."""
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert predicate()


@pytest.fixture(scope="session")
def warp_checkpoint_path(tmp_path_factory) -> Path:
    """A warp-tiny checkpoint with random weights (seed 0, no discriminator): the live path of the `warp`
    presets (spline warp, G, composite) at 64 px. Built through TalkingHead, never by hand, so it follows
    the model's changes. Shared by every test module; none of them writes to it."""
    import torch

    from liveavatar.config import PRESETS
    from liveavatar.models.checkpoint import save_checkpoint
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("warp_ckpt") / "warp-tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["warp-tiny"], num_videos=2, discriminator=False))
    return path


def read_rgb(path: Path) -> np.ndarray:
    """Reads an image file as H×W×3 uint8 RGB (tests' own helper; the app uses liveavatar.files.imageio)."""
    import cv2

    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert bgr is not None, f"cannot read {path}"
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def track_driver_points(path: Path, limit: int = 150) -> np.ndarray:
    """N×68×3 driver points (retarget.driver_points) of the frames of a clip that mediapipe tracks in video
    mode, up to `limit` of them."""
    import cv2

    from liveavatar.landmarks.retarget import driver_points
    from liveavatar.landmarks.tracker import FaceTracker

    capture = cv2.VideoCapture(str(path))
    frames = []
    with FaceTracker("video", max_faces=1) as tracker:
        while len(frames) < limit:
            ok, bgr = capture.read()
            if not ok:
                break
            result = tracker.track(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            if result.landmarks is not None:
                frames.append(driver_points(result.landmarks))
    capture.release()
    return np.array(frames)
