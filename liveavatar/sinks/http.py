"""HTTP MJPEG stream on localhost, for an OBS browser/media source or any browser.

  GET /?token=T             a tiny page showing the stream
  GET /stream.mjpg?token=T  multipart/x-mixed-replace JPEG stream (what OBS and cv2.VideoCapture read)
  GET /frame.jpg?token=T    the latest frame once

Private to its owner: the stream shows a face, and a web page open in the user's browser must not be able
to read it. So every request must
- name this server in its Host header (localhost, 127.0.0.1, [::1] or the bound address, with the port):
  this defeats DNS rebinding, where a foreign site's name is made to resolve to 127.0.0.1;
- carry no foreign Origin (a page on another site that fetches or opens the stream is refused), and no
  reply sends Access-Control-Allow-Origin, so browsers never share the pixels with other sites;
- carry the stream's random token (a fresh one per stream, shown in the address `run` prints and the app
  copies), which also keeps other local users and programs out. `token=False` (`--http-no-token`) turns
  the token off for players that cannot keep a query string; Host and Origin are still checked.
Refusals are a 403 with a one-line reason. Clients that go away mid-reply are logged at debug level, never
as a traceback.

One encoder thread turns the newest frame into JPEG bytes (once, whatever the number of clients). Each
client has its own server thread that waits for a newer JPEG than the one it last sent and writes it:
a slow client only skips frames, it never holds back other clients, the encoder or the pipeline. Every
KEEPALIVE_S without a new frame the last one is sent again, so players do not time out while the camera
is away.
"""

from __future__ import annotations

import errno
import hmac
import logging
import re
import secrets
import socket
import sys
import threading
from functools import partial
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import cv2

from liveavatar.errors import InputError
from liveavatar.live.slots import CLOSED, LatestSlot
from liveavatar.sinks.base import Report, SinkDefaults
from liveavatar.types import Frame

log = logging.getLogger(__name__)

BOUNDARY = "liveavatarframe"
JPEG_QUALITY = 85
KEEPALIVE_S = 1.0
CLIENT_TIMEOUT_S = 10.0  # a client that accepts no data for this long is disconnected
LISTEN_BACKLOG = 64  # connections the kernel queues before accept(): a burst of players never waits
LOCAL_NAMES = ("localhost", "127.0.0.1", "[::1]")

_PAGE = """<!doctype html><html><head><title>LiveAvatar</title></head>
<body style="margin:0;background:#111"><img src="/stream.mjpg{query}" style="width:100%;height:auto"></body></html>"""


def check_port(host: str, port: int) -> None:
    """Raises InputError if port cannot be bound on host (in use, or privileged)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # As the server itself binds (allow_reuse_address): without it, the connections of the last run's
        # viewers, in TIME_WAIT for about a minute, made a port that the server could bind read "in use".
        if hasattr(socket, "SO_REUSEADDR") and sys.platform != "win32":  # on Windows it means port stealing
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
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
    request_queue_size = LISTEN_BACKLOG

    def __init__(self, address: tuple[str, int], sink: HttpSink) -> None:
        self.sink = sink
        super().__init__(address, _Handler)

    def handle_error(self, request, client_address) -> None:
        """A client that went away mid-reply is normal: one debug line, not socketserver's traceback."""
        exc = sys.exc_info()[1]
        if isinstance(exc, OSError):  # BrokenPipe, ConnectionReset, timeouts
            log.debug("stream client %s:%s went away (%s)", *client_address[:2], exc)
        else:
            log.exception("stream client %s:%s: unexpected error", *client_address[:2])


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
        url = urlsplit(self.path)
        path = url.path
        refusal = sink.refusal(self.headers.get("Host"), self.headers.get("Origin"), parse_qs(url.query))
        if refusal:
            body = (refusal + "\n").encode()
            self._headers(403, "text/plain; charset=utf-8", len(body))
            self.wfile.write(body)
            return
        if path == "/":
            body = _PAGE.format(query=sink.query).encode()
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
        self.send_header("Referrer-Policy", "no-referrer")  # the token in the address stays here
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


class HttpSink(SinkDefaults):
    def __init__(self, host: str, port: int, report: Report, token: bool | str = True) -> None:
        """token: True for a fresh random token, a string to use that one (URL-safe), False for none."""
        self.host, self.port = host, port
        self.key = f"http:{port}"
        self.report = report
        self.dropped = 0  # frames the encoder skipped because a newer one was waiting
        self.stopped = False
        if isinstance(token, str) and not (16 <= len(token) <= 128 and re.fullmatch(r"[\w-]+", token)):
            raise InputError("a stream token must be 16 to 128 letters, digits, '-' or '_'")
        self.token = token if isinstance(token, str) else secrets.token_urlsafe(16) if token else ""
        self.query = f"?token={self.token}" if self.token else ""
        self.url = f"http://{host}:{port}/{self.query}"  # the page; the stream is stream_url
        self.stream_url = f"http://{host}:{port}/stream.mjpg{self.query}"
        hosts = {*LOCAL_NAMES, f"[{host}]" if ":" in host else host}
        self._hosts = {h for name in hosts for h in (name, f"{name}:{port}")}
        self._origins = {f"http://{name}:{port}" for name in hosts} | {f"http://{name}" for name in hosts if port == 80}
        self._frames: LatestSlot[Frame] = LatestSlot("http")
        self._cond = threading.Condition()
        self._jpeg: bytes | None = None
        self._seq = 0
        self._clients: set[socket.socket] = set()
        self._server: _Server | None = None
        self._threads: list[threading.Thread] = []

    def open(self) -> str:
        try:
            server = self._server = _Server((self.host, self.port), self)
        except OSError:
            check_port(self.host, self.port)  # gives the exact message
            raise
        serve = partial(server.serve_forever, poll_interval=0.2)
        for name, target in (("serve", serve), ("encode", self._encode)):
            thread = threading.Thread(target=target, name=f"liveavatar-http{self.port}-{name}", daemon=True)
            self._threads.append(thread)
            thread.start()
        return f"{self.url}  (MJPEG: {self.stream_url})"

    def refusal(self, host: str | None, origin: str | None, query: dict[str, list[str]]) -> str:
        """Why a request is refused (empty: served). host, origin: its headers; query: its parsed query."""
        if host is None or host.lower() not in self._hosts:
            return f"refused: Host {host!r} is not this computer's stream (use http://127.0.0.1:{self.port}/)"
        if origin is not None and origin.lower() not in self._origins:
            return f"refused: pages from {origin} may not read this stream"
        if self.token:
            given = (query.get("token") or [""])[0]
            if not hmac.compare_digest(given.encode(), self.token.encode()):
                return "refused: wrong or missing token; use the full address LiveAvatar shows (with ?token=)"
        return ""

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
