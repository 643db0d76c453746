"""The live runner: capture → processing → inference → compose → sinks, each stage in its own thread.

    capture ──slot──► processing ──slot──► inference ──slot──► compose ──► sinks (fan-out)
    (source.read)     (track, smooth,      (the engine)        (background,    each sink encodes /
                       retarget, rasterize)                     mirror, marks)  sends in its own thread

Slots hold one item: in live mode a new frame overwrites one nobody took (counted as dropped), so the
output is always as fresh as the slowest stage allows; with RunnerConfig.lossless every frame is handed
on (offline rendering of a file into a recording).

API (the CLI's `run` and `demo` and the desktop app's Qt bridge all use exactly this)
-----------------------------------------------------------------------------------
    runner = Runner(config, checkpoint, avatar, observer, engine_factory=create_engine)
                          # nothing opened yet; engine_factory: liveavatar.engines.registry.create_engine
                          # (passed in: the core does not reach engines); source=: a ready FrameSource
    runner.start()        # opens source, engine(s) and sinks, raising LiveAvatarError for bad input
                          # before any thread starts; then starts the threads and returns
    runner.wait(timeout)  # True once the run has stopped (source ended, duration reached, stop()); on the
                          # main thread it also pumps a preview window opened there (sinks/preview.py)
    runner.stop()         # idempotent; joins every thread, closes every sink (files finalised)

Thread-safe controls, callable from any thread while running (each takes effect on the next frame):
    set_avatar(avatar)    # ψ swap; a fine-tuned avatar (own generator weights) gets its own engine,
                          # built here on the caller's thread unless add_avatar() prepared it before
    add_avatar(avatar)    # prepares (checks + builds the engine of a fine-tuned avatar) without switching:
                          # call it from a worker thread when an avatar is loaded into a gallery
    remove_avatar(avatar) # releases a prepared avatar's own engine (not the current one)
    calibrate()           # the next tracked frames become the neutral pose (relative mode); a neutral
                          # that looks wrong (smiling, turned away) is reported once through on_error
    set_expression(ExpressionControls)   # per-part gains and region mode (relative mode)
    set_mode("relative" | "absolute")
    set_background(Background)      set_mirror(bool)      set_driver_mouth(bool)  set_creases(bool)
    add_sink(SinkSpec) -> key       # opens it now (raises LiveAvatarError, also reported as a SinkState)
    remove_sink(key)                # closes it now (a recording is finalised)
    start_recording(path) -> key    stop_recording(key=None)
    set_vcam(on, spec=None)         set_http(on, port=8765, token=True) -> key | None
    sink_states() -> dict[key, SinkState]      stats() -> RunStats      engine_name, engine_skipped
    source_fps, expected_frames()   # the source's frame rate; frames a lossless run will render, if known

Also for a UI, doctor's checks in liveavatar.environment.health: check_cameras() (the source menu),
virtual_camera_problem() (the virtual camera's line with its fix for this OS), collect() (every check, a
HealthReport of frozen sections); liveavatar.engines.registry.engine_availability() (the engine menu, with
why each engine cannot run); and liveavatar.pipeline.camera_preview.CameraPreview (the camera and its tracked
face before any avatar exists).

Observer (liveavatar.live.events.RunnerObserver), called from worker threads, must not block:
    on_frame(FrameReport)   every output frame: camera image, driver landmarks or None, tracker message,
                            generated face, output frame, per-stage ms, capture→sink latency
    on_stats(RunStats)      every stats_interval_s: fps, p50/p95 per stage and latency, drops per slot/sink
    on_sink_state(SinkState)  opening / running (with its address or file) / failed (with the fix) / closed
    on_error(RunnerError)   a message for the user, detail, and whether the run stopped because of it
    on_stopped(reason)      after every thread has ended and every sink is closed

A webcam that disappears is reported (on_error, not fatal); the sinks keep their last frame (the virtual
camera and the stream go on showing it) and the capture thread reopens the camera every
reconnect_interval_s until it is back. A control changed while no frame flows re-renders the last camera
frame, so the change shows at once.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from liveavatar.avatar import Avatar
from liveavatar.capture import FrameSource, open_source
from liveavatar.errors import InputError
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.live.events import GuardedObserver, RunnerError, RunnerObserver, RunStats, SinkState
from liveavatar.live.spec import MODES, Background, Mode, RunnerConfig, SinkSpec
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.pipeline.avatar_engines import AvatarEngines, EngineFactory
from liveavatar.pipeline.live_loop import THREAD_PREFIX, LiveLoop
from liveavatar.pipeline.sink_set import SinkSet, precheck_sink
from liveavatar.types import FaceLandmarks

log = logging.getLogger(__name__)


class Runner:
    """See the module docstring. One Runner runs once: start() after stop() raises RuntimeError."""

    def __init__(
        self,
        config: RunnerConfig,
        checkpoint: Checkpoint,
        avatar: Avatar,
        observer: RunnerObserver | None = None,
        source: FrameSource | None = None,
        *,
        engine_factory: EngineFactory,
    ) -> None:
        """source: an already opened FrameSource to use instead of opening config.source (the runner
        closes it when it stops); for sources the config cannot describe."""
        self.config = config
        self.checkpoint = checkpoint
        self.observer = observer or RunnerObserver()
        self._report = GuardedObserver(self.observer, lambda method: log.exception("observer %s failed", method))
        self._initial_avatar = avatar
        self._lock = threading.Lock()  # guards start/stop
        self._avatars = AvatarEngines(checkpoint, config.engine, engine_factory)
        self._sinks = SinkSet(
            config.output_size,
            config.lossless,
            lambda: self.source_fps,
            self._report.on_sink_state,
            lambda message, detail, key: self._error(message, detail, source=key),
            lambda key: self._finish(f"{key} closed"),  # a sink asked to end the run (preview window closed)
            checkpoint.sha256,
        )
        self._loop = LiveLoop(
            config,
            checkpoint.config.image_size,
            self._report,
            self._sinks.send,
            self._finish,
            self.stats,
        )
        self._stopped = threading.Event()
        self._started = False
        self._stopping = False
        self._stop_reason = "stopped"
        self._source = source
        self._stopper: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Opens everything (raising LiveAvatarError before any thread starts), then starts the threads."""
        with self._lock:
            if self._started:
                raise RuntimeError("a Runner runs once; create a new one")
            self._started = True
        try:
            self._avatars.check(self._initial_avatar)
            # Sinks whose input can be wrong (ports, folders) are checked before the costly parts.
            for spec in self.config.sinks:
                precheck_sink(spec)
            self._avatars.open()
            self._loop.avatar = self._avatars.prepare(self._initial_avatar)
            if self._source is None:
                size = self.checkpoint.config.image_size
                base = FaceLandmarks(self._initial_avatar.landmarks.astype("float32"), (size, size))
                self._source = open_source(self.config.source, scripted_base=base)
            for spec in self.config.sinks:
                self._sinks.open(spec, raise_device_errors=False)
        except BaseException:
            self._close_everything()
            self._stopped.set()
            raise
        self._loop.start(self._source, self.source_fps)

    def stop(self, reason: str = "stopped") -> None:
        """Stops the run: joins the threads, closes the source, the sinks (files finalised) and engines."""
        with self._lock:
            if not self._started or self._stopping:
                return
            self._stopping = True
            self._stop_reason = reason
        self._loop.stop()
        self._close_everything()
        self._report.on_stopped(self._stop_reason)
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the run has fully stopped; returns False on timeout. On the main thread it pumps
        the sinks that need it (a preview window opened there), also once more after the stop so they
        can close their window on the thread that owns it."""
        pumped = self._sinks.pumped
        if threading.current_thread() is threading.main_thread() and pumped:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                done = self._stopped.wait(0.005)
                for sink in list(pumped):
                    sink.pump()
                if done:
                    pumped.clear()
                    break
                if deadline is not None and time.monotonic() >= deadline:
                    return False
        elif not self._stopped.wait(timeout):
            return False
        stopper = self._stopper
        if stopper is not None and stopper is not threading.current_thread():
            stopper.join()  # it has set _stopped as its last step: this returns at once
        return True

    @property
    def running(self) -> bool:
        return self._started and not self._stopped.is_set()

    @property
    def stop_reason(self) -> str:
        return self._stop_reason

    @property
    def engine_name(self) -> str:
        return self._avatars.engine_name

    @property
    def engine_skipped(self) -> list[str]:
        return self._avatars.engine_skipped

    @property
    def source_fps(self) -> float:
        """The source's nominal frame rate (30 while no source is open or it does not say)."""
        return float(self._source.fps or 30.0) if self._source is not None else 30.0

    def expected_frames(self) -> int | None:
        """Frames a lossless run will render (the source's length, cut by duration_s), when known."""
        total = self._source.frame_count if self._source is not None else None
        if total and self.config.duration_s:
            total = min(total, round(self.config.duration_s * self.source_fps))
        return total

    def _finish(self, reason: str) -> None:
        """A worker found the end (source ended, duration, fatal error): stop from a fresh thread, since a
        worker cannot join itself."""
        if self._loop.stop_event.is_set():
            return
        stopper = threading.Thread(target=self.stop, args=(reason,), name=THREAD_PREFIX + "stopper", daemon=False)
        self._stopper = stopper
        stopper.start()

    def _close_everything(self) -> None:
        self._sinks.close_all()
        if self._source is not None:
            try:
                self._source.close()
            except Exception:  # noqa: BLE001 - closing must go on for the other parts
                log.exception("closing the source")
            self._source = None
        self._avatars.close()

    # ------------------------------------------------------------------ avatars

    def add_avatar(self, avatar: Avatar) -> None:
        """Checks an avatar and builds its engine if it is fine-tuned, so set_avatar is instant later."""
        if not self._avatars.is_open:
            raise RuntimeError("start() the runner before adding avatars")
        self._avatars.prepare(avatar)

    def remove_avatar(self, avatar: Avatar) -> None:
        self._avatars.remove(avatar, self._loop.avatar)

    def set_avatar(self, avatar: Avatar) -> None:
        """Switches the avatar; the next processed frame uses it. Raises AvatarError for a mismatched one."""
        if not self._avatars.is_open:
            self._avatars.check(avatar)
            self._initial_avatar = avatar
            return
        self._loop.avatar = self._avatars.prepare(avatar)
        self._refresh_if_stalled()

    @property
    def avatar(self) -> Avatar:
        current = self._loop.avatar
        return current.avatar if current is not None else self._initial_avatar

    # ------------------------------------------------------------------ controls

    def calibrate(self) -> None:
        self._loop.processor.calibrate()
        self._refresh_if_stalled()

    def set_expression(self, controls: ExpressionControls) -> None:
        """Per-part gains and region mode; the next processed frame uses them."""
        if not isinstance(controls, ExpressionControls):
            raise TypeError(f"expected ExpressionControls, got {type(controls).__name__}")
        self._loop.processor.controls = controls  # one attribute swap: the processing thread sees old or new
        self._refresh_if_stalled()

    @property
    def expression(self) -> ExpressionControls:
        return self._loop.processor.controls

    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise InputError(f"mode {mode!r}: choose relative or absolute")
        self._loop.mode = mode
        self._refresh_if_stalled()

    def set_background(self, background: Background) -> None:
        self._loop.background = background
        self._refresh_if_stalled()

    def set_mirror(self, mirror: bool) -> None:
        self._loop.mirror = bool(mirror)

    def set_driver_mouth(self, on: bool) -> None:
        """Lay the driver's own mouth inside the avatar's open lips (warp presets), or let G paint it."""
        self._loop.driver_mouth = bool(on)
        self._refresh_if_stalled()

    def set_creases(self, on: bool) -> None:
        """Lay the driver's creases and shading on the avatar's face (warp presets), or keep the portrait's."""
        self._loop.creases = bool(on)
        self._refresh_if_stalled()

    def _refresh_if_stalled(self) -> None:
        self._loop.refresh_if_stalled(self.running)

    @property
    def mode(self) -> Mode:
        return self._loop.mode

    # ------------------------------------------------------------------ sinks (see pipeline/sink_set.py)

    def add_sink(self, spec: SinkSpec) -> str:
        """Opens a sink now and feeds it from the next frame. Raises LiveAvatarError if it cannot open."""
        return self._sinks.add(spec)

    def remove_sink(self, key: str) -> None:
        self._sinks.remove(key)

    def start_recording(self, path: str | Path) -> str:
        return self._sinks.start_recording(path)

    def stop_recording(self, key: str | None = None) -> None:
        self._sinks.stop_recording(key)

    def set_vcam(self, on: bool, spec: SinkSpec | None = None) -> str | None:
        return self._sinks.set_vcam(on, spec)

    def set_http(self, on: bool, port: int = 8765, token: bool | str = True) -> str | None:
        return self._sinks.set_http(on, port, token)

    def sink_states(self) -> dict[str, SinkState]:
        return self._sinks.states()

    # ------------------------------------------------------------------ reporting

    def _error(self, message: str, detail: str = "", fatal: bool = False, source: str = "") -> None:
        self._report.on_error(RunnerError(message, detail, fatal, source))

    def stats(self) -> RunStats:
        loop = self._loop
        timing = loop.timing
        stages = {name: timing.percentiles(name) for name in timing.names() if name != "latency"}
        dropped = {
            "capture": loop.capture_slot.dropped,
            "processed": loop.work_slot.dropped,
            "rendered": loop.render_slot.dropped,
        }
        dropped.update(self._sinks.dropped())
        return RunStats(
            fps=timing.fps(),
            stages=stages,
            latency=timing.percentiles("latency"),
            dropped=dropped,
            frames=loop.frames,
            elapsed_s=time.monotonic() - loop.t0 if loop.t0 else 0.0,
            engine=self.engine_name,
        )
