"""HTTP MJPEG stream on localhost, for an OBS browser/media source or any browser.

  GET /             a tiny page showing the stream
  GET /stream.mjpg  multipart/x-mixed-replace JPEG stream (what OBS and cv2.VideoCapture read)
  GET /frame.jpg    the latest frame once

One encoder thread turns the newest frame into JPEG bytes (once, whatever the number of clients). Each
client has its own server thread that waits for a newer JPEG than the one it last sent and writes it:
a slow client only skips frames, it never holds back other clients, the encoder or the pipeline. Every
KEEPALIVE_S without a new frame the last one is sent again, so players do not time out while the camera
is away.
"""

from __future__ import annotations

import errno
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import cv2

from liveavatar.errors import InputError
from liveavatar.pipeline.slots import CLOSED, LatestSlot
from liveavatar.sinks.base import Report
from liveavatar.types import Frame

BOUNDARY = "liveavatarframe"
JPEG_QUALITY = 85
KEEPALIVE_S = 1.0
CLIENT_TIMEOUT_S = 10.0  # a client that accepts no data for this long is disconnected

_PAGE = """<!doctype html><html><head><title>LiveAvatar</title></head>
<body style="margin:0;background:#111"><img src="/stream.mjpg" style="width:100%;height:auto"></body></html>"""


def check_port(host: str, port: int) -> None:
    """Raises InputError if port cannot be bound on host (in use, or privileged)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise InputError(
                    f"port {port} is in use (another stream or program); choose another with --sink http:PORT"
                ) from None
            raise InputError(f"cannot serve on {host}:{port} ({exc.strerror}); choose a port above 1024") from None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the client threads
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sink: HttpSink) -> None:
        self.sink = sink
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keep the console quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(CLIENT_TIMEOUT_S)
        self.server.sink._track(self.connection, True)

    def finish(self) -> None:
        self.server.sink._track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        sink = self.server.sink
        path = self.path.split("?")[0]
        if path == "/":
            body = _PAGE.encode()
            self._headers(200, "text/html; charset=utf-8", len(body))
            self.wfile.write(body)
        elif path == "/frame.jpg":
            jpeg, _ = sink.wait_jpeg(0, KEEPALIVE_S * 5)
            if jpeg is None:
                self.send_error(503, "no frame yet")
                return
            self._headers(200, "image/jpeg", len(jpeg))
            self.wfile.write(jpeg)
        elif path == "/stream.mjpg":
            self._stream(sink)
        else:
            self.send_error(404)

    def _headers(self, code: int, content_type: str, length: int | None = None) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache, no-store")
        self.send_header("Access-Control-Allow-Origin", "*")
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _stream(self, sink: HttpSink) -> None:
        self._headers(200, f"multipart/x-mixed-replace; boundary={BOUNDARY}")
        seen = 0
        try:
            while not sink.stopped:
                jpeg, seq = sink.wait_jpeg(seen, KEEPALIVE_S)
                if sink.stopped:
                    break
                if jpeg is None:
                    continue
                seen = seq
                self.wfile.write(
                    f"--{BOUNDARY}\r\nContent-Type: image/jpeg\r\nContent-Length: {len(jpeg)}\r\n\r\n".encode()
                    + jpeg
                    + b"\r\n"
                )
                self.wfile.flush()
        except OSError:
            pass  # the client went away (or was cut off at close)


class HttpSink:
    def __init__(self, host: str, port: int, report: Report) -> None:
        self.host, self.port = host, port
        self.key = f"http:{port}"
        self.report = report
        self.dropped = 0  # frames the encoder skipped because a newer one was waiting
        self.stopped = False
        self.url = f"http://{host}:{port}/"
        self._frames: LatestSlot[Frame] = LatestSlot("http")
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._clients: set[socket.socket] = set()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def open(self) -> str:
        try:
            self._server = _Server((self.host, self.port), self)
        except OSError:
            check_port(self.host, self.port)  # gives the exact message
            raise
        for name, target in (("serve", self._serve), ("encode", self._encode)):
            thread = threading.Thread(target=target, name=f"liveavatar-http{self.port}-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return f"{self.url}  (MJPEG: {self.url}stream.mjpg)"

    def _serve(self) -> None:
        self._server.serve_forever(poll_interval=0.2)

    def _encode(self) -> None:
        while True:
            frame = self._frames.get(timeout=0.5)
            if frame is CLOSED:
                return
            if frame is None:
                continue
            bgr = cv2.cvtColor(frame.image, cv2.COLOR_RGB2BGR)
            ok, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._cond:
                    self._jpeg = jpeg.tobytes()
                    self._seq += 1
                    self._cond.notify_all()

    def wait_jpeg(self, seen: int, timeout: float) -> tuple[bytes | None, int]:
        """The latest JPEG once it is newer than sequence number `seen`; after `timeout` the latest anyway
        (keepalive), or None if there is none yet."""
        with self._cond:
            if self._seq <= seen and not self.stopped:
                self._cond.wait(timeout)
            return self._jpeg, self._seq

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._cond:
            (self._clients.add if add else self._clients.discard)(conn)

    @property
    def clients(self) -> int:
        with self._cond:
            return len(self._clients)

    def send(self, frame: Frame, wait: bool = False) -> None:
        if self._frames.put(frame):
            self.dropped = self._frames.dropped

    def close(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self._frames.close()
        with self._cond:
            self._cond.notify_all()
            clients = list(self._clients)
        for conn in clients:  # unblocks a handler stuck writing to a client that stopped reading
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(5)
