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

from dataclasses import dataclass, replace
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QSizePolicy,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from liveavatar.errors import LiveAvatarError
from liveavatar.files.imageio import IMAGE_SUFFIXES
from liveavatar.live.events import FrameReport, RunnerError, RunStats
from liveavatar.live.spec import parse_source

from .editor import PoseEditor
from .gallery_actions import GalleryActions
from .library import AvatarLibrary
from .model_loading import ModelLoading
from .output_actions import OutputActions
from .paths import avatars_dir
from .pose_actions import PoseActions
from .provenance_check import ProvenanceCheck
from .session import LiveSession
from .settings import AppSettings
from .store import AvatarStore
from .tasks import TaskPool
from .widgets.avatars_header import AvatarsHeader
from .widgets.controls import stats_line, stats_tooltip
from .widgets.frame_view import FrameView
from .widgets.gallery import GalleryView
from .widgets.help import HelpOverlay
from .widgets.model_banner import ModelBanner
from .widgets.side_column import SideColumn
from .widgets.status import StatusArea
from .window_settings import WindowSettings, background_of

VIDEO_FILTER = "Videos (*.mp4 *.mov *.avi *.mkv *.webm *.mpg *.mpeg *.m4v);;All files (*)"
AVATAR_SUFFIX = ".avatar"
AVATAR_PLACEHOLDER = (
    "Your avatar appears here: add a portrait (a photo, a painting, a statue) or try the sample portrait"
)

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
        self._sources_loaded = False
        self._cameras: list[tuple[str, str]] = []
        self._build_ui()
        self._build_parts()
        self._build_actions()
        self._wire()
        self.choices.restore(self.restoreGeometry, self.resize, engine=self.options.engine, source=self.options.source)
        QTimer.singleShot(0, self.model_loading.load)

    # ------------------------------------------------------------------ layout

    def _build_ui(self) -> None:
        central = QWidget()
        self.setCentralWidget(central)
        root = QHBoxLayout(central)
        root.setContentsMargins(10, 10, 10, 10)
        root.setSpacing(10)

        main = QVBoxLayout()
        main.setSpacing(6)
        self.banner_box = ModelBanner()
        self.banner, self.open_model = self.banner_box.label, self.banner_box.open_button
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
        self.provenance = ProvenanceCheck(self.loader, self.status)  # files dropped that are not portraits
        main.addWidget(self.status)

        self.header = h = AvatarsHeader()
        self.add_button, self.sample_button, self.build_bar = h.add_button, h.sample_button, h.build_bar
        main.addWidget(self.header)
        self.gallery = GalleryView()
        self.gallery.setFixedHeight(138)
        main.addWidget(self.gallery)
        root.addLayout(main, 1)

        side = SideColumn()
        self.source_panel, self.look_panel, self.outputs_panel = side.source_panel, side.look_panel, side.outputs_panel
        self.engine_panel, self.expression_panel = side.engine_panel, side.expression_panel
        root.addWidget(side)
        self.help = HelpOverlay(SHORTCUTS, central)
        side.help_button.clicked.connect(self.help.toggle)
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
            action([str(n)], lambda _=False, n=n: self.gallery_actions.choose_avatar_number(n))
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
        action(["Ctrl+O"], self.gallery_actions.add_portraits_dialog)
        action(["F2"], self.gallery_actions.rename_current)
        action(["F1", "?"], lambda: self.help.toggle())
        action(["Ctrl+Q"], self.close)

    def _build_parts(self) -> None:
        """The window's parts: each gets the widgets it drives and callbacks, never the window."""
        post = self.status.post
        self.choices = WindowSettings(
            self.settings,
            post,
            session=self.session,
            views=self.views,
            camera_view=self.camera_view,
            look_panel=self.look_panel,
            expression_panel=self.expression_panel,
            outputs_panel=self.outputs_panel,
        )
        self.gallery_actions = GalleryActions(
            self,
            self.library,
            self.gallery,
            self.loader,
            post,
            self.header,
            checkpoint=lambda: self.checkpoint,
            avatar_chosen=self._avatar_chosen,
            remembered_avatar=lambda: self.settings.get_str("avatar"),
            gallery_ready=self._gallery_ready,
            refresh=self._update_placeholders,
            first_avatar_file=self.options.avatar,
        )
        self.model_loading = ModelLoading(
            self,
            self.loader,
            self.settings,
            self.options.checkpoint,
            probe_vcam=lambda: not self.session.vcam_on,
            loaded=self._model_loaded,
            failed=self._model_failed,
            sources_found=self._sources_found,
        )
        self.output_actions = OutputActions(self, self.outputs_panel, self.session, self.settings, post)
        self.poses = PoseActions(
            self,
            self.editor,
            self.expression_panel,
            self.avatar_view,
            self.session,
            post,
            checkpoint=lambda: self.checkpoint,
            closed=lambda: self._closed,
            last_report=lambda: self.last_report,
        )

    def _wire(self) -> None:
        s = self.session
        s.frame_ready.connect(self._on_frame)
        s.stats.connect(self._on_stats)
        s.error.connect(self._on_runner_error)
        s.state_changed.connect(lambda state: self._update_placeholders())
        s.started.connect(self._on_started)
        s.stopped.connect(lambda reason: self.status.post(f"The live view stopped: {reason}", "warning", key="stopped"))
        self.open_model.clicked.connect(self.open_model_dialog)
        self.source_panel.source_chosen.connect(self.set_source)
        self.source_panel.browse_requested.connect(self.choose_video_dialog)
        self.engine_panel.engine_chosen.connect(lambda engine: self._update_options(engine=engine))
        lp = self.look_panel
        lp.size_chosen.connect(lambda w, h: self._update_options(output_size=(w, h)))
        lp.background_chosen.connect(self._set_background)
        lp.option_toggled.connect(lambda name, on: self._update_options(**{name: on}))
        lp.mode_chosen.connect(lambda mode: self._update_options(mode=mode))
        lp.calibrate_requested.connect(self.calibrate)
        lp.landmarks_toggled.connect(self._set_landmarks)
        self.expression_panel.controls_changed.connect(lambda controls: self._update_options(expression=controls))

    # ------------------------------------------------------------------ the gallery's and the poses' calls

    def _avatar_chosen(self, avatar) -> None:
        self.session.set_avatar(avatar)
        self._update_placeholders()
        self.poses.repose()  # in edit mode: the new avatar, same pose

    def _gallery_ready(self) -> None:
        self.session.preview_without_avatar = True

    def choose_avatar(self, entry_id: str | None) -> None:
        self.gallery_actions.choose_avatar(entry_id)

    def delete_avatar(self, entry_id: str, confirm: bool = True) -> None:
        self.gallery_actions.delete_avatar(entry_id, confirm)

    def add_portraits(self, paths: list[Path], name: str | None = None) -> None:
        self.gallery_actions.add_portraits(paths, name)

    def save_still(self, path: Path) -> None:
        self.poses.save_still(path)

    # ------------------------------------------------------------------ startup

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
        self.banner_box.show_problem(exc)
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
        path = self.model_loading.open_dialog()
        if path is not None:
            self.options = replace(self.options, checkpoint=path)
            self.camera_view.set_placeholder("Loading the model…")
            self.model_loading.load()

    def _sources_found(self, found) -> None:
        cameras, availability, vcam_problem = found
        self._sources_loaded = True
        self._cameras = cameras
        current = self.choices.source_text or (cameras[0][0] if cameras else None)
        self.source_panel.set_sources(cameras, self.choices.recent, current)
        self.engine_panel.set_engines(availability, self.session.options.engine)
        if vcam_problem and not self.session.vcam_on:  # said before it is asked for, as doctor says it
            self.outputs_panel.show_vcam_unavailable(vcam_problem)
        if not self.choices.source_text and cameras:
            self.set_source(cameras[0][0])

    # ------------------------------------------------------------------ source, engine, look

    def set_source(self, text: str) -> None:
        try:
            source = parse_source(text)
        except LiveAvatarError as exc:
            self.status.post(str(exc), "error")
            return
        self.choices.remember_source(text, source.kind == "video")
        if source.kind == "video":
            self.source_panel.set_sources(self._cameras, self.choices.recent, text)
        self._update_options(source=source)

    def choose_video_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Choose a video of a face", "", VIDEO_FILTER)
        if path:
            self.set_source(path)

    def _set_background(self, kind: str, colour) -> None:
        self._update_options(background=background_of(kind, colour or self.look_panel.colour))
        self.poses.repose()

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

    # ------------------------------------------------------------------ live view

    def _on_frame(self) -> None:
        report: FrameReport | None = self.session.take_frame()
        if report is None or self._closed:
            return
        self.last_report = report
        points = report.landmarks.points68 if report.landmarks is not None else None
        self.camera_view.message = report.message
        self.camera_view.show_frame(report.camera, points)
        editing = self.poses.editing
        if report.output is None:  # the camera preview: no avatar yet
            if self.avatar_view.has_frame and not editing:
                self.avatar_view.caption = "Avatar"
                self.avatar_view.clear(AVATAR_PLACEHOLDER)
            self.preview_frames += 1
            self.preview_shown.emit(self.preview_frames)
            return
        if not editing:  # in edit mode the avatar view shows the hand-set pose
            self.avatar_view.caption, self.avatar_view.message = report.avatar, ""
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

    def _on_started(self, engine: str, skipped: list) -> None:
        self.engine_panel.set_running(engine)
        self.status.dismiss("stopped")

    def _update_placeholders(self) -> None:
        if self.session.state == "previewing":  # the camera shows; the avatar side says what it waits for
            self.avatar_view.set_placeholder(AVATAR_PLACEHOLDER)
            return
        if self.camera_view.has_frame and self.session.state == "running":
            return
        loaded = self.checkpoint is not None
        text = _waiting_text(loaded, self.checkpoint_problem, self.gallery_actions.loaded, self.session)
        self.camera_view.set_placeholder(text)
        show_still_avatar(self.avatar_view, self.session.avatar if why_not_running(self.session) else None)

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
            self.gallery_actions.import_avatar_files(avatars)
        if others and not images and not avatars:
            self.set_source(str(others[0]))  # a video dropped on the window drives the avatar
        for path in images + others:  # and the status says whether it is LiveAvatar output (issue 24)
            self.provenance.check(path)
        event.acceptProposedAction()

    def closeEvent(self, event) -> None:  # noqa: N802
        """Stops everything before the window goes: the build is cancelled (nothing half-saved), the run is
        stopped with its recording finalised, and every worker thread has ended when this returns."""
        if not self._closed:
            self._closed = True
            self.choices.save(self.saveGeometry(), self.gallery, self.library)
            self.library.shutdown()
            self.loader.shutdown()
            self.editor.shutdown()
            self.session.shutdown()
        super().closeEvent(event)

    def settled_without_run(self) -> str:
        """Why no run is going once startup has finished ("" while starting or running): screenshots fail fast."""
        if self.checkpoint is None and self.checkpoint_problem:
            return self.checkpoint_problem
        if not (self.gallery_actions.loaded and self._sources_loaded) or self.session.state != "idle":
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
            and self.gallery_actions.loaded
            and not self.library.building
            and not (self.loader.busy or self.session.controls.busy)
        )

    def worker_threads_busy(self) -> bool:
        """True while any of the window's worker pools still runs something (tests check it after close)."""
        pools = (self.loader, self.session.controls, self.library.io, self.library.builds)
        return any(p.busy or p.active_threads() for p in pools)


STILL_NOTE = "Not moving: nothing drives it. Choose “Video file…” in Source, or tick “Pose by hand”"


def why_not_running(session: LiveSession) -> str:
    """Why no run can start (no camera, no avatar…), or "" when one can or does."""
    return "" if session.state in ("starting", "running") else session.can_run()


def show_still_avatar(view: FrameView, avatar) -> None:
    """The avatar pane while nothing drives the chosen avatar (no camera, say): its portrait as a still and
    how to make it move, rather than a blank pane; with no avatar (avatar None), the pane is empty."""
    if avatar is None:
        if view.message == STILL_NOTE:
            view.caption, view.message = "Avatar", ""
            view.clear("")
        view.set_placeholder("")
        return
    view.caption, view.message = avatar.name, STILL_NOTE
    view.show_frame(avatar.portrait)


def _waiting_text(model_loaded: bool, model_problem: str, gallery_loaded: bool, session: LiveSession) -> str:
    """What the camera pane says while no frame shows: what startup is doing, or why nothing runs."""
    if not model_loaded:
        return "No model is loaded: see the message above" if model_problem else "Loading the model…"
    if not gallery_loaded:
        return "Loading your avatars…"
    why = session.can_run()
    if session.state == "starting":
        return "Starting…"
    if why:
        return why[:1].upper() + why[1:]
    return "Stopped"
