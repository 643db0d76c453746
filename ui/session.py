"""LiveSession: the app's one live run, kept on worker threads; the window only calls and listens.

The session owns the current Runner and its RunnerBridge. Everything that may block (opening a source or
an engine, starting and stopping the runner, opening a virtual camera, a recording file or a port) runs
on `controls`, a one-thread TaskPool, so those calls keep their order and the GUI thread never waits.
Cheap thread-safe controls (calibrate, mode, expression gains, background, mirror, avatar switch) go
straight to the runner.

A change that the runner cannot make while running (source, engine, output size) restarts it: the old
run is stopped (its recording finalised) and a new one started with the same avatar and outputs; the
virtual camera and the stream are turned back on when they were on.

With a source but no avatar (a new user's first minute, or every avatar deleted), and once the window has
said `preview_without_avatar` (its gallery is loaded, so "no avatar" is a fact, not a moment of startup),
a CameraPreview runs instead of the runner: the camera pane shows the camera and the tracked face, in the
"previewing" state. Choosing an avatar replaces it with a real run.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, replace
from pathlib import Path

from PySide6.QtCore import QObject, Signal

from liveavatar.avatar import Avatar
from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.live.events import FrameReport, RunnerError, SinkState
from liveavatar.live.spec import (
    DEFAULT_HTTP_PORT,
    DEFAULT_OUTPUT_SIZE,
    Background,
    Mode,
    RunnerConfig,
    SinkSpec,
    SourceSpec,
)
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.pipeline.camera_preview import CameraPreview

from .bridge import RunnerBridge
from .tasks import Task, TaskPool

STOP_TIMEOUT_S = 15.0
OUTPUT_NAMES = {"vcam": "the virtual camera", "http": "the stream", "record": "the recording"}


@dataclass(frozen=True)
class LiveOptions:
    """What a run is started with; the window keeps one and the session restarts when it changes."""

    source: SourceSpec | None = None
    engine: str = "auto"
    output_size: tuple[int, int] = DEFAULT_OUTPUT_SIZE
    background: Background = field(default_factory=Background)
    mirror: bool = False
    driver_mouth: bool = True
    creases: bool = True
    mode: Mode = "relative"
    expression: ExpressionControls = field(default_factory=ExpressionControls)


class LiveSession(QObject):
    frame_ready = Signal()
    stats = Signal(object)  # RunStats
    sink_state = Signal(object)  # SinkState
    error = Signal(object)  # RunnerError (also used for failures of the session's own tasks)
    state_changed = Signal(str)  # "idle" | "starting" | "running" | "previewing" | "stopping"
    started = Signal(str, list)  # engine name, why faster engines were skipped
    stopped = Signal(str)  # reason
    output_failed = Signal(str, str)  # "vcam" | "http" | "record", the message (the output is off again)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.controls = TaskPool("controls", threads=1)
        self.checkpoint: Checkpoint | None = None
        self.options = LiveOptions()
        self.avatar: Avatar | None = None
        self.vcam_on = False
        self.http_on = False
        self.http_port = DEFAULT_HTTP_PORT
        self.http_token: bool | str = True  # the main window sets the one kept in the settings
        self._lock = threading.Lock()
        self._current: tuple | None = None  # (Runner or CameraPreview, RunnerBridge) going now, under the lock
        self._bridge: RunnerBridge | None = None  # the bridge of the newest run (GUI thread)
        self._state = "idle"
        self._closing = False
        self.engine_name = ""
        self.engine_skipped: list[str] = []
        self.preview_without_avatar = False  # set by the window once "no avatar" is known, not just pending

    # ------------------------------------------------------------------ state

    @property
    def state(self) -> str:
        return self._state

    def _set_state(self, state: str) -> None:
        if state != self._state:
            self._state = state
            self.state_changed.emit(state)

    @property
    def runner(self):
        """The Runner going now, or None (also while only the camera preview runs)."""
        with self._lock:
            current = self._current[0] if self._current is not None else None
        return None if isinstance(current, CameraPreview) else current

    def can_preview(self) -> bool:
        """Whether the camera alone can be shown: a source that needs no avatar, and no avatar to drive."""
        source = self.options.source
        return self.preview_without_avatar and self.avatar is None and source is not None and source.kind != "scripted"

    def can_run(self) -> str:
        """Empty when a run can start, else what is missing, in words for the user."""
        if self.checkpoint is None:
            return "no model is loaded"
        if self.avatar is None:
            return "no avatar is chosen: add a portrait"
        if self.options.source is None:
            return "no source is chosen"
        return ""

    def take_frame(self) -> FrameReport | None:
        bridge = self._bridge
        return bridge.take_frame() if bridge is not None else None

    # ------------------------------------------------------------------ run lifecycle

    def set_checkpoint(self, checkpoint: Checkpoint | None) -> None:
        self.checkpoint = checkpoint
        self.restart()

    def set_options(self, options: LiveOptions) -> None:
        """Applies new options: live ones at once, the others by restarting the run."""
        old, self.options = self.options, options
        runner = self.runner
        if (old.source, old.engine, old.output_size) != (options.source, options.engine, options.output_size):
            self.restart()
        elif runner is not None:
            self._apply_live_options(runner)
        elif self._state not in ("starting", "previewing"):
            self.restart()  # (a starting run gets the live options in _on_started; a preview has none)

    def _apply_live_options(self, runner) -> None:
        runner.set_background(self.options.background)
        runner.set_mirror(self.options.mirror)
        runner.set_driver_mouth(self.options.driver_mouth)
        runner.set_creases(self.options.creases)
        runner.set_mode(self.options.mode)
        runner.set_expression(self.options.expression)

    def restart(self) -> None:
        """Stops the current run (if any) and starts one with the current options, when it can run."""
        if self._closing:
            return
        can_run = not self.can_run()
        preview = not can_run and self.can_preview()
        if can_run or preview:
            self._set_state("starting")
        elif self._current is not None:
            self._set_state("stopping")
        checkpoint, options, avatar = self.checkpoint, self.options, self.avatar
        vcam = self._vcam_spec() if self.vcam_on else None
        http = self.http_port if self.http_on else None
        bridge = RunnerBridge(self) if can_run or preview else None  # made here: it lives on the GUI thread
        if bridge is not None:
            self._connect(bridge)
        self._bridge = bridge
        self.controls.submit(
            lambda task: self._restart_work(task, checkpoint, options, avatar, bridge, vcam, http, preview),
            on_done=self._on_started,
            on_failed=self._task_failed("the live view could not start"),
            name="restart",
        )

    def _restart_work(self, task: Task, checkpoint, options: LiveOptions, avatar, bridge, vcam, http, preview):
        from liveavatar.engines.registry import create_engine
        from liveavatar.pipeline.runner import Runner

        self._stop_current()
        source = options.source
        if bridge is None or source is None:  # nothing to start (a bridge is made only when a source is chosen)
            return None
        task.progress("starting", 0.0)  # a cancelled task (window closing) ends here
        if source.kind == "video":
            source = replace(source, loop=True, realtime=True)
        if preview:
            camera = CameraPreview(source, observer=bridge.observer)
            try:
                camera.start()
            except BaseException:
                bridge.detach()
                raise
            with self._lock:
                self._current = (camera, bridge)
            return camera, None
        config = RunnerConfig(
            source=source,
            engine=options.engine,
            mode=options.mode,
            background=options.background,
            mirror=options.mirror,
            driver_mouth=options.driver_mouth,
            creases=options.creases,
            output_size=options.output_size,
            expression=options.expression,
        )
        runner = Runner(config, checkpoint, avatar, bridge.observer, engine_factory=create_engine)
        try:
            runner.start()  # raises LiveAvatarError before any thread starts
        except BaseException:
            bridge.detach()
            raise
        with self._lock:
            self._current = (runner, bridge)
        # Outputs that were on come back on; each one's failure is its own (reported as a sink state).
        stream = [SinkSpec("http", port=http, token=self.http_token)] if http else []
        for spec in ([vcam] if vcam else []) + stream:
            try:
                runner.add_sink(spec)
            except LiveAvatarError:
                pass  # the runner has reported it as a failed SinkState and an error
        return runner, avatar

    def _connect(self, bridge: RunnerBridge) -> None:
        bridge.frame_ready.connect(self.frame_ready)
        bridge.stats.connect(self.stats)
        bridge.sink_state.connect(self.sink_state)
        bridge.error.connect(self.error)
        bridge.stopped.connect(self._on_runner_stopped)

    def _stop_current(self) -> None:
        """Stops and forgets the current run (controls thread, or the GUI thread at shutdown); its
        recording is finalised before this returns."""
        with self._lock:
            current, self._current = self._current, None
        if current is None:
            return
        runner, bridge = current  # (a CameraPreview stops the same way)
        runner.stop("restarting")
        runner.wait(STOP_TIMEOUT_S)
        bridge.detach()
        bridge.deleteLater()  # deleted on the GUI thread, where it lives

    def _on_started(self, result) -> None:
        if result is None:
            self._set_state("idle")
            return
        runner, avatar = result
        if isinstance(runner, CameraPreview):
            with self._lock:
                replaced = self._current is None or self._current[0] is not runner
            if not replaced:
                self._set_state("previewing")
                if not self.can_run():
                    self.restart()  # an avatar came while the preview was starting
            return
        if self.runner is not runner:
            return  # replaced meanwhile
        self.engine_name, self.engine_skipped = runner.engine_name, list(runner.engine_skipped)
        self._set_state("running")
        self.started.emit(self.engine_name, self.engine_skipped)
        self._apply_live_options(runner)  # changed while the run was starting
        if self.avatar is not None and self.avatar is not avatar:
            self.set_avatar(self.avatar)

    def _on_runner_stopped(self, reason: str) -> None:
        if self.sender() is not self._bridge:
            return  # a replaced run finishing: the new one is already starting
        self._set_state("idle")
        self.stopped.emit(reason)

    def _task_failed(self, what: str):
        def failed(exc: Exception, trace: str) -> None:
            if isinstance(exc, LiveAvatarError):
                self.error.emit(RunnerError(f"{what}: {exc}", "", False, "app"))
            else:
                self.error.emit(RunnerError(f"{what}: {exc!r} (a bug; details below)", trace, False, "app"))
            if what.startswith("the live view"):
                self._set_state("idle")

        return failed

    def shutdown(self, timeout_s: float = STOP_TIMEOUT_S) -> None:
        """Window close: cancels queued control work, waits for the running one, stops the run (every
        file finalised). Blocks the caller, which is closing anyway."""
        self._closing = True
        self.controls.shutdown(timeout_s)
        self._stop_current()

    # ------------------------------------------------------------------ live controls

    def set_avatar(self, avatar: Avatar | None) -> None:
        """Switches the avatar: at once while running (the next frame shows it), else starts a run."""
        self.avatar = avatar
        runner = self.runner
        if avatar is None or runner is None:
            if avatar is None or self._state != "starting":
                self.restart()
            return  # a run is starting: _on_started switches to this avatar
        if avatar.is_finetuned:  # it gets its own engine, built on the controls thread
            self.controls.submit(
                lambda task: runner.set_avatar(avatar), on_failed=self._task_failed(f"cannot switch to {avatar.name}")
            )
            return
        try:
            runner.set_avatar(avatar)
        except LiveAvatarError as exc:
            self.error.emit(RunnerError(f"cannot switch to {avatar.name}: {exc}", "", False, "app"))

    def calibrate(self) -> None:
        runner = self.runner
        if runner is not None:
            runner.calibrate()

    # ------------------------------------------------------------------ outputs

    def _vcam_spec(self) -> SinkSpec:
        w, h = self.options.output_size
        return SinkSpec("vcam", width=w, height=h, fps=30.0)

    def set_vcam(self, on: bool) -> None:
        self.vcam_on = on
        self._sink_task(lambda runner: runner.set_vcam(on, self._vcam_spec() if on else None), "vcam")

    def set_http(self, on: bool, port: int | None = None) -> None:
        if port is not None:
            self.http_port = port
        self.http_on = on
        port, token = self.http_port, self.http_token
        self._sink_task(lambda runner: runner.set_http(on, port, token), "http")

    def start_recording(self, path: Path) -> None:
        def work(runner) -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise InputError(
                    f"cannot create the recordings folder {path.parent} ({exc.strerror}); choose another one"
                ) from None
            runner.start_recording(path)

        self._sink_task(work, "record")

    def stop_recording(self) -> None:
        self._sink_task(lambda runner: runner.stop_recording(), "record")

    def _sink_task(self, fn, kind: str) -> None:
        """Runs a sink change on the controls thread. A failure turns the output off (output_failed);
        it also goes to the status area unless the runner reported it already (a missing device)."""

        def work(task: Task) -> None:
            runner = self.runner
            if runner is not None and runner.running:
                fn(runner)

        def failed(exc: Exception, trace: str) -> None:
            from liveavatar.errors import DeviceUnavailableError

            if kind == "vcam":
                self.vcam_on = False
            elif kind == "http":
                self.http_on = False
            self.output_failed.emit(kind, str(exc) if isinstance(exc, LiveAvatarError) else repr(exc))
            if not isinstance(exc, DeviceUnavailableError):
                self._task_failed(OUTPUT_NAMES[kind] + " could not change")(exc, trace)

        self.controls.submit(work, on_failed=failed, name=kind)

    def sink_states(self) -> dict[str, SinkState]:
        runner = self.runner
        return runner.sink_states() if runner is not None else {}
