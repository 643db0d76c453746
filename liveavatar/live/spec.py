"""What a run is made of: the source, the sinks, the background, and every knob of the live path.

All specs are frozen dataclasses; `parse_source`, `parse_sink` and `parse_background` turn the CLI's
strings (`webcam:0`, `clip.mp4`, `vcam:1280x720@30`, `record:out.mp4`, `http:8765`, `#00ff00`) into them and
raise InputError with the accepted forms on anything else. Checking that a path exists or a port is free
happens when the runner opens the part (before any thread starts), not here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from liveavatar.errors import InputError
from liveavatar.files.imageio import IMAGE_SUFFIXES
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.landmarks.smoothing import OneEuroParams

SourceKind = Literal["webcam", "video", "image", "scripted"]
SinkKind = Literal["vcam", "record", "http", "preview"]
Mode = Literal["relative", "absolute"]
MODES: tuple[Mode, ...] = ("relative", "absolute")

DEFAULT_OUTPUT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0
DEFAULT_HTTP_PORT = 8765
CHROMA_GREEN = (0, 177, 64)  # the broadcast chroma-key green (RGB)


@dataclass(frozen=True)
class SourceSpec:
    """Where driving frames come from.

    webcam: `device` index, requested width/height/fps (None: the camera's default).
    video: `path`; realtime=True paces frames at the file's fps, False reads as fast as the pipeline takes
    them; loop=True starts again at the end. image: `path`, repeated at `fps`. scripted: the demo's
    built-in performance on the avatar's own landmarks, at `fps`.
    """

    kind: SourceKind
    device: int = 0
    path: Path | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    realtime: bool = True
    loop: bool = False

    def describe(self) -> str:
        if self.kind == "webcam":
            return f"webcam {self.device}"
        if self.kind == "scripted":
            return "the scripted performance"
        return f"{self.kind} {self.path}"


@dataclass(frozen=True)
class SinkSpec:
    """Where output frames go. `key` names the sink in the runner (one vcam, one preview, one recorder per
    path, one stream per port).

    vcam: width×height at fps (even sizes). record: `path` (.mp4), `fps` (None: the source's).
    http: `port` on `host` (localhost by default), readable only with the token in its address (sinks/http.py):
    `token` True makes a fresh random one, a string is the token to use (the app keeps one, so an OBS source
    survives restarts), False serves without one. preview: an OpenCV window.
    """

    kind: SinkKind
    path: Path | None = None
    port: int = DEFAULT_HTTP_PORT
    host: str = "127.0.0.1"
    width: int = DEFAULT_OUTPUT_SIZE[0]
    height: int = DEFAULT_OUTPUT_SIZE[1]
    fps: float | None = None
    token: bool | str = True

    @property
    def key(self) -> str:
        if self.kind == "record":
            return f"record:{self.path}"
        if self.kind == "http":
            return f"http:{self.port}"
        return self.kind


@dataclass(frozen=True)
class Background:
    """Behind the generated face: the avatar's portrait with the face pasted back (`portrait`), or one
    RGB colour (chroma green is a colour)."""

    kind: Literal["portrait", "colour"] = "portrait"
    colour: tuple[int, int, int] = CHROMA_GREEN
    feather: float = 0.1  # paste-back edge fade, fraction of the crop size

    def describe(self) -> str:
        return "portrait" if self.kind == "portrait" else "#{:02x}{:02x}{:02x}".format(*self.colour)


# Relative mode smooths head pose and expression apart (liveavatar.landmarks.stability): the pose harder
# (a still head must not wobble), the expression lighter (lips must keep up with speech). The trade-off,
# measured on the shared clips, is in docs/EXPRESSION.md. The expression's beta (how fast a quick motion
# opens the filter up) is 0.3, not the pose's 0.05: at 0.05 the lips lagged a talking mouth's quick closings
# (mouth r 0.87, range 0.73 of the driver's, retargeted points on 4 held-out clips), at 0.3 they keep up
# (0.95, 0.88), for 0.011 crop px more still-face jitter (0.045 → 0.056). The pose's beta is 0.3 too: a still
# head keeps its low cutoff (still-face jitter 0.064 → 0.056 crop px, 5 clips), while a turning one is followed
# without lag (yaw r of the retargeted points 0.86 → 0.94 over 6 talking clips; a scripted 10° turn reaches
# 90 % in 0 frames instead of 2).
POSE_SMOOTHING = OneEuroParams(min_cutoff=0.3, beta=0.3)
EXPRESSION_SMOOTHING = OneEuroParams(min_cutoff=1.0, beta=0.3)


@dataclass(frozen=True)
class TrackingConfig:
    """Face tracking and continuity. max_faces=2 lets the pipeline say "2 faces" (it drives with the
    largest); hold_s: how long the last pose is held after the face is lost; fade_s: then how long the
    glide to the neutral pose takes. smoothing: the driver's own points (absolute mode, the overlay);
    pose_smoothing and expression_smoothing: relative mode's two filters. irises: track the irises
    (mediapipe's refined mesh) for gaze. mouth_rest: relative mode's adaptive mouth rest (the driver's
    most closed mouth since the neutral is the opening's zero; see Retargeter), off: the neutral's."""

    smoothing: OneEuroParams = field(default_factory=OneEuroParams)
    pose_smoothing: OneEuroParams = field(default_factory=lambda: POSE_SMOOTHING)
    expression_smoothing: OneEuroParams = field(default_factory=lambda: EXPRESSION_SMOOTHING)
    irises: bool = True
    mouth_rest: bool = True
    max_faces: int = 2
    min_detection_confidence: float = 0.5
    min_tracking_confidence: float = 0.5
    hold_s: float = 0.5
    fade_s: float = 1.0
    neutral_frames: int = 5  # tracked frames averaged into the neutral reference at start / calibrate()


@dataclass(frozen=True)
class RunnerConfig:
    """Everything `Runner` needs (avatars are passed separately: they are large and switched at run time).

    lossless=False is the live path: latest-frame slots that drop stale frames. lossless=True hands every
    frame on (slots wait instead of dropping, the recorder waits for room): for offline rendering of a
    file, where every frame must reach the recording and no one is watching the clock. driver_mouth: lay the
    driver's own mouth inside the avatar's open lips (warp presets; liveavatar.render.driver_mouth). creases:
    lay the light the driver's expression changed since the neutral (creases, folds, the shade under a dropped
    jaw) on the avatar's face (warp presets; liveavatar.render.creases).
    """

    source: SourceSpec
    engine: str = "auto"
    mode: Mode = "relative"
    background: Background = field(default_factory=Background)
    mirror: bool = False
    ai_mark: bool = True
    driver_mouth: bool = True
    creases: bool = True
    output_size: tuple[int, int] = DEFAULT_OUTPUT_SIZE
    sinks: tuple[SinkSpec, ...] = ()
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    expression: ExpressionControls = field(default_factory=ExpressionControls)
    lossless: bool = False
    duration_s: float | None = None
    stats_interval_s: float = 1.0
    reconnect_interval_s: float = 1.0


_SIZE_FPS = re.compile(r"^(\d+)x(\d+)(?:@(\d+(?:\.\d+)?))?$")


def parse_size(text: str, what: str) -> tuple[int, int, float | None]:
    """`WxH[@FPS]` → (w, h, fps|None); sizes must be even (video encoders and virtual cameras need it)."""
    m = _SIZE_FPS.match(text.strip().lower())
    if not m:
        raise InputError(f"{what}: cannot read size {text!r}; write it as WIDTHxHEIGHT[@FPS], e.g. 1280x720@30")
    w, h = int(m[1]), int(m[2])
    fps = float(m[3]) if m[3] else None
    if w < 16 or h < 16 or w % 2 or h % 2 or w > 7680 or h > 4320:
        raise InputError(f"{what}: size {w}x{h} must be even numbers between 16 and 7680x4320, e.g. 1280x720")
    if fps is not None and not 1 <= fps <= 240:
        raise InputError(f"{what}: fps {fps:g} must be between 1 and 240")
    return w, h, fps


MAX_WEBCAM_INDEX = 255  # larger indexes overflow OpenCV's C int; no machine has that many cameras


def parse_source(text: str, realtime: bool = True, loop: bool = False) -> SourceSpec:
    """`webcam[:N[:WxH@FPS]]`, `scripted`, an image file or a video file → SourceSpec."""
    text = text.strip()
    if text == "scripted":
        return SourceSpec("scripted", realtime=realtime, loop=loop, fps=25.0)
    if text == "webcam" or text.startswith("webcam:"):
        parts = text.split(":")
        try:
            device = int(parts[1]) if len(parts) > 1 and parts[1] else 0
        except ValueError:
            raise InputError(f"source {text!r}: the webcam index must be a number, e.g. webcam:0") from None
        if not 0 <= device <= MAX_WEBCAM_INDEX:
            raise InputError(f"source {text!r}: the webcam index must be 0 to {MAX_WEBCAM_INDEX}, e.g. webcam:0")
        w = h = None
        fps = None
        if len(parts) > 2:
            w, h, fps = parse_size(parts[2], f"source {text!r}")
        if len(parts) > 3:
            raise InputError(f"source {text!r}: write webcam:INDEX[:WIDTHxHEIGHT@FPS]")
        return SourceSpec("webcam", device=device, width=w, height=h, fps=fps)
    path = Path(text).expanduser()
    kind: SourceKind = "image" if path.suffix.lower() in IMAGE_SUFFIXES else "video"
    return SourceSpec(kind, path=path, realtime=realtime, loop=loop, fps=DEFAULT_FPS if kind == "image" else None)


def parse_sink(text: str) -> SinkSpec:
    """`vcam[:WxH@FPS]`, `record:OUT.mp4`, `http[:PORT]`, `preview` → SinkSpec."""
    kind, _, rest = text.strip().partition(":")
    if kind == "vcam":
        if not rest:
            return SinkSpec("vcam", fps=DEFAULT_FPS)
        w, h, fps = parse_size(rest, f"sink {text!r}")
        return SinkSpec("vcam", width=w, height=h, fps=fps or DEFAULT_FPS)
    if kind == "record":
        if not rest:
            raise InputError(f"sink {text!r}: name the file, e.g. record:out.mp4")
        path = Path(rest).expanduser()
        if path.suffix.lower() != ".mp4":
            raise InputError(f"sink {text!r}: recordings are MP4; name the file with .mp4, e.g. record:out.mp4")
        return SinkSpec("record", path=path)
    if kind == "http":
        if not rest:
            return SinkSpec("http")
        if not rest.isdigit() or not 1 <= int(rest) <= 65535:
            raise InputError(f"sink {text!r}: the port must be a number from 1 to 65535, e.g. http:8765")
        return SinkSpec("http", port=int(rest))
    if kind == "preview" and not rest:
        return SinkSpec("preview")
    raise InputError(f"unknown sink {text!r}; use vcam[:WxH@FPS], record:OUT.mp4, http[:PORT] or preview")


def parse_background(text: str) -> Background:
    """`portrait`, `green`, or `#RRGGBB`."""
    text = text.strip().lower()
    if text == "portrait":
        return Background("portrait")
    if text == "green":
        return Background("colour", CHROMA_GREEN)
    if re.fullmatch(r"#[0-9a-f]{6}", text):
        return Background("colour", parse_colour(text, "background"))
    raise InputError(f"background {text!r}: use portrait, green, or a colour written #RRGGBB, e.g. #202020")


def parse_colour(text: str, what: str) -> tuple[int, int, int]:
    """`#RRGGBB` → (r, g, b)."""
    text = text.strip().lower()
    if not re.fullmatch(r"#[0-9a-f]{6}", text):
        raise InputError(f"{what} {text!r}: write a colour as #RRGGBB, e.g. #202020")
    return int(text[1:3], 16), int(text[3:5], 16), int(text[5:7], 16)
