"""The invisible watermark (liveavatar/provenance): on every Composer frame, found after real H.264
re-encodes (PyAV), a downscale, a crop and colour changes; never found on real unmarked footage."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from liveavatar.provenance.detect import THRESHOLD, WindowDetector, detect_image
from liveavatar.provenance.watermark import busy_mask, embed_watermark, frame_pattern


def _canvas(path, width=1280, height=720) -> np.ndarray:
    """A portrait fitted in a dark width×height canvas, like the Composer's portrait layout (RGB)."""
    from liveavatar.files.imageio import read_image

    image = read_image(path)
    h, w = image.shape[:2]
    s = min(width / w, height / h)
    nw, nh = int(w * s), int(h * s)
    canvas = np.full((height, width, 3), 20, np.uint8)
    x0, y0 = (width - nw) // 2, (height - nh) // 2
    canvas[y0 : y0 + nh, x0 : x0 + nw] = cv2.resize(image, (nw, nh), interpolation=cv2.INTER_AREA)
    return canvas


def _moving(base: np.ndarray, n: int) -> list[np.ndarray]:
    """n frames of base with a face-sized patch that moves and changes (a talking face's share of motion)."""
    frames = []
    for i in range(n):
        f = base.copy()
        dx = int(12 * np.sin(i / 4))
        f[300:420, 560 + dx : 720 + dx] = np.clip(f[300:420, 560 + dx : 720 + dx].astype(int) + (i % 5) * 4, 0, 255)
        frames.append(f)
    return frames


def _h264(frames: list[np.ndarray], size: tuple[int, int], bit_rate: int = 500_000) -> list[np.ndarray]:
    """Real H.264 (libx264 through PyAV) at bit_rate, resized to size (w, h) first; decoded back (RGB)."""
    import av

    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        stream.options = {"preset": "veryfast"}
        for f in frames:
            if (f.shape[1], f.shape[0]) != size:
                f = cv2.resize(f, size, interpolation=cv2.INTER_AREA)
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    buf.seek(0)
    with av.open(buf) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def _window_score(frames: list[np.ndarray]) -> float:
    detector = WindowDetector()
    for f in frames:
        detector.add(f)
    return detector.result().score


def _centre(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]


def test_the_composer_marks_every_frame_with_or_without_the_visible_mark(portraits):
    from liveavatar.live.spec import Background
    from liveavatar.pipeline.stages import Composer

    face = cv2.resize(_canvas(portraits / "painting_mona_lisa.jpg", 256, 256), (256, 256))
    composer = Composer(1280, 720)
    for ai_mark in (True, False):  # --no-ai-mark removes the visible mark only
        out = composer.compose(face, None, Background(kind="colour"), False, ai_mark)  # type: ignore[arg-type]
        assert detect_image(out).score >= THRESHOLD, ai_mark
    plain = np.full((720, 1280, 3), 20, np.uint8)
    plain[232:488, 512:768] = face
    assert detect_image(plain).score < THRESHOLD  # the same picture without the mark


def test_invisible_psnr_and_the_unmarked_picture_is_not_found(portraits):
    for name in ("painting_mona_lisa.jpg", "photo_rowan_atkinson.jpg"):
        if not (portraits / name).is_file():
            continue
        unmarked = _canvas(portraits / name)
        marked = embed_watermark(unmarked.copy())
        mse = float(((marked.astype(np.float64) - unmarked) ** 2).mean())
        assert 10 * np.log10(255**2 / mse) >= 42.0
        assert detect_image(marked).score >= THRESHOLD
        assert detect_image(unmarked).score < THRESHOLD


def _marked_on_its_own(image: np.ndarray) -> np.ndarray:
    """The mark worked out for this frame alone: the pattern at AMPLITUDE where busy_mask says, at
    AMPLITUDE_FLAT elsewhere, added and clipped to 0…255."""
    plus, minus, plus_busy, minus_busy = (p.astype(int) for p in frame_pattern(*image.shape[:2]))
    busy = busy_mask(image)[..., None] > 0
    return np.clip(image + np.where(busy, plus_busy - minus_busy, plus - minus), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("size", [(720, 1280), (301, 517)])  # and one not a multiple of the busy cells
def test_marking_frame_after_frame_equals_marking_each_frame_on_its_own(size):
    """embed_watermark keeps the last frame's strength per pixel and changes it only where the busy cells
    changed (the cost); every frame must still get exactly its own mark: a textured patch that comes, moves and
    goes, a flat frame, a busy one, saturated rows, two sizes in turn."""
    h, w = size
    rng = np.random.default_rng(3)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (h, w, 3), dtype=np.uint8), (0, 0), 8)
    frames = []
    for i in range(8):
        f = smooth.copy()
        x = 40 + 30 * i
        f[h // 4 : h // 2, x : x + w // 5] = rng.integers(0, 256, (h // 2 - h // 4, w // 5, 3))  # busy, moving
        frames.append(f)
    frames[3][:] = 128  # flat everywhere
    frames[5] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)  # busy everywhere
    frames[6][:2], frames[6][-2:] = 255, 0  # the mark saturates
    other = smooth[: h // 2, : w // 2].copy()
    for f in frames:
        assert np.array_equal(embed_watermark(f.copy()), _marked_on_its_own(f))
        assert np.array_equal(embed_watermark(other.copy()), _marked_on_its_own(other))  # another size between


@pytest.mark.slow
def test_found_after_h264_at_500_kbits_downscale_crop_and_colour(portraits):
    frames = _moving(_canvas(portraits / "painting_girl_with_a_pearl_earring.jpg"), 25)  # one 1-second window
    marked = [embed_watermark(f.copy()) for f in frames]
    small = _h264(marked, (640, 360))
    assert _window_score(small) >= THRESHOLD
    assert _window_score([_centre(f, 180) for f in small]) >= THRESHOLD  # ...then cropped to the face
    face = _h264([_centre(f, 360) for f in marked], (360, 360))  # the face cropped out, then encoded
    assert _window_score(face) >= THRESHOLD
    graded = [np.clip((f.astype(np.float32) - 128) * 1.15 + 140, 0, 255).astype(np.uint8) for f in small]
    assert _window_score(graded) >= THRESHOLD
    assert _window_score(_h264(frames, (640, 360))) < THRESHOLD  # the same path without the mark


@pytest.mark.slow
def test_no_false_positive_on_real_clips_and_their_reencodes(driving):
    from liveavatar.provenance.check import video_window_detections

    clips = sorted(driving.iterdir())[::16]  # a spread of sizes and codecs; tools/provenance_figures.py does all
    for clip in clips:
        assert max(d.score for d in video_window_detections(clip, max_windows=2)) < THRESHOLD, clip.name
    import av

    with av.open(str(clips[0])) as container:
        frames = [f.to_ndarray(format="rgb24") for _, f in zip(range(25), container.decode(video=0), strict=False)]
    h, w = frames[0].shape[:2]
    s = min(640 / w, 360 / h)
    assert _window_score(_h264(frames, (int(w * s) // 2 * 2, int(h * s) // 2 * 2))) < THRESHOLD
