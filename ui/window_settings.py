"""WindowSettings: the window's remembered choices, read back at start and written at close.

A part of the window that gets the widgets it fills and a callback for messages, never the window itself
(the window imports its parts; a part importing the window back would be a circle). Every stored value is
read through the core's parser; one that no longer parses is said in the status area and its default used,
so a damaged settings.ini never stops the app.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from typing import TypeVar

from PySide6.QtCore import QByteArray
from PySide6.QtWidgets import QSplitter

from liveavatar.errors import LiveAvatarError
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.live.spec import CHROMA_GREEN, Background, Mode, parse_colour, parse_size, parse_source

from .library import AvatarLibrary
from .session import LiveOptions, LiveSession
from .settings import AppSettings
from .widgets.controls import LookPanel, OutputsPanel
from .widgets.expression import ExpressionPanel
from .widgets.frame_view import FrameView
from .widgets.gallery import GalleryView

RECENT_VIDEOS = 5
T = TypeVar("T")


class WindowSettings:
    """Restores the look, expression, source, engine and outputs into the session and the panels, and saves
    them back. `source_text` and `recent` (the last videos, newest first) are the source menu's memory."""

    def __init__(
        self,
        settings: AppSettings,
        post: Callable[..., object],
        *,
        session: LiveSession,
        views: QSplitter,
        camera_view: FrameView,
        look_panel: LookPanel,
        expression_panel: ExpressionPanel,
        outputs_panel: OutputsPanel,
    ) -> None:
        self.settings = settings
        self.post = post
        self.session = session
        self.views = views
        self.camera_view = camera_view
        self.look_panel = look_panel
        self.expression_panel = expression_panel
        self.outputs_panel = outputs_panel
        self.source_text = ""
        self.recent: list[str] = []

    def remember_source(self, text: str, is_video: bool) -> None:
        self.source_text = text
        if is_video:
            self.recent = [text] + [p for p in self.recent if p != text][: RECENT_VIDEOS - 1]

    def read(self, key: str, default: str, parse: Callable[[str], T]) -> T:
        """A stored value read with the core's parser; an unreadable one is said, and the default used."""
        text = self.settings.get_str(key, default)
        try:
            return parse(text)
        except LiveAvatarError as exc:
            self.post(f"saved setting {key}: {exc}; using {default}", "error")
            return parse(default)

    def restore(
        self,
        restore_geometry: Callable[[QByteArray], bool],
        resize: Callable[[int, int], None],
        *,
        engine: str | None,
        source: str | None,
    ) -> None:
        """engine, source: what the command line asked for (None: the last used)."""
        st = self.settings
        geometry = st.get_bytes("window/geometry")
        if geometry is None or not restore_geometry(geometry):
            resize(1280, 720)
        splitter = st.get_bytes("window/views")
        if splitter is not None:
            self.views.restoreState(splitter)
        background = st.get_str("look/background", "portrait")
        colour = self.read("look/colour", "#202020", lambda text: parse_colour(text, "colour"))
        size = self.read("look/output_size", "1280x720", lambda text: parse_size(text, "size")[:2])
        mode: Mode = "absolute" if st.get_str("look/mode", "relative") == "absolute" else "relative"
        mirror = st.get_bool("look/mirror")
        driver_mouth = st.get_bool("look/driver_mouth", True)
        creases = st.get_bool("look/creases", True)
        landmarks = st.get_bool("look/landmarks", True)
        self.look_panel.set_values(size, background, colour, mirror, mode, landmarks, driver_mouth, creases)
        self.camera_view.show_landmarks = landmarks
        engine = engine or st.get_str("engine", "auto")
        parsed = None
        text = source or st.get_str("source", "")
        if text:
            try:
                parsed = parse_source(text)
            except LiveAvatarError as exc:
                self.post(str(exc), "error")
        self.source_text = text if parsed is not None else ""
        expression = self._restore_expression()
        self.session.options = LiveOptions(
            source=parsed,
            engine=engine,
            output_size=size,
            background=background_of(background, colour),
            mirror=mirror,
            driver_mouth=driver_mouth,
            creases=creases,
            mode=mode,
            expression=expression,
        )
        self.session.vcam_on = st.get_bool("outputs/vcam")
        self.session.http_on = st.get_bool("outputs/http")
        self.session.http_port = st.get_int("outputs/http_port", 8765)
        self.session.http_token = stream_token(st)
        self.outputs_panel.port.setValue(self.session.http_port)
        self.outputs_panel.vcam.set_on(self.session.vcam_on)
        self.outputs_panel.http.set_on(self.session.http_on)
        self.recent = [p for p in st.get_str("recent_videos", "").split("\n") if p]

    def _restore_expression(self) -> ExpressionControls:
        stored = {k: self.settings.get_str(f"expression/{k}") for k in ExpressionControls().as_dict()}
        try:
            controls = ExpressionControls.from_dict({k: v for k, v in stored.items() if v})
        except LiveAvatarError as exc:
            self.post(f"the saved expression settings were not usable ({exc}); using the defaults", "warning")
            controls = ExpressionControls()
        self.expression_panel.set_controls(controls)
        return controls

    def save(self, geometry: QByteArray, gallery: GalleryView, library: AvatarLibrary) -> None:
        st, o = self.settings, self.session.options
        st.set("window/geometry", geometry)
        st.set("window/views", self.views.saveState())
        st.set("source", self.source_text)
        st.set("recent_videos", "\n".join(self.recent))
        st.set("engine", o.engine)
        st.set("look/output_size", f"{o.output_size[0]}x{o.output_size[1]}")
        st.set("look/background", self.look_panel.background_combo.currentData())
        st.set("look/colour", "#{:02x}{:02x}{:02x}".format(*self.look_panel.colour))
        st.set("look/mirror", o.mirror)
        st.set("look/driver_mouth", o.driver_mouth)
        st.set("look/creases", o.creases)
        st.set("look/mode", o.mode)
        st.set("look/landmarks", self.camera_view.show_landmarks)
        for key, value in o.expression.as_dict().items():
            st.set(f"expression/{key}", value)
        st.set("outputs/vcam", self.session.vcam_on)
        st.set("outputs/http", self.session.http_on)
        st.set("outputs/http_port", self.session.http_port)
        current = gallery.current_id()
        entry = library.entry(current)
        if entry is not None and entry.path.parent == library.store.folder:
            st.set("avatar", current)
        st.sync()


def stream_token(settings: AppSettings) -> str:
    """The stream's token, made once and kept in the settings: the address pasted into OBS stays valid
    across restarts (delete outputs/http_token from settings.ini to make a new one)."""
    token = settings.get_str("outputs/http_token")
    if not (16 <= len(token) <= 128 and re.fullmatch(r"[\w-]+", token)):
        token = secrets.token_urlsafe(16)
        settings.set("outputs/http_token", token)
    return token


def background_of(kind: str, colour: tuple[int, int, int]) -> Background:
    """The look panel's background choice ("portrait", "green", "colour") as the run's Background."""
    if kind == "green":
        return Background("colour", CHROMA_GREEN)
    if kind == "colour":
        return Background("colour", colour)
    return Background("portrait")
