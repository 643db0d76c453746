"""Sinks on real parts: the HTTP stream read by real clients (one stalled) and OpenCV, the recorder's
files read back, MP4 tags, the AI mark; the virtual camera up to pyvirtualcam's Camera (the one thing
mocked: no v4l2loopback device exists here) and its real missing-device error."""

from __future__ import annotations

import http.client
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from liveavatar.disclosure import GENERATOR_TAG, draw_ai_mark, mark_box
from liveavatar.errors import DeviceUnavailableError, InputError, LiveAvatarError
from liveavatar.pipeline.events import SinkState
from liveavatar.sinks.http import BOUNDARY, HttpSink, check_port
from liveavatar.sinks.mp4tags import _boxes, _shift_chunk_offsets, read_tags, write_tags
from liveavatar.sinks.record import RecordSink
from liveavatar.types import Frame


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _frame(i: int, w: int = 320, h: int = 240, noise: bool = False) -> Frame:
    rng = np.random.default_rng(i)
    image = rng.integers(0, 256, (h, w, 3), np.uint8) if noise else np.zeros((h, w, 3), np.uint8)
    # The index in two blocks (base 25, steps of 10 levels): readable back through JPEG and MPEG-4.
    image[:32, :32] = (i % 25) * 10
    image[:32, 32:64] = (i // 25 % 25) * 10
    return Frame(image, time.monotonic(), i)


def _index_of(image_rgb: np.ndarray, scale: float = 1.0) -> int:
    """Reads _frame's index back from an image that was resized by `scale`."""

    def block(cx: float) -> int:
        c, r, y = round(cx * scale), max(2, round(6 * scale)), round(16 * scale)
        return round(float(image_rgb[y - r : y + r, c - r : c + r].mean()) / 10)

    return block(48) * 25 + block(16)


def _sink_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith("liveavatar-")]


class _Feeder(threading.Thread):
    """Sends numbered frames to a sink at ~50 fps and records how long each send took."""

    def __init__(self, sink, frames: int, noise: bool = True) -> None:
        super().__init__(daemon=True)
        self.sink, self.frames, self.noise = sink, frames, noise
        self.longest_send = 0.0
        self.done = threading.Event()  # set by the test once it has what it needs

    def run(self) -> None:
        for i in range(self.frames):
            if self.done.is_set():
                return
            frame = _frame(i, 640, 480, self.noise)
            start = time.perf_counter()
            self.sink.send(frame)
            self.longest_send = max(self.longest_send, time.perf_counter() - start)
            time.sleep(0.02)


def _read_mjpeg(response, count: int) -> list[np.ndarray]:
    """Parses `count` parts of a multipart/x-mixed-replace JPEG stream into RGB images."""
    images = []
    while len(images) < count:
        line = response.readline()
        if not line:
            break
        if line.strip() != f"--{BOUNDARY}".encode():
            continue
        headers = {}
        while (h := response.readline().strip()) != b"":
            key, _, value = h.decode().partition(":")
            headers[key.lower()] = value.strip()
        assert headers["content-type"] == "image/jpeg"
        jpeg = response.read(int(headers["content-length"]))
        images.append(cv2.cvtColor(cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB))
    return images


def test_http_stream_two_clients_one_stalled(tmp_path):
    port = _free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    assert sink.open().startswith(f"http://127.0.0.1:{port}/")
    feeder = _Feeder(sink, 3000)
    stalled = socket.create_connection(("127.0.0.1", port))
    try:
        # The stalled client asks for the stream with a tiny receive buffer and never reads it: the
        # server's writes to it block once the buffers are full (noise frames are ~150 kB of JPEG).
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(b"GET /stream.mjpg HTTP/1.0\r\nHost: localhost\r\n\r\n")
        feeder.start()
        time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/stream.mjpg")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        images = _read_mjpeg(response, 20)
        conn.close()
        feeder.done.set()
        feeder.join(20)
        assert not feeder.is_alive()
    finally:
        stalled.close()
        sink.close()
    # The reading client got a live stream: 20 frames, in order, fresh (not stuck behind the stalled one).
    assert len(images) == 20
    assert all(im.shape == (480, 640, 3) for im in images)
    indices = [_index_of(im) for im in images]
    assert indices == sorted(indices) and len(set(indices)) >= 15
    # The pipeline's side never waited on either client: a send is a slot write, never a network write.
    assert feeder.longest_send < 0.5
    assert _sink_threads() == []


def test_http_stream_read_by_opencv_and_single_frames():
    port = _free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    sink.open()
    feeder = _Feeder(sink, 3000, noise=False)
    feeder.start()
    try:
        cap = cv2.VideoCapture(f"http://127.0.0.1:{port}/stream.mjpg", cv2.CAP_FFMPEG)
        assert cap.isOpened()
        ok, bgr = cap.read()
        cap.release()
        assert ok and bgr.shape == (480, 640, 3)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/frame.jpg")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        conn.request("GET", "/")
        page = conn.getresponse().read().decode()
        assert "/stream.mjpg" in page
        conn.request("GET", "/nothing")
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        feeder.done.set()
        sink.close()
        feeder.join(10)
    assert _sink_threads() == []


def test_http_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(InputError, match=f"port {port} is in use"):
            check_port("127.0.0.1", port)
        with pytest.raises(InputError, match="in use"):
            HttpSink("127.0.0.1", port, lambda s: None).open()


def _read_video(path) -> list[np.ndarray]:
    return [cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) for bgr in _read_all(path)]


def _read_all(path) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            cap.release()
            return frames
        frames.append(bgr)


def test_recorder_keeps_every_frame_and_tags_the_file(tmp_path):
    out = tmp_path / "rec.mp4"
    sink = RecordSink(out, 320, 240, 25.0, lambda s: None, lossless=True)
    sink.open()
    for i in range(40):
        sink.send(_frame(i, 640, 480), wait=True)  # another size: fitted into 320×240
    assert not out.exists()  # written under a temporary name until finalised
    sink.close()
    frames = _read_video(out)
    assert len(frames) == 40
    assert frames[0].shape == (240, 320, 3)
    assert [_index_of(f, 0.5) for f in frames[::13]] == [0, 13, 26, 39]
    assert read_tags(out)["©cmt"] == GENERATOR_TAG
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_recorder_in_live_mode_fills_gaps_to_keep_real_time(tmp_path):
    out = tmp_path / "live.mp4"
    sink = RecordSink(out, 320, 240, 10.0, lambda s: None)
    sink.open()
    t0 = 1000.0
    for i in range(5):  # frames 0.3 s apart recorded at 10 fps: each fills three frame slots
        sink.send(Frame(_frame(i).image, t0 + 0.3 * i, i))
    sink.close()
    frames = _read_video(out)
    assert len(frames) == 13  # slots 0, 3, 6, 9, 12 hold new frames; the rest repeat the previous one
    assert [_index_of(f) for f in frames] == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]


def test_recorder_never_blocks_and_counts_drops(tmp_path):
    sink = RecordSink(tmp_path / "x.mp4", 64, 64, 25.0, lambda s: None)
    # Not opened: no writer drains the queue, as with a disk that stalls.
    start = time.perf_counter()
    for i in range(100):
        sink.send(_frame(i, 64, 64))
    assert time.perf_counter() - start < 1.0
    assert sink.dropped == 100 - sink._queue.maxsize


def test_recorder_errors_leave_no_file(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        RecordSink(tmp_path / "no" / "x.mp4", 64, 64, 25.0, lambda s: None).open()
    empty = RecordSink(tmp_path / "empty.mp4", 64, 64, 25.0, lambda s: None)
    empty.open()
    with pytest.raises(LiveAvatarError, match="nothing was recorded"):
        empty.close()
    assert list(tmp_path.iterdir()) == []


def test_tags_in_a_faststart_file_keep_it_playable(tmp_path):
    """moov before mdat: adding tags grows moov, so every chunk offset must move with the media data."""
    src = tmp_path / "plain.mp4"
    sink = RecordSink(src, 96, 64, 25.0, lambda s: None, lossless=True)
    sink.open()
    for i in range(12):
        sink.send(_frame(i, 96, 64), wait=True)
    sink.close()
    expected = _read_all(src)
    buf = src.read_bytes()
    top = {t: (o, s) for t, o, h, s in _boxes(buf, 0, len(buf))}
    (mo, ms), (do, _) = top[b"moov"], top[b"mdat"]
    assert mo > do  # OpenCV writes moov last
    moov = bytearray(buf[mo : mo + ms])
    _shift_chunk_offsets(moov, ms)  # the media data moves back by the size of moov
    faststart = tmp_path / "fast.mp4"
    faststart.write_bytes(buf[:do] + bytes(moov) + buf[do:mo])
    got = _read_all(faststart)
    assert len(got) == 12 and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))
    write_tags(faststart, {"©cmt": "tagged", "desc": "x" * 1000})
    assert read_tags(faststart)["©cmt"] == "tagged"
    got = _read_all(faststart)
    assert len(got) == 12 and all(np.array_equal(a, b) for a, b in zip(got, expected, strict=True))


def test_ai_mark_is_small_and_in_the_corner():
    image = np.full((720, 1280, 3), 200, np.uint8)
    marked = draw_ai_mark(image.copy())
    x0, y0, x1, y1 = mark_box(1280, 720)
    changed = np.argwhere((marked != image).any(axis=2))
    assert len(changed) > 0
    assert changed[:, 0].min() >= y0 and changed[:, 1].min() >= x0
    assert changed[:, 0].max() < y1 and changed[:, 1].max() < x1
    assert (x1 - x0) * (y1 - y0) < 0.01 * 1280 * 720  # under 1% of the frame
    assert x1 > 1200 and y1 > 660  # bottom-right


class _FakeCamera:
    """Stands in for pyvirtualcam.Camera (no v4l2loopback device here); checks frames as it does."""

    instances: list[_FakeCamera] = []

    def __init__(self, width, height, fps, *, fmt=None, device=None, backend=None, **kw):
        self.width, self.height, self.fps = width, height, fps
        self.fmt = fmt
        self.device, self.backend = "/dev/video9", "fake"
        self.frames: list[np.ndarray] = []
        self.closed = False
        _FakeCamera.instances.append(self)

    def send(self, frame):
        assert frame.shape == (self.height, self.width, 3) and frame.dtype == np.uint8
        self.frames.append(frame.copy())

    def sleep_until_next_frame(self):
        time.sleep(1 / self.fps)

    def close(self):
        self.closed = True


def test_vcam_sends_fitted_rgb_frames_and_repeats_the_last(monkeypatch):
    import pyvirtualcam

    from liveavatar.sinks.vcam import VcamSink

    monkeypatch.setattr(pyvirtualcam, "Camera", _FakeCamera)
    states: list[SinkState] = []
    sink = VcamSink(320, 180, 50.0, states.append)
    assert "320x180 at 50 fps" in sink.open()
    cam = _FakeCamera.instances[-1]
    assert cam.fmt == pyvirtualcam.PixelFormat.RGB
    sink.send(_frame(7, 640, 480))
    time.sleep(0.3)  # no new frame for 15 periods: the last one goes on being sent
    sink.close()
    assert cam.closed and states == []
    assert len(cam.frames) >= 5
    assert all(_index_of(f[:, 40:280], 0.375) == 7 for f in cam.frames)  # 640×480 fitted with bars into 320×180
    assert _sink_threads() == []


def test_vcam_missing_device_says_how_to_get_one():
    # Real pyvirtualcam on a machine without a virtual camera device.
    from liveavatar.sinks.vcam import VcamSink, vcam_fix

    sink = VcamSink(1280, 720, 30.0, lambda s: None)
    with pytest.raises(DeviceUnavailableError) as info:
        sink.open()
    message = str(info.value)
    assert "no virtual camera device" in message
    import platform

    if platform.system() == "Linux":
        assert 'sudo modprobe v4l2loopback devices=1 exclusive_caps=1 card_label="LiveAvatar"' in message
    assert "OBS" in vcam_fix("Windows") and "Start Virtual Camera" in vcam_fix("Darwin")


def test_preview_without_a_display_is_refused(monkeypatch):
    import platform

    from liveavatar.sinks.preview import PreviewSink

    if platform.system() != "Linux":
        pytest.skip("displays always exist on Windows and macOS")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DeviceUnavailableError, match="needs a display"):
        PreviewSink(lambda s: None).open()
