"""Sinks on real parts: the HTTP stream read by real clients (one stalled) and OpenCV, the recorder's
files read back, MP4 tags, the AI mark; the virtual camera up to pyvirtualcam's Camera (the one thing
mocked: no v4l2loopback device exists here) and its real missing-device error."""

from __future__ import annotations

import http.client
import os
import socket
import struct
import subprocess
import threading
import time

import cv2
import numpy as np
import pytest
from conftest import free_port, wait_until

from liveavatar.disclosure import GENERATOR_TAG, draw_ai_mark, mark_box
from liveavatar.errors import DeviceUnavailableError, InputError, LiveAvatarError
from liveavatar.live.events import SinkState
from liveavatar.sinks.http import BOUNDARY, HttpSink, check_port
from liveavatar.sinks.mp4tags import read_tags
from liveavatar.sinks.record import RecordSink
from liveavatar.types import Frame


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
    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    assert sink.open().startswith(f"http://127.0.0.1:{port}/")
    feeder = _Feeder(sink, 3000)
    stalled = socket.create_connection(("127.0.0.1", port))
    try:
        # The stalled client asks for the stream with a tiny receive buffer and never reads it: the
        # server's writes to it block once the buffers are full (noise frames are ~150 kB of JPEG).
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.sendall(f"GET /stream.mjpg{sink.query} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
        feeder.start()
        time.sleep(0.5)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/stream.mjpg{sink.query}")
        response = conn.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == f"multipart/x-mixed-replace; boundary={BOUNDARY}"
        assert response.getheader("Access-Control-Allow-Origin") is None  # no web page may read it
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
    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    sink.open()
    feeder = _Feeder(sink, 3000, noise=False)
    feeder.start()
    try:
        cap = cv2.VideoCapture(sink.stream_url, cv2.CAP_FFMPEG)
        assert cap.isOpened()
        ok, bgr = cap.read()
        cap.release()
        assert ok and bgr.shape == (480, 640, 3)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", f"/frame.jpg{sink.query}")
        response = conn.getresponse()
        assert response.status == 200 and response.getheader("Content-Type") == "image/jpeg"
        image = cv2.imdecode(np.frombuffer(response.read(), np.uint8), cv2.IMREAD_COLOR)
        assert image.shape == (480, 640, 3)
        conn.request("GET", sink.url.removeprefix(f"http://127.0.0.1:{port}"))
        page = conn.getresponse().read().decode()
        assert f"/stream.mjpg{sink.query}" in page  # the page passes its token on to the stream
        conn.request("GET", f"/nothing{sink.query}")
        assert conn.getresponse().status == 404
        conn.close()
    finally:
        feeder.done.set()
        sink.close()
        feeder.join(10)
    assert _sink_threads() == []


def _get(port: int, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path, headers=headers or {})
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_http_stream_is_private_to_its_owner():
    """Only a request that names this computer (Host), comes from no foreign page (Origin) and carries the
    stream's token is served: a web page in the user's browser or a DNS-rebinding site gets a 403."""
    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    opened = sink.open()
    token = sink.token
    assert len(token) >= 20 and f"?token={token}" in opened and sink.stream_url in opened
    assert HttpSink("127.0.0.1", port, lambda s: None).token != token  # a fresh one per stream
    kept = "Kept-token_0123456789"
    assert HttpSink("127.0.0.1", port, lambda s: None, token=kept).url.endswith(f"/?token={kept}")  # the app's
    for bad in ("short", "has space in it 0123", "x" * 129):
        with pytest.raises(InputError, match="stream token"):
            HttpSink("127.0.0.1", port, lambda s: None, token=bad)
    feeder = _Feeder(sink, 3000, noise=False)
    feeder.start()
    try:
        status, body = _get(port, f"/frame.jpg?token={token}")
        assert status == 200 and cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (480, 640, 3)
        for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost"):
            assert _get(port, f"/frame.jpg?token={token}", {"Host": host})[0] == 200, host
        assert _get(port, f"/?token={token}", {"Origin": f"http://localhost:{port}"})[0] == 200  # its own page
        refusals = [
            ("/frame.jpg", {}, "token"),
            ("/stream.mjpg", {}, "token"),
            ("/", {}, "token"),
            ("/frame.jpg?token=wrong", {}, "token"),
            (f"/frame.jpg?token={token[:-1]}", {}, "token"),
            (f"/frame.jpg?token={token}", {"Host": f"evil.example:{port}"}, "Host"),  # DNS rebinding
            (f"/frame.jpg?token={token}", {"Host": f"127.0.0.1:{port + 1}"}, "Host"),
            (f"/frame.jpg?token={token}", {"Origin": "https://evil.example"}, "evil.example"),
            (f"/stream.mjpg?token={token}", {"Origin": "null"}, "null"),
        ]
        for path, headers, reason in refusals:
            status, body = _get(port, path, headers)
            assert status == 403 and reason in body.decode() and b"\xff\xd8" not in body, (path, headers)
        with socket.create_connection(("127.0.0.1", port)) as raw:  # no Host header at all
            raw.sendall(f"GET /frame.jpg?token={token} HTTP/1.0\r\n\r\n".encode())
            assert raw.recv(64).startswith(b"HTTP/1.0 403")
    finally:
        feeder.done.set()
        sink.close()
        feeder.join(10)
    assert _sink_threads() == []


def test_http_stream_without_token_when_asked_still_checks_host():
    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None, token=False)
    assert sink.open().startswith(f"http://127.0.0.1:{port}/  (MJPEG: http://127.0.0.1:{port}/stream.mjpg)")
    feeder = _Feeder(sink, 3000, noise=False)
    feeder.start()
    try:
        assert _get(port, "/frame.jpg")[0] == 200
        assert _get(port, "/frame.jpg", {"Host": f"evil.example:{port}"})[0] == 403
        assert _get(port, "/frame.jpg", {"Origin": "https://evil.example"})[0] == 403
    finally:
        feeder.done.set()
        sink.close()
        feeder.join(10)


def test_http_clients_that_go_away_are_quiet(caplog, capfd):
    """Clients that hang up mid-reply (a closed OBS source, a reloaded page) leave no traceback on the
    console, at most a debug line each; a burst of clients is queued by a big listen backlog."""
    import logging

    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda state: None)
    sink.open()
    assert sink._server.request_queue_size >= 64
    feeder = _Feeder(sink, 3000, noise=True)  # ~150 kB frames: a reply takes many writes
    feeder.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="liveavatar.sinks.http"):
            for path in ("/frame.jpg", "/stream.mjpg", "/"):
                for _ in range(5):
                    s = socket.create_connection(("127.0.0.1", port))
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # RST on close
                    s.sendall(f"GET {path}{sink.query} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                    s.close()  # before the reply: the server's writes meet a reset connection
            time.sleep(0.5)
            burst = [socket.create_connection(("127.0.0.1", port)) for _ in range(40)]
            for s in burst:
                s.sendall(f"GET /frame.jpg{sink.query} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            replies = [s.recv(12) for s in burst]
            for s in burst:
                # Read each reply to its end: a burst client that hung up mid-reply would also (rightly) log
                # "went away", and the count below is of the 15 clients that reset on purpose (it read 16
                # once in CI when the server was still writing to a burst client as it closed).
                s.settimeout(10)
                while s.recv(1 << 16):
                    pass
                s.close()
    finally:
        feeder.done.set()
        sink.close()
        feeder.join(10)
    assert replies == [b"HTTP/1.0 200"] * 40
    err = capfd.readouterr().err
    assert "Traceback" not in err and "BrokenPipe" not in err and "ConnectionReset" not in err
    went_away = [r for r in caplog.records if "went away" in r.getMessage()]
    assert 1 <= len(went_away) <= 15 and all(r.levelno == logging.DEBUG for r in caplog.records)


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


def test_recorder_keeps_every_frame_in_h264_and_tags_the_file(tmp_path):
    import av

    out = tmp_path / "rec.mp4"
    sink = RecordSink(out, 320, 240, 25.0, lambda s: None, lossless=True)
    assert sink.open() == f"{out} (H.264)"
    for i in range(40):
        sink.send(_frame(i, 640, 480), wait=True)  # another size: fitted into 320×240
    assert not out.exists()  # written under a name of its own until finalised
    (partial,) = tmp_path.iterdir()
    assert partial.name.startswith(f"rec.{os.getpid()}-") and partial.name.endswith(".partial.mp4")
    sink.close()
    assert sink.saved == out
    frames = _read_video(out)
    assert len(frames) == 40
    assert frames[0].shape == (240, 320, 3)
    assert [_index_of(f, 0.5) for f in frames[::13]] == [0, 13, 26, 39]
    assert read_tags(out)["©cmt"] == GENERATOR_TAG and read_tags(out)["desc"] == GENERATOR_TAG
    with av.open(str(out)) as container:  # what ffprobe shows
        assert container.metadata["comment"] == GENERATOR_TAG
        assert container.streams.video[0].codec_context.name == "h264"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rec.mp4"]


def test_without_an_h264_encoder_the_recorder_falls_back_to_mpeg4_and_says_so(tmp_path, monkeypatch, caplog):
    import av

    real_codec = av.codec.Codec

    def no_x264(name, mode="r"):
        if name == "libx264":
            raise av.codec.codec.UnknownCodecError(name)
        return real_codec(name, mode)

    monkeypatch.setattr(av.codec, "Codec", no_x264)  # an FFmpeg build without libx264
    out = tmp_path / "fallback.mp4"
    sink = RecordSink(out, 96, 64, 25.0, lambda s: None, lossless=True)
    assert sink.open() == f"{out} (MPEG-4 Part 2 (no H.264 encoder in this FFmpeg))"
    assert "no H.264 encoder" in caplog.text
    for i in range(10):
        sink.send(_frame(i, 96, 64), wait=True)
    sink.close()
    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.name == "mpeg4"
    assert [_index_of(f) for f in _read_video(out)] == list(range(10))


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


def test_recorder_keeps_real_time_after_a_stall_longer_than_the_gap_it_fills(tmp_path):
    """A 3 s stall (a closed lid, a lost camera, a stopped process) in a pipeline slower than the recording:
    the last frame is held 2 s and the clock moves on, so the frames after it fill their gaps again. Before,
    every later gap counted as too long too and the rest played at the pipeline's speed (a 20.8 s run gave a
    12.9 s file)."""
    from liveavatar.sinks.record import MAX_GAP_S, playable_frames

    out = tmp_path / "stalled.mp4"
    sink = RecordSink(out, 96, 64, 10.0, lambda s: None)
    sink.open()
    t0, i = 1000.0, 0
    times = [t0 + 0.3 * k for k in range(14)]  # 3.9 s at a third of the recording's rate
    times += [times[-1] + 3.0 + 0.3 * k for k in range(14)]  # a 3 s stall, then 3.9 s more
    for i, t in enumerate(times):
        sink.send(Frame(_frame(i, 96, 64).image, t, i), wait=True)
    sink.close()
    wall = times[-1] - times[0] + 0.1
    frames, seconds = playable_frames(out)
    assert abs(seconds - (wall - (3.0 - MAX_GAP_S))) <= 0.25, (frames, seconds, wall)
    assert seconds >= 0.9 * wall
    indexes = [_index_of(f) for f in _read_video(out)]
    assert indexes.count(13) == round(MAX_GAP_S * 10) + 1  # the held frame, then the next one on time
    assert indexes[-4:] == [26, 26, 26, 27]  # after the stall, gaps are filled again


def test_a_stream_port_is_free_again_at_once_after_serving_viewers():
    """Its viewers' connections stay in TIME_WAIT for about a minute; the pre-check binds as the server does."""
    port = free_port()
    sink = HttpSink("127.0.0.1", port, lambda s: None, token=False)
    sink.open()
    sink.send(_frame(1))
    for _ in range(3):
        assert _get(port, "/frame.jpg")[0] == 200
    sink.close()
    check_port("127.0.0.1", port)  # no "in use"
    again = HttpSink("127.0.0.1", port, lambda s: None, token=False)
    again.open()
    again.close()


def test_recorder_never_blocks_and_counts_drops(tmp_path):
    sink = RecordSink(tmp_path / "x.mp4", 64, 64, 25.0, lambda s: None)
    # Not opened: no writer drains the queue, as with a disk that stalls.
    start = time.perf_counter()
    for i in range(100):
        sink.send(_frame(i, 64, 64))
    assert time.perf_counter() - start < 1.0
    assert sink.dropped == 100 - sink._queue.maxsize


def test_recorder_refusals_leave_no_file(tmp_path):
    def refused(path, message):
        with pytest.raises(InputError, match=message):
            RecordSink(path, 64, 64, 25.0, lambda s: None).open()

    refused(tmp_path / "no" / "x.mp4", "folder .* does not exist")
    (tmp_path / "folder.mp4").mkdir()
    refused(tmp_path / "folder.mp4", "is a folder; name a file in it")
    (tmp_path / "file").write_bytes(b"x")
    refused(tmp_path / "file" / "x.mp4", "is a file, not a folder")
    refused(tmp_path / "x.avi", "name the file .mp4")
    empty = RecordSink(tmp_path / "empty.mp4", 64, 64, 25.0, lambda s: None)
    empty.open()
    with pytest.raises(LiveAvatarError, match="nothing was recorded"):
        empty.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder.mp4"]


def test_recorder_abort_throws_away_only_its_own_file(tmp_path):
    out = tmp_path / "keep.mp4"
    out.write_bytes(b"the user's file")
    sink = RecordSink(out, 64, 64, 25.0, lambda s: None, lossless=True)
    sink.open()
    for i in range(30):
        sink.send(_frame(i, 64, 64), wait=True)
    sink.abort()
    assert out.read_bytes() == b"the user's file" and list(tmp_path.iterdir()) == [out]


def test_two_writers_to_one_path_never_share_a_file_nor_overwrite(tmp_path):
    """Two recorders to the same name at once (two runs, say): each writes its own partial file, the first
    to finish gets the name, the second NAME-1.mp4, and a file that was there before is never touched."""
    out = tmp_path / "same.mp4"
    first, second = (RecordSink(out, 96, 64, 25.0, lambda s: None, lossless=True) for _ in range(2))
    first.open()
    second.open()
    assert first.tmp != second.tmp
    threads = [
        threading.Thread(target=lambda s=s, base=base: [s.send(_frame(base + i, 96, 64), wait=True) for i in range(60)])
        for s, base in ((first, 0), (second, 100))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    first.close()
    second.close()
    assert (first.saved, second.saved) == (out, tmp_path / "same-1.mp4")
    for sink, base in ((first, 0), (second, 100)):
        frames = _read_video(sink.saved)
        assert len(frames) == 60 and [_index_of(f) for f in (frames[0], frames[-1])] == [base, base + 59]
    third = RecordSink(out, 96, 64, 25.0, lambda s: None, lossless=True)
    third.open()
    third.send(_frame(7, 96, 64), wait=True)
    before = out.read_bytes()
    third.close()
    assert third.saved == tmp_path / "same-2.mp4" and out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["same-1.mp4", "same-2.mp4", "same.mp4"]


@pytest.fixture
def small_disk(tmp_path):
    """A real small disk: a tmpfs of 8 MiB mounted for this test (needs root and mount rights)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not root'}): no full-disk test")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _fill(folder, leave: int) -> None:
    """Fills folder's disk until `leave` bytes are free."""
    import shutil

    with open(folder / "ballast", "wb") as f:
        free = shutil.disk_usage(folder).free
        f.write(b"\0" * max(0, free - leave))


def test_a_full_disk_stops_the_recording_with_an_error_and_keeps_what_fit(small_disk, monkeypatch):
    import liveavatar.sinks.record as record

    monkeypatch.setattr(record, "MIN_FREE_BYTES", 0)  # let the disk really fill: the write itself fails
    states = []
    out = small_disk / "full.mp4"
    sink = RecordSink(out, 320, 240, 5.0, states.append, lossless=True)  # 5 fps: a fragment every 5 frames
    sink.open()
    _fill(small_disk, 2_500_000)  # noise frames are ~150 kB each in H.264: a few fragments fit
    for i in range(250):
        sink.send(_frame(i, 320, 240, noise=True), wait=True)
    deadline = time.monotonic() + 30
    while not states and time.monotonic() < deadline:
        time.sleep(0.05)
    assert [s.status for s in states] == ["failed"] and "the disk is full" in states[0].detail  # while recording
    with pytest.raises(LiveAvatarError, match=r"the disk is full.*recorded are in .*full\.mp4"):
        sink.close()
    frames = _read_video(out)
    assert 0 < sink.kept <= len(frames) < 250  # the whole fragments that fit, and they play
    assert [_index_of(f) for f in frames[: sink.kept : 10]] == list(range(0, sink.kept, 10))
    assert sorted(p.name for p in small_disk.iterdir()) == ["ballast", "full.mp4"]


def test_low_free_space_stops_the_recording_cleanly_and_refuses_to_start(small_disk, monkeypatch):
    import liveavatar.sinks.record as record

    monkeypatch.setattr(record, "MIN_FREE_BYTES", 2 * 2**20)
    monkeypatch.setattr(record, "SPACE_CHECK_S", 0.2)
    states = []
    out = small_disk / "low.mp4"
    sink = RecordSink(out, 320, 240, 25.0, states.append, lossless=True)
    sink.open()
    for i in range(25):
        sink.send(_frame(i, 320, 240, noise=True), wait=True)
    deadline = time.monotonic() + 30
    while sink.written < 25 and time.monotonic() < deadline:
        time.sleep(0.02)
    _fill(small_disk, 2 * 2**20 - 1)  # under the floor: the next check stops the recording
    for i in range(25, 100):
        sink.send(_frame(i, 320, 240, noise=True), wait=True)
    with pytest.raises(LiveAvatarError, match="the disk is full .*MB left"):
        sink.close()
    assert states and states[0].status == "failed"
    frames = _read_video(out)
    assert len(frames) == sink.kept >= 25  # stopped before the disk was full: the file was finished cleanly
    with pytest.raises(InputError, match="only .* MB free in .*free some space"):
        RecordSink(small_disk / "again.mp4", 64, 64, 25.0, lambda s: None).open()


def test_a_read_only_folder_is_refused_before_recording(small_disk):
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    with pytest.raises(InputError, match="cannot write in .*choose a folder you can write to"):
        RecordSink(small_disk / "x.mp4", 64, 64, 25.0, lambda s: None).open()


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
    # no new frame for many periods: the last one goes on being sent (waited on, not slept: a loaded machine
    # may run the sender's 50 fps clock late)
    wait_until(lambda: len(cam.frames) >= 5, 30)
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


def test_a_sink_state_says_its_kind_and_target_so_nobody_slices_its_key():
    def parts(key: str) -> tuple[str, str]:
        state = SinkState(key, "closed")
        return state.kind, state.target

    assert parts("record:C:/clips/a b.mp4") == ("record", "C:/clips/a b.mp4")  # only the first colon splits
    assert parts("http:8765") == ("http", "8765")
    assert parts("vcam") == ("vcam", "")
