"""MainWindow: lays out the parts and wires them together; the work happens in LiveSession (the run) and
AvatarLibrary (the gallery), on worker threads.

    ┌──────────────────────────────────────────────┬──────────────┐
    │ [banner: no model]                           │ Source       │
    │ ┌ camera + face points ┐┌ avatar (output) ──┐│ Look         │
    │ │                      ││                   ││ Outputs      │
    │ └──────────────────────┘└───────────────────┘│ Engine       │
    │ fps · latency · stages · dropped             │              │
    │ [status messages, dismissable]               │              │
    │ Avatars [Add portrait…] [Try the sample] [──]│              │
    │ [thumb 1][thumb 2][thumb 3] …                │              │
    └──────────────────────────────────────────────┴──────────────┘
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from PySide6.QtCore import Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QDesktopServices, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from liveavatar.errors import LiveAvatarError
from liveavatar.imageio import IMAGE_SUFFIXES
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.live.events import FrameReport, RunnerError, RunStats, SinkState
from liveavatar.live.spec import CHROMA_GREEN, Background, Mode, parse_colour, parse_size, parse_source

from .editor import PoseEditor
from .library import AvatarLibrary
from .paths import avatars_dir, default_recordings_dir
from .session import LiveOptions, LiveSession
from .settings import AppSettings
from .store import AvatarStore, GalleryEntry
from .tasks import TaskPool
from .widgets.controls import EnginePanel, LookPanel, OutputsPanel, SourcePanel, stats_line, stats_tooltip
from .widgets.expression import ExpressionPanel
from .widgets.frame_view import FrameView
from .widgets.gallery import GalleryView
from .widgets.help import HelpOverlay
from .widgets.status import StatusArea

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.mpg *.mpeg *.m4v);;All files (*)"
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.webp *.tif *.tiff)"
AVATAR_SUFFIX = ".avatar"
AVATAR_PLACEHOLDER = (
    "Your avatar appears here: add a portrait (a photo, a painting, a statue) or try the sample portrait"
)
RECENT_VIDEOS = 5

# (keys as shown, what they do): one table for the actions, the tooltips and the help overlay.
SHORTCUTS: list[tuple[str, str]] = [
    ("1 – 9", "Switch to avatar 1–9 of the gallery"),
    ("C", "Calibrate: your current face becomes the neutral pose"),
    ("A", "Follow your movements / your exact face shape"),
    ("M", "Mirror the output"),
    ("L", "Show or hide the face points on the camera"),
    ("V", "Virtual camera on / off"),
    ("R", "Recording on / off"),
    ("S", "Stream for OBS on / off"),
    ("Ctrl+O", "Add a portrait (one or more images of one person)"),
    ("F2 / Delete", "Rename / delete the selected avatar"),
    ("F1 or ?", "Show this help"),
    ("Ctrl+Q", "Quit"),
]


T = TypeVar("T")


@dataclass(frozen=True)
class AppOptions:
    """What `liveavatar app` was started with (None: the last used, from the settings)."""

    source: str | None = None
    avatar: Path | None = None
    checkpoint: Path | None = None
    engine: str | None = None


class MainWindow(QMainWindow):
    frame_shown = Signal(int)  # avatar frames shown so far (the screenshot mode waits on it)
    preview_shown = Signal(int)  # camera-only frames shown so far (no avatar yet: the camera preview)
    model_ready = Signal(bool)  # a checkpoint was loaded (True) or none is available (False)

    def __init__(self, options: AppOptions | None = None, settings: AppSettings | None = None) -> None:
        super().__init__()
        self.options = options or AppOptions()
        self.settings = settings or AppSettings()
        self.setWindowTitle("LiveAvatar")
        self.setAcceptDrops(True)
        self.loader = TaskPool("loader", threads=1)
        self.session = LiveSession(self)
        self.editor = PoseEditor(self)
        self.library = AvatarLibrary(AvatarStore(avatars_dir()), self)
        self.checkpoint = None
        self.checkpoint_problem = ""
        self.frames_shown = 0
        self.preview_frames = 0
        self.last_stats: RunStats | None = None
        self.last_report: FrameReport | None = None
        self._closed = False
        self._gallery_loaded = False
        self._sources_loaded = False
        self._cameras: list[tuple[str, str]] = []
        self._build_ui()
        self._build_actions()
        self._wire()
        self._restore()
        QTimer.singleShot(0, self._load_model)

    # ------------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        central = QWidget()
        self.setCentralWidget(central)
        root = QHBoxLayout(central)
        root.setContentsMargins(10, 10, 10, 10)
        root.setSpacing(10)

        main = QVBoxLayout()
        main.setSpacing(6)
        self.banner = QLabel()
        self.banner.setObjectName("banner")
        self.banner.setWordWrap(True)
        self.banner.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_model = QPushButton("Open a model file…")
        self.open_model.setToolTip("Choose a trained checkpoint (.safetensors)")
        banner_row = QHBoxLayout()
        banner_row.addWidget(self.banner, 1)
        banner_row.addWidget(self.open_model)
        self.banner_box = QWidget()
        self.banner_box.setLayout(banner_row)
        banner_row.setContentsMargins(0, 0, 0, 0)
        self.banner_box.hide()
        main.addWidget(self.banner_box)

        self.camera_view = FrameView("Camera")
        self.avatar_view = FrameView("Avatar")
        self.avatar_view.show_landmarks = False
        self.camera_view.set_placeholder("Loading the model…")
        self.avatar_view.set_placeholder("")
        self.views = QSplitter(Qt.Orientation.Horizontal)
        self.views.addWidget(self.camera_view)
        self.views.addWidget(self.avatar_view)
        self.views.setStretchFactor(0, 2)
        self.views.setStretchFactor(1, 3)
        self.views.setChildrenCollapsible(False)
        main.addWidget(self.views, 1)

        self.stats_label = QLabel("")
        self.stats_label.setObjectName("stats")
        self.stats_label.setMinimumWidth(0)  # a long line is clipped, never widens the window
        self.stats_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.stats_label.setToolTip("Frames per second, delay from camera to output, time per stage, frames skipped")
        main.addWidget(self.stats_label)
        self.status = StatusArea()
        main.addWidget(self.status)

        header = QHBoxLayout()
        title = QLabel("<b>Avatars</b>")
        header.addWidget(title)
        self.add_button = QPushButton("Add portrait…")
        self.add_button.setObjectName("primary")
        self.add_button.setToolTip(
            "Make an avatar from one or more images of one person: a photo, a painting, a statue (Ctrl+O). "
            "You can also drop image files on the window"
        )
        header.addWidget(self.add_button)
        self.sample_button = QPushButton("Try the sample portrait")
        self.sample_button.setToolTip(
            "Make a first avatar from the public-domain photo of Grace Hopper that matplotlib ships "
            "(the portrait `liveavatar demo` animates)"
        )
        self.sample_button.hide()  # offered while the gallery is empty
        header.addWidget(self.sample_button)
        self.build_label = QLabel("")
        self.build_label.setObjectName("hint")
        header.addWidget(self.build_label, 1)
        self.build_bar = QProgressBar()
        self.build_bar.setRange(0, 100)
        self.build_bar.setTextVisible(False)
        self.build_bar.setFixedWidth(180)
        self.build_bar.hide()
        header.addWidget(self.build_bar)
        self.cancel_build = QPushButton("Cancel")
        self.cancel_build.setObjectName("flat")
        self.cancel_build.hide()
        header.addWidget(self.cancel_build)
        main.addLayout(header)
        self.gallery = GalleryView()
        self.gallery.setFixedHeight(138)
        main.addWidget(self.gallery)
        root.addLayout(main, 1)

        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 4, 0)
        self.source_panel = SourcePanel()
        self.look_panel = LookPanel()
        self.outputs_panel = OutputsPanel()
        self.engine_panel = EnginePanel()
        self.expression_panel = ExpressionPanel()
        panels = (self.source_panel, self.look_panel, self.expression_panel, self.outputs_panel, self.engine_panel)
        for panel in panels:
            side_layout.addWidget(panel)
        side_layout.addStretch(1)
        help_button = QPushButton("Keyboard shortcuts (F1)")
        help_button.setObjectName("flat")
        side_layout.addWidget(help_button)
        scroll = QScrollArea()
        scroll.setWidget(side)
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QScrollArea.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setFixedWidth(320)
        root.addWidget(scroll)
        self.help = HelpOverlay(SHORTCUTS, central)
        help_button.clicked.connect(self.help.toggle)
        self._set_model_dependent_enabled(False)

    def _build_actions(self) -> None:
        def action(keys: list[str], slot, tip_widget=None) -> QAction:
            act = QAction(self)
            act.setShortcuts([QKeySequence(k) for k in keys])
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(slot)
            self.addAction(act)
            return act

        for n in range(1, 10):
            action([str(n)], lambda _=False, n=n: self.choose_avatar_number(n))
        action(["C"], self.calibrate)
        action(
            ["A"],
            lambda: (
                self.look_panel.absolute if self.look_panel.relative.isChecked() else self.look_panel.relative
            ).setChecked(True),
        )
        action(["M"], self.look_panel.mirror.toggle)
        action(["L"], self.look_panel.landmarks.toggle)
        action(["V"], self.outputs_panel.vcam.button.click)
        action(["R"], self.outputs_panel.record.button.click)
        action(["S"], self.outputs_panel.http.button.click)
        action(["Ctrl+O"], self.add_portraits_dialog)
        action(["F2"], self._rename_current)
        action(["F1", "?"], lambda: self.help.toggle())
        action(["Ctrl+Q"], self.close)

    def _wire(self) -> None:
        s, lib = self.session, self.library
        s.frame_ready.connect(self._on_frame)
        s.stats.connect(self._on_stats)
        s.sink_state.connect(self._on_sink_state)
        s.error.connect(self._on_runner_error)
        s.state_changed.connect(self._on_session_state)
        s.started.connect(self._on_started)
        s.stopped.connect(self._on_stopped)
        s.output_failed.connect(self.outputs_panel.show_failure)
        lib.loaded.connect(self._on_gallery_loaded)
        lib.added.connect(self._on_avatar_added)
        lib.renamed.connect(self.gallery.set_name)
        lib.deleted.connect(self._on_avatar_deleted)
        lib.build_started.connect(self._on_build_started)
        lib.build_progress.connect(self._on_build_progress)
        lib.build_ended.connect(self._on_build_ended)
        lib.message.connect(lambda text, level, detail: self.status.post(text, level, detail))
        self.gallery.chosen.connect(self.choose_avatar)
        self.gallery.rename_requested.connect(lib.rename)
        self.gallery.delete_requested.connect(self.delete_avatar)
        self.gallery.portraits_dropped.connect(self.add_portraits)
        self.add_button.clicked.connect(self.add_portraits_dialog)
        self.sample_button.clicked.connect(self.add_sample_portrait)
        self.cancel_build.clicked.connect(lib.cancel_build)
        self.open_model.clicked.connect(self.open_model_dialog)
        self.source_panel.source_chosen.connect(self.set_source)
        self.source_panel.browse_requested.connect(self.choose_video_dialog)
        self.engine_panel.engine_chosen.connect(self._set_engine)
        lp = self.look_panel
        lp.size_chosen.connect(lambda w, h: self._update_options(output_size=(w, h)))
        lp.background_chosen.connect(self._set_background)
        lp.mirror_toggled.connect(lambda on: self._update_options(mirror=on))
        lp.mode_chosen.connect(lambda mode: self._update_options(mode=mode))
        lp.calibrate_requested.connect(self.calibrate)
        lp.landmarks_toggled.connect(self._set_landmarks)
        ep = self.expression_panel
        ep.controls_changed.connect(lambda controls: self._update_options(expression=controls))
        ep.edit_toggled.connect(self.set_edit_mode)
        ep.pose_changed.connect(self._pose_changed)
        ep.save_still_requested.connect(self.save_still_dialog)
        self.editor.rendered.connect(self._on_posed)
        self.editor.failed.connect(lambda text: self.status.post(text, "error", key="edit"))
        op = self.outputs_panel
        op.vcam_toggled.connect(self._toggle_vcam)
        op.record_toggled.connect(self._toggle_record)
        op.http_toggled.connect(self._toggle_http)
        op.open_recordings.connect(self._open_recordings)
        op.choose_recordings.connect(self._choose_recordings_dir)

    # ------------------------------------------------------------------ settings

    def _restore_setting(self, key: str, default: str, parse: Callable[[str], T]) -> T:
        """A stored value read with the core's parser; an unreadable one is said, and the default used."""
        text = self.settings.get_str(key, default)
        try:
            return parse(text)
        except LiveAvatarError as exc:
            self.status.post(f"saved setting {key}: {exc}; using {default}", "error")
            return parse(default)

    def _restore(self) -> None:
        st = self.settings
        geometry = st.get_bytes("window/geometry")
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1280, 720)
        splitter = st.get_bytes("window/views")
        if splitter is not None:
            self.views.restoreState(splitter)
        background = st.get_str("look/background", "portrait")
        colour = self._restore_setting("look/colour", "#202020", lambda text: parse_colour(text, "colour"))
        size = self._restore_setting("look/output_size", "1280x720", lambda text: parse_size(text, "size")[:2])
        mode: Mode = "absolute" if st.get_str("look/mode", "relative") == "absolute" else "relative"
        mirror = st.get_bool("look/mirror")
        landmarks = st.get_bool("look/landmarks", True)
        self.look_panel.set_values(size, background, colour, mirror, mode, landmarks)
        self.camera_view.show_landmarks = landmarks
        engine = self.options.engine or st.get_str("engine", "auto")
        source = None
        text = self.options.source or st.get_str("source", "")
        if text:
            try:
                source = parse_source(text)
            except LiveAvatarError as exc:
                self.status.post(str(exc), "error")
        self._source_text = text if source is not None else ""
        expression = self._restore_expression()
        self.session.options = LiveOptions(
            source=source,
            engine=engine,
            output_size=size,
            background=_background(background, colour),
            mirror=mirror,
            mode=mode,
            expression=expression,
        )
        self.session.vcam_on = st.get_bool("outputs/vcam")
        self.session.http_on = st.get_bool("outputs/http")
        self.session.http_port = st.get_int("outputs/http_port", 8765)
        self.session.http_token = _stream_token(st)
        self.outputs_panel.port.setValue(self.session.http_port)
        self.outputs_panel.vcam.set_on(self.session.vcam_on)
        self.outputs_panel.http.set_on(self.session.http_on)
        self._recent = [p for p in st.get_str("recent_videos", "").split("\n") if p]

    def _save_settings(self) -> None:
        st, o = self.settings, self.session.options
        st.set("window/geometry", self.saveGeometry())
        st.set("window/views", self.views.saveState())
        st.set("source", self._source_text)
        st.set("recent_videos", "\n".join(self._recent))
        st.set("engine", o.engine)
        st.set("look/output_size", f"{o.output_size[0]}x{o.output_size[1]}")
        st.set("look/background", self.look_panel.background_combo.currentData())
        st.set("look/colour", "#{:02x}{:02x}{:02x}".format(*self.look_panel.colour))
        st.set("look/mirror", o.mirror)
        st.set("look/mode", o.mode)
        st.set("look/landmarks", self.camera_view.show_landmarks)
        for key, value in o.expression.as_dict().items():
            st.set(f"expression/{key}", value)
        st.set("outputs/vcam", self.session.vcam_on)
        st.set("outputs/http", self.session.http_on)
        st.set("outputs/http_port", self.session.http_port)
        current = self.gallery.current_id()
        entry = self.library.entry(current)
        if entry is not None and entry.path.parent == self.library.store.folder:
            st.set("avatar", current)
        st.sync()

    # ------------------------------------------------------------------ startup

    def _load_model(self) -> None:
        """Finds and loads the checkpoint on a worker thread; then the gallery and the cameras."""
        from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

        wanted = self.options.checkpoint
        remembered = self.settings.get_str("checkpoint")

        def work(task):
            path = wanted
            if path is None and remembered and Path(remembered).is_file():
                path = Path(remembered)  # the model the user opened last time
            return open_checkpoint(resolve_checkpoint(path))

        self.loader.submit(work, on_done=self._model_loaded, on_failed=self._model_failed, name="load model")
        probe_vcam = not self.session.vcam_on
        self.loader.submit(lambda task: _find_sources(probe_vcam), on_done=self._sources_found, name="list cameras")

    def _model_loaded(self, checkpoint) -> None:
        self.checkpoint = checkpoint
        self.checkpoint_problem = ""
        self.banner_box.hide()
        self._set_model_dependent_enabled(True)
        self.session.avatar = None  # avatars belong to a model: the gallery is reloaded for this one
        self.session.set_checkpoint(checkpoint)
        self.library.load(checkpoint)
        self._update_placeholders()
        self.model_ready.emit(True)

    def _model_failed(self, exc: Exception, trace: str) -> None:
        self.checkpoint = None
        self.session.set_checkpoint(None)
        self.checkpoint_problem = str(exc)
        self.banner.setText(
            f"<b>No model is loaded.</b> {exc}.<br>Until one is, LiveAvatar cannot build avatars or drive them: "
            "open a trained checkpoint here, or start with <code>liveavatar app --checkpoint FILE</code>."
        )
        self.banner_box.show()
        self._set_model_dependent_enabled(False)
        self.camera_view.set_placeholder("No model is loaded: see the message above")
        if not isinstance(exc, LiveAvatarError):
            self.status.post(f"the model could not be loaded: {exc!r} (a bug)", "error", trace)
        self.library.load(None)
        self.model_ready.emit(False)

    def _set_model_dependent_enabled(self, on: bool) -> None:
        self.add_button.setEnabled(on)
        self.sample_button.setEnabled(on)
        for panel in (self.look_panel, self.outputs_panel):
            panel.setEnabled(on)

    def open_model_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", "", "Checkpoints (*.safetensors)")
        if path:
            self.settings.set("checkpoint", path)
            self.options = replace(self.options, checkpoint=Path(path))
            self.camera_view.set_placeholder("Loading the model…")
            self._load_model()

    def _sources_found(self, found) -> None:
        cameras, availability, vcam_problem = found
        self._sources_loaded = True
        self._cameras = cameras
        current = self._source_text or (cameras[0][0] if cameras else None)
        self.source_panel.set_sources(cameras, self._recent, current)
        self.engine_panel.set_engines(availability, self.session.options.engine)
        if vcam_problem and not self.session.vcam_on:  # said before it is asked for, as doctor says it
            self.outputs_panel.show_vcam_unavailable(vcam_problem)
        if not self._source_text and cameras:
            self.set_source(cameras[0][0])

    def _on_gallery_loaded(self, entries: list[GalleryEntry]) -> None:
        first = not self._gallery_loaded
        self._gallery_loaded = True
        wanted = self.settings.get_str("avatar")
        usable = self.library.usable_ids()
        current = wanted if wanted in usable else (usable[0] if usable else None)
        self.gallery.set_entries([self.library.entries[i] for i in self.library.order], current)
        self._update_sample_offer()
        # From now on "no avatar" is a fact, not a moment of startup: the camera alone may be shown.
        self.session.preview_without_avatar = True
        if first and self.options.avatar is not None:
            self._open_avatar_file(self.options.avatar)  # chosen when loaded
        else:
            self.choose_avatar(current)
        self._update_placeholders()

    def _open_avatar_file(self, path: Path) -> None:
        """`--avatar FILE`: added to the gallery for this session and chosen, not copied into the store."""
        from liveavatar.avatar import load_avatar

        sha = self.checkpoint.sha256 if self.checkpoint else None

        def done(avatar) -> None:
            entry = GalleryEntry(f"file:{path}", Path(path), avatar.name, avatar)
            self.library.add_session_entry(entry)  # _on_avatar_added shows and chooses it

        self.loader.submit(
            lambda task: load_avatar(path, sha),
            on_done=done,
            on_failed=lambda exc, tr: self._post_error(exc, tr),
        )

    # ------------------------------------------------------------------ avatars

    def choose_avatar(self, entry_id: str | None) -> None:
        entry = self.library.entry(entry_id)
        if entry is not None and not entry.usable:
            self.status.post(entry.problem, "warning", key="avatar-problem")
            return
        if entry is not None and self.gallery.current_id() != entry_id:
            self.gallery.select(entry_id, emit=False)
        self.session.set_avatar(entry.avatar if entry else None)
        self._update_placeholders()
        self._pose_changed(self.expression_panel.pose())  # in edit mode: the new avatar, same pose

    def delete_avatar(self, entry_id: str, confirm: bool = True) -> None:
        """Deletes an avatar from the gallery and from disk, after asking (it cannot be undone)."""
        from PySide6.QtWidgets import QMessageBox

        entry = self.library.entry(entry_id)
        if entry is None:
            return
        if confirm:
            answer = QMessageBox.question(
                self,
                "Delete avatar",
                f"Delete {entry.name}? Its portrait files are not touched; the avatar can be rebuilt from them.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No,
            )
            if answer != QMessageBox.StandardButton.Yes:
                return
        self.library.delete(entry_id)

    def choose_avatar_number(self, n: int) -> None:
        ids = self.gallery.ids()
        if n <= len(ids):
            self.choose_avatar(ids[n - 1])

    def _post_error(self, exc: Exception, trace: str) -> None:
        """A worker's failure in the status area: the user's own problem in one line, a bug with its trace."""
        self.status.post(str(exc), "error", trace if not isinstance(exc, LiveAvatarError) else "")

    def _rename_current(self) -> None:
        item = self.gallery.currentItem()
        if item is not None:
            self.gallery.editItem(item)

    def add_portraits_dialog(self) -> None:
        if self.checkpoint is None:
            self.status.post("Open a model first: avatars are built with it", "warning")
            return
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose one or more images of one person", "", IMAGE_FILTER)
        if paths:
            self.add_portraits([Path(p) for p in paths])

    def add_portraits(self, paths: list[Path], name: str | None = None) -> None:
        if self.checkpoint is None:
            self.status.post("Open a model first: avatars are built with it", "warning")
            return
        self.library.build(paths, self.checkpoint, name=name)

    def add_sample_portrait(self) -> None:
        """The one-click first avatar: the sample portrait, built on the worker like any other."""
        from liveavatar.sample import SAMPLE_NAME, sample_portrait

        try:
            path = sample_portrait()
        except LiveAvatarError as exc:
            self.status.post(str(exc), "error")
            return
        self.add_portraits([path], name=SAMPLE_NAME)

    def _update_sample_offer(self) -> None:
        self.sample_button.setVisible(self.gallery.count() == 0 and not self.library.building)
        self.sample_button.setEnabled(self.checkpoint is not None and not self.library.building)

    def _on_build_started(self, name: str) -> None:
        self.build_label.setText(f"Building {name}…")
        self.build_bar.setValue(0)
        self.build_bar.show()
        self.cancel_build.show()
        self.add_button.setEnabled(False)
        self._update_sample_offer()

    def _on_build_progress(self, what: str, fraction: float) -> None:
        self.build_bar.setValue(round(fraction * 100))
        self.build_label.setText(what[:1].upper() + what[1:] + "…")

    def _on_build_ended(self, ok: bool) -> None:
        self.build_bar.hide()
        self.cancel_build.hide()
        self.build_label.setText("")
        self.add_button.setEnabled(self.checkpoint is not None)
        self._update_sample_offer()

    def _on_avatar_added(self, entry: GalleryEntry) -> None:
        self.gallery.add_entry(entry)
        self._update_sample_offer()
        self.choose_avatar(entry.id)  # a new avatar is one the user wants to see now

    def _on_avatar_deleted(self, entry_id: str) -> None:
        was_current = self.gallery.current_id() == entry_id
        self.gallery.remove_entry(entry_id)
        self._update_sample_offer()
        if was_current:
            usable = self.library.usable_ids()
            self.choose_avatar(usable[0] if usable else None)

    # ------------------------------------------------------------------ source, engine, look

    def set_source(self, text: str) -> None:
        try:
            source = parse_source(text)
        except LiveAvatarError as exc:
            self.status.post(str(exc), "error")
            return
        self._source_text = text
        if source.kind == "video":
            self._recent = [text] + [p for p in self._recent if p != text][: RECENT_VIDEOS - 1]
            self.source_panel.set_sources(self._cameras, self._recent, text)
        self._update_options(source=source)

    def choose_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video of a face", "", VIDEO_FILTER)
        if path:
            self.set_source(path)

    def _set_engine(self, engine: str) -> None:
        self._update_options(engine=engine)

    def _set_background(self, kind: str, colour) -> None:
        self._update_options(background=_background(kind, colour or self.look_panel.colour))
        self._pose_changed(self.expression_panel.pose())

    def _set_landmarks(self, on: bool) -> None:
        self.camera_view.show_landmarks = on
        self.camera_view.update()

    def _update_options(self, **changes) -> None:
        self.session.set_options(replace(self.session.options, **changes))
        self._update_placeholders()

    def calibrate(self) -> None:
        if self.session.runner is not None:
            self.session.calibrate()
            self.status.post("Calibrating: keep a relaxed face, looking at the camera", "info", key="calibrate")
            QTimer.singleShot(2500, lambda: self.status.dismiss("calibrate"))

    # ------------------------------------------------------------------ expression and edit mode

    def _restore_expression(self) -> ExpressionControls:
        stored = {k: self.settings.get_str(f"expression/{k}") for k in ExpressionControls().as_dict()}
        try:
            controls = ExpressionControls.from_dict({k: v for k, v in stored.items() if v})
        except LiveAvatarError as exc:
            self.status.post(f"the saved expression settings were not usable ({exc}); using the defaults", "warning")
            controls = ExpressionControls()
        self.expression_panel.set_controls(controls)
        return controls

    @property
    def editing(self) -> bool:
        return self.expression_panel.edit.isChecked()

    def set_edit_mode(self, on: bool) -> None:
        """Edit mode: the pose sliders drive the avatar view (no camera needed); off: the live view again."""
        if on:
            if self.checkpoint is None or self.session.avatar is None:
                self.status.post("Posing by hand needs a model and an avatar: add a portrait first", "warning")
                self.expression_panel.edit.setChecked(False)
                return
            self._pose_changed(self.expression_panel.pose())
        elif self.last_report is not None and self.last_report.output is not None:
            self.avatar_view.caption = self.last_report.avatar
            self.avatar_view.show_frame(self.last_report.output)

    def _pose_changed(self, pose) -> None:
        if not self.editing:
            return
        o = self.session.options
        self.editor.set_target(self.checkpoint, self.session.avatar, o.engine, o.output_size, o.background)
        self.editor.request(pose)

    def _on_posed(self, frame) -> None:
        if self.editing and not self._closed:
            self.avatar_view.caption = f"{self.session.avatar.name if self.session.avatar else ''} (posed by hand)"
            self.avatar_view.show_frame(frame.output)

    def save_still(self, path: Path) -> None:
        """Writes the last hand-set pose (with the AI mark) to path; says what happened in the status area."""
        from liveavatar.imageio import write_image

        frame = self.editor.last
        if frame is None:
            self.status.post("Nothing to save yet: move a slider to pose the avatar", "warning")
            return
        try:
            write_image(path, frame.output)
        except (LiveAvatarError, OSError) as exc:
            self.status.post(f"cannot save the still: {exc}", "error")
            return
        self.status.post(f"Still saved: {path}", "info", key="still-saved")

    def save_still_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Save the still", "liveavatar-pose.png", "PNG image (*.png)")
        if path:
            self.save_still(Path(path))

    # ------------------------------------------------------------------ outputs

    def _toggle_vcam(self, on: bool) -> None:
        self.outputs_panel.vcam.set_state("Opening…" if on else "")
        self.session.set_vcam(on)

    def _toggle_http(self, on: bool, port: int) -> None:
        self.outputs_panel.http.set_state("Starting…" if on else "")
        self.session.set_http(on, port)

    def _toggle_record(self, on: bool) -> None:
        if on:
            if self.session.runner is None:
                self.outputs_panel.record.set_on(False)
                self.status.post("Recording needs the live view running: choose a source and an avatar", "warning")
                return
            path = self.recordings_dir() / f"liveavatar-{time.strftime('%Y%m%d-%H%M%S')}.mp4"
            self.outputs_panel.record.set_state(f"Starting {path.name}…")
            self.session.start_recording(path)
        else:
            self.session.stop_recording()

    def recordings_dir(self) -> Path:
        saved = self.settings.get_str("outputs/record_dir")
        return Path(saved) if saved else default_recordings_dir()

    def _choose_recordings_dir(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Save recordings in", str(self.recordings_dir()))
        if folder:
            self.settings.set("outputs/record_dir", folder)
            self.outputs_panel.record.set_state(f"Recordings go to {folder}")

    def _open_recordings(self) -> None:
        folder = self.recordings_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _on_sink_state(self, state: SinkState) -> None:
        saved = self.outputs_panel.show_sink_state(state)
        if state.key == "vcam" and state.status == "failed":
            self.session.vcam_on = False
        if state.key.startswith("http:") and state.status == "failed":
            self.session.http_on = False
        if saved is not None:
            self.status.post(f"Recording saved: {saved}", "info", key="record-saved")

    # ------------------------------------------------------------------ live view

    def _on_frame(self) -> None:
        report: FrameReport | None = self.session.take_frame()
        if report is None or self._closed:
            return
        self.last_report = report
        points = report.landmarks.points68 if report.landmarks is not None else None
        self.camera_view.message = report.message
        self.camera_view.show_frame(report.camera, points)
        if report.output is None:  # the camera preview: no avatar yet
            if self.avatar_view.has_frame and not self.editing:
                self.avatar_view.caption = "Avatar"
                self.avatar_view.clear(AVATAR_PLACEHOLDER)
            self.preview_frames += 1
            self.preview_shown.emit(self.preview_frames)
            return
        if not self.editing:  # in edit mode the avatar view shows the hand-set pose
            self.avatar_view.caption = report.avatar
            self.avatar_view.show_frame(report.output)
        self.frames_shown += 1
        self.frame_shown.emit(self.frames_shown)

    def _on_stats(self, stats: RunStats) -> None:
        self.last_stats = stats
        self.stats_label.setText(stats_line(stats))
        self.stats_label.setToolTip(stats_tooltip(stats))

    def _on_runner_error(self, error: RunnerError) -> None:
        key = {"vcam": "vcam-error", "calibration": "calibration"}.get(error.source)
        self.status.post(
            error.message, "error" if error.fatal or error.source == "app" else "warning", error.detail, key=key
        )

    def _on_session_state(self, state: str) -> None:
        self._update_placeholders()

    def _on_started(self, engine: str, skipped: list) -> None:
        self.engine_panel.set_running(engine)
        self.status.dismiss("stopped")

    def _on_stopped(self, reason: str) -> None:
        self.status.post(f"The live view stopped: {reason}", "warning", key="stopped")

    def _update_placeholders(self) -> None:
        if self.session.state == "previewing":  # the camera shows; the avatar side says what it waits for
            self.avatar_view.set_placeholder(AVATAR_PLACEHOLDER)
            return
        if self.camera_view.has_frame and self.session.state == "running":
            return
        if self.checkpoint is None:
            text = "No model is loaded: see the message above" if self.checkpoint_problem else "Loading the model…"
        elif not self._gallery_loaded:
            text = "Loading your avatars…"
        else:
            why = self.session.can_run()
            if self.session.state == "starting":
                text = "Starting…"
            elif why:
                text = why[:1].upper() + why[1:]
            else:
                text = "Stopped"
        self.camera_view.set_placeholder(text)
        self.avatar_view.set_placeholder("")

    # ------------------------------------------------------------------ drops and close

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        if any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event) -> None:  # noqa: N802
        paths = [Path(u.toLocalFile()) for u in event.mimeData().urls() if u.isLocalFile()]
        images = [p for p in paths if p.suffix.lower() in IMAGE_SUFFIXES]
        avatars = [p for p in paths if p.suffix.lower() == AVATAR_SUFFIX]
        others = [p for p in paths if p not in images and p not in avatars]
        if images:
            self.add_portraits(images)
        if avatars:
            self.library.import_files(avatars, self.checkpoint.sha256 if self.checkpoint else None)
        if others and not images and not avatars:
            self.set_source(str(others[0]))  # a video dropped on the window drives the avatar
        for path in images + others:  # and the status says whether it is LiveAvatar output (issue 24)
            self.check_provenance(path)
        event.acceptProposedAction()

    def check_provenance(self, path: Path) -> None:
        """Looks for LiveAvatar's watermark and C2PA manifest in a file, off the GUI thread; the verdict
        goes to the status area (liveavatar.provenance.check does the work)."""
        from liveavatar.provenance.check import provenance_note

        def show(note: tuple[str, str]) -> None:
            self.status.post(note[1], note[0], key=f"provenance:{path}")

        self.loader.submit(lambda task: provenance_note(path), on_done=show, name="check provenance")

    def closeEvent(self, event) -> None:  # noqa: N802
        """Stops everything before the window goes: the build is cancelled (nothing half-saved), the run is
        stopped with its recording finalised, and every worker thread has ended when this returns."""
        if not self._closed:
            self._closed = True
            self._save_settings()
            self.library.shutdown()
            self.loader.shutdown()
            self.editor.shutdown()
            self.session.shutdown()
        super().closeEvent(event)

    def settled_without_run(self) -> str:
        """Why no run is going once startup has finished (empty while starting or running): the screenshot
        mode uses it to fail fast instead of waiting for frames that cannot come."""
        if self.checkpoint is None and self.checkpoint_problem:
            return self.checkpoint_problem
        if not (self._gallery_loaded and self._sources_loaded) or self.session.state != "idle":
            return ""
        if self.loader.busy or self.session.controls.busy:
            return ""
        return self.session.can_run() or "the live view stopped"

    def waiting_for_avatar(self) -> bool:
        """True once startup has settled into the camera preview with no avatar to drive: the first
        minute of a new user (the screenshot mode then shows this, instead of waiting for avatar frames)."""
        return (
            self.session.state == "previewing"
            and self.session.avatar is None
            and self._gallery_loaded
            and not self.library.building
            and not (self.loader.busy or self.session.controls.busy)
        )

    def worker_threads_busy(self) -> bool:
        """True while any of the window's worker pools still runs something (tests check it after close)."""
        pools = (self.loader, self.session.controls, self.library.io, self.library.builds)
        return any(p.busy or p.active_threads() for p in pools)


def _find_sources(probe_vcam: bool):
    """(cameras as (value, label), engine availability, why the virtual camera cannot open or None), all
    from doctor's checks (liveavatar.engines.health): worker thread (probing cameras can be slow).
    probe_vcam: False while the virtual camera is meant to be on, so the probe never contends with it."""
    from liveavatar.engines import health

    cameras = [
        (c["source"], c["name"] or f"Camera {c['source'].split(':')[1]}")
        for c in health.check_cameras()["cameras"]
        if not c["virtual"]
    ]
    return cameras, health.engine_rows(), health.virtual_camera_problem() if probe_vcam else None


def _stream_token(settings) -> str:
    """The stream's token, made once and kept in the settings: the address pasted into OBS stays valid
    across restarts (delete outputs/http_token from settings.ini to make a new one)."""
    import re
    import secrets

    token = settings.get_str("outputs/http_token")
    if not (16 <= len(token) <= 128 and re.fullmatch(r"[\w-]+", token)):
        token = secrets.token_urlsafe(16)
        settings.set("outputs/http_token", token)
    return token


def _background(kind: str, colour: tuple[int, int, int]) -> Background:
    if kind == "green":
        return Background("colour", CHROMA_GREEN)
    if kind == "colour":
        return Background("colour", colour)
    return Background("portrait")
