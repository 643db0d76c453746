"""Sources: real video files and images read back, RGB order, monotonic timestamps, pacing, loops, and
the errors a user sees for a missing file, a non-video, a missing camera."""

from __future__ import annotations

import time

import cv2
import numpy as np
import pytest

from liveavatar.capture import ImageSource, ScriptedSource, VideoFileSource, WebcamSource, open_source
from liveavatar.errors import DeviceUnavailableError, InputError
from liveavatar.live.spec import SourceSpec, parse_background, parse_sink, parse_source
from liveavatar.types import FaceLandmarks

CLIP = "lp_d0_man_greenscreen.mp4"  # 78 frames, 512×512, 25 fps


def _read_all_bgr(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            return frames
        frames.append(bgr)


def test_video_file_delivers_every_frame_in_rgb_with_monotonic_timestamps(driving):
    expected = _read_all_bgr(driving / CLIP)
    source = VideoFileSource(driving / CLIP, realtime=False)
    try:
        assert source.fps == pytest.approx(25.0)
        assert source.frame_count == len(expected)
        frames = []
        while (captured := source.read()) is not None:
            frames.append(captured.frame)
    finally:
        source.close()
    assert len(frames) == len(expected)
    assert [f.index for f in frames] == list(range(len(expected)))
    stamps = [f.timestamp for f in frames]
    assert all(b >= a for a, b in zip(stamps, stamps[1:], strict=False))
    # the clip's own time, which the tracking filters run on: however fast it was read
    assert [f.time for f in frames] == pytest.approx([i / 25.0 for i in range(len(expected))])
    for frame, bgr in zip(frames[::20], expected[::20], strict=True):
        assert frame.image.flags["C_CONTIGUOUS"] and frame.image.dtype == np.uint8
        np.testing.assert_array_equal(frame.image, bgr[:, :, ::-1])


def test_video_file_in_real_time_is_paced_and_loops(driving):
    source = VideoFileSource(driving / CLIP, realtime=True, loop=True)
    try:
        start = time.monotonic()
        frames = [source.read() for _ in range(13)]
        elapsed = time.monotonic() - start
        # 13 frames at 25 fps leave over 12 periods: paced, not read as fast as the decoder goes.
        assert elapsed >= 12 / 25 * 0.9
        source2 = VideoFileSource(driving / CLIP, realtime=False, loop=True)
        count = 0
        while count < source2.frame_count + 10:  # past the end: the loop starts again
            assert source2.read() is not None
            count += 1
        source2.close()
    finally:
        source.close()
    assert all(f is not None for f in frames)


def test_missing_and_undecodable_sources_are_clear_errors(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        open_source(parse_source(str(tmp_path / "nope.mp4")))
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video")
    with pytest.raises(InputError, match="not a video"):
        open_source(parse_source(str(fake)))
    with pytest.raises(InputError):
        open_source(parse_source(str(tmp_path / "missing.png")))


def test_still_image_repeats_as_fresh_frames(portraits):
    source = ImageSource(portraits / "painting_mona_lisa.jpg", fps=30.0, realtime=False)
    a, b = source.read(), source.read()
    assert a.frame.image.shape[2] == 3 and a.frame.index == 0 and b.frame.index == 1
    np.testing.assert_array_equal(a.frame.image, b.frame.image)
    assert a.frame.image is not b.frame.image  # downstream may keep frames: each one is its own array


def test_scripted_source_carries_its_landmarks_and_ends_after_one_loop():
    rng = np.random.default_rng(0)
    base = FaceLandmarks((rng.random((68, 2)) * 100 + 78).astype(np.float32), (256, 256))
    source = ScriptedSource(base, fps=25.0, realtime=False)
    got = []
    while (captured := source.read()) is not None:
        got.append(captured)
    assert len(got) == source.frame_count == 200
    assert all(c.landmarks is not None and c.landmarks.points68.shape == (68, 2) for c in got)
    assert got[0].frame.image.shape == (256, 256, 3)
    assert not np.allclose(got[50].landmarks.points68, got[0].landmarks.points68)  # it moves
    with pytest.raises(InputError, match="needs an avatar"):
        open_source(SourceSpec("scripted"))


def test_a_missing_webcam_says_what_was_found():
    # No camera exists on the test machines; on a machine with cameras index 63 is still absent.
    with pytest.raises(DeviceUnavailableError, match="webcam 63 cannot be opened.*doctor"):
        WebcamSource(63)


@pytest.mark.parametrize(
    "text, kind, attrs",
    [
        ("webcam:1", "webcam", {"device": 1}),
        ("webcam:0:640x480@30", "webcam", {"width": 640, "height": 480, "fps": 30.0}),
        ("scripted", "scripted", {}),
        ("clip.mp4", "video", {}),
        ("face.PNG", "image", {}),
    ],
)
def test_parse_source(text, kind, attrs):
    spec = parse_source(text)
    assert spec.kind == kind
    for key, value in attrs.items():
        assert getattr(spec, key) == value


def test_parse_sink_and_background():
    vcam = parse_sink("vcam:640x360@25")
    assert (vcam.kind, vcam.width, vcam.height, vcam.fps) == ("vcam", 640, 360, 25.0)
    assert parse_sink("vcam").width == 1280 and parse_sink("vcam").height == 720
    assert parse_sink("http:9000").port == 9000 and parse_sink("http:9000").key == "http:9000"
    assert parse_sink("record:out.mp4").key == "record:out.mp4"
    assert parse_background("#ff8000").colour == (255, 128, 0)
    assert parse_background("green").kind == "colour"
    assert parse_background("portrait").kind == "portrait"
    for bad, message in [
        ("vcam:641x360", "even"),
        ("record:out.avi", "MP4"),
        ("record", "name the file"),
        ("http:99999", "port"),
        ("ndi", "unknown sink"),
    ]:
        with pytest.raises(InputError, match=message):
            parse_sink(bad)
    with pytest.raises(InputError, match="#RRGGBB"):
        parse_background("blue")
    with pytest.raises(InputError, match="webcam index"):
        parse_source("webcam:front")
