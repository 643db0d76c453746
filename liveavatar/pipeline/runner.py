"""The live runner: capture → processing → inference → sinks, each stage in its own thread.

    capture thread ──slot──► processing thread ──slot──► inference thread ──► sinks (fan-out)
    (source.read)            (track, smooth,              (engine.infer, compose:     each sink encodes /
                              retarget, rasterize)         background, mirror, AI)    sends in its own thread

Slots hold one item: in live mode a new frame overwrites one nobody took (counted as dropped), so the
output is always as fresh as the slowest stage allows; with RunnerConfig.lossless every frame is handed
on (offline rendering of a file into a recording).

API (the CLI's `run` and `demo` and the desktop app's Qt bridge all use exactly this)
-----------------------------------------------------------------------------------
    runner = Runner(config, checkpoint, avatar, observer)   # nothing opened yet (source=: a ready
                                                            # FrameSource instead of config.source)
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
    set_background(Background)      set_mirror(bool)
    add_sink(SinkSpec) -> key       # opens it now (raises LiveAvatarError, also reported as a SinkState)
    remove_sink(key)                # closes it now (a recording is finalised)
    start_recording(path) -> key    stop_recording(key=None)
    set_vcam(on, spec=None)         set_http(on, port=8765, token=True) -> key | None
    sink_states() -> dict[key, SinkState]      stats() -> RunStats      engine_name, engine_skipped

Also for a UI: liveavatar.capture.list_cameras() (the source menu), liveavatar.sinks.vcam.vcam_fix() (the
virtual camera's fix for this OS), liveavatar.commands.doctor.collect() (every check, as a dict), and
liveavatar.pipeline.camera_preview.CameraPreview (the camera and its tracked face before any avatar exists).

Observer (liveavatar.pipeline.events.RunnerObserver), called from worker threads, must not block:
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
import traceback
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.avatar import Avatar
from liveavatar.errors import AvatarError, InputError, LiveAvatarError
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.pipeline.config import MODES, Background, Mode, RunnerConfig, SinkSpec
from liveavatar.pipeline.events import FrameReport, RunnerError, RunnerObserver, RunStats, SinkState
from liveavatar.pipeline.slots import CLOSED, LatestSlot
from liveavatar.pipeline.stages import Composer, Driven, Processor
from liveavatar.pipeline.timing import TimingWindow
from liveavatar.types import Frame

log = logging.getLogger(__name__)

THREAD_PREFIX = "liveavatar-"
JOIN_TIMEOUT_S = 10.0
STALLED_S = 0.3  # no output for this long: a control change re-renders the last frame
JIT_MARGIN_MS = 3.0  # least slack so a processed frame is ready a little before inference frees up


@dataclass(frozen=True)
class PreparedAvatar:
    """An avatar checked against the checkpoint, with the engine that renders it."""

    avatar: Avatar
    engine: Any  # GeneratorEngine
    own_engine: bool  # True for a fine-tuned avatar: its engine is closed when it is removed
    psi: np.ndarray  # 1×L float32, ready for the engine


@dataclass
class _Captured:
    captured: Any  # capture.Captured
    index: int


@dataclass
class _Work:
    captured: Any
    index: int
    avatar: PreparedAvatar
    driven: Driven
    timings: dict[str, float]


class Runner:
    """See the module docstring. One Runner runs once: start() after stop() raises RuntimeError."""

    def __init__(
        self,
        config: RunnerConfig,
        checkpoint: Checkpoint,
        avatar: Avatar,
        observer: RunnerObserver | None = None,
        source: Any = None,
    ) -> None:
        """source: an already opened FrameSource to use instead of opening config.source (the runner
        closes it when it stops); for sources the config cannot describe."""
        self.config = config
        self.checkpoint = checkpoint
        self.observer = observer or RunnerObserver()
        self._initial_avatar = avatar
        self._lock = threading.RLock()  # guards sinks, prepared avatars, start/stop
        self._mode: Mode = config.mode
        self._background: Background = config.background
        self._mirror = config.mirror
        self._avatar: PreparedAvatar | None = None
        self._prepared: dict[int, PreparedAvatar] = {}
        self._sinks: dict[str, Any] = {}
        self._sink_states: dict[str, SinkState] = {}
        self._stop = threading.Event()
        self._stopped = threading.Event()
        self._started = False
        self._stopping = False
        self._stop_reason = "stopped"
        self._threads: list[threading.Thread] = []
        self._source = source
        self._base_engine = None
        self.engine_name = ""
        self.engine_skipped: list[str] = []
        self._timing = TimingWindow()
        self._frames = 0
        self._t0 = 0.0
        self._reported: set[str] = set()
        self._end_reason = "source ended"
        self._stopper: threading.Thread | None = None
        self._last_captured: _Captured | None = None
        self._last_output_t = 0.0
        self._render_ms = 0.0  # moving averages: inference+compose+sinks per frame, processing per frame
        self._process_ms = 0.0
        self._neutrals_checked = 0
        self._closed_drops: dict[str, int] = {}  # drops of sinks already closed, kept for the final stats
        self._pumped: list[Any] = []  # sinks whose window the main thread drives (see wait())
        lossless = config.lossless
        self._capture_slot: LatestSlot[_Captured] = LatestSlot("capture", lossless)
        self._work_slot: LatestSlot[_Work] = LatestSlot("processed", lossless)
        self._processor = Processor(config.tracking, checkpoint.config.image_size)
        self._processor.controls = config.expression
        self._composer = Composer(*config.output_size)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        """Opens everything (raising LiveAvatarError before any thread starts), then starts the threads."""
        from liveavatar.capture import open_source
        from liveavatar.engines.registry import create_engine

        with self._lock:
            if self._started:
                raise RuntimeError("a Runner runs once; create a new one")
            self._started = True
        try:
            self._check_avatar(self._initial_avatar)
            # Sinks whose input can be wrong (ports, folders) are checked before the costly parts.
            for spec in self.config.sinks:
                _precheck_sink(spec)
            choice = create_engine(self.config.engine, self.checkpoint)
            self._base_engine = choice.engine
            self.engine_name = choice.engine.name
            self.engine_skipped = list(choice.skipped)
            self._avatar = self._prepare(self._initial_avatar)
            from liveavatar.types import FaceLandmarks

            size = self.checkpoint.config.image_size
            base = FaceLandmarks(np.asarray(self._initial_avatar.landmarks, np.float32), (size, size))
            if self._source is None:
                self._source = open_source(self.config.source, scripted_base=base)
            for spec in self.config.sinks:
                self._open_sink(spec, raise_device_errors=False)
        except BaseException:
            self._close_everything()
            self._stopped.set()
            raise
        self._t0 = time.monotonic()
        for name, target in (
            ("capture", self._capture_loop),
            ("processing", self._processing_loop),
            ("inference", self._inference_loop),
        ):
            thread = threading.Thread(target=target, name=THREAD_PREFIX + name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self, reason: str = "stopped") -> None:
        """Stops the run: joins the threads, closes the source, the sinks (files finalised) and engines."""
        with self._lock:
            if not self._started or self._stopping:
                return
            self._stopping = True
            self._stop_reason = reason
        self._stop.set()
        self._capture_slot.close()
        self._work_slot.close()
        me = threading.current_thread()
        for thread in self._threads:
            if thread is not me:
                thread.join(JOIN_TIMEOUT_S)
                if thread.is_alive():
                    self._error(f"{thread.name} did not stop within {JOIN_TIMEOUT_S:.0f} s", fatal=True)
        self._close_everything()
        self._notify("on_stopped", self._stop_reason)
        self._stopped.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Blocks until the run has fully stopped; returns False on timeout. On the main thread it pumps
        the sinks that need it (a preview window opened there), also once more after the stop so they
        can close their window on the thread that owns it."""
        if threading.current_thread() is threading.main_thread() and self._pumped:
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                done = self._stopped.wait(0.005)
                for sink in list(self._pumped):
                    sink.pump()
                if done:
                    self._pumped.clear()
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

    def _finish(self, reason: str) -> None:
        """A worker found the end (source ended, duration, fatal error): stop from a fresh thread, since a
        worker cannot join itself."""
        if self._stop.is_set():
            return
        stopper = threading.Thread(target=self.stop, args=(reason,), name=THREAD_PREFIX + "stopper", daemon=False)
        self._stopper = stopper
        stopper.start()

    def _close_everything(self) -> None:
        with self._lock:
            sinks = list(self._sinks.items())
            self._sinks.clear()
        for key, sink in sinks:
            self._close_sink(key, sink)
        if self._source is not None:
            try:
                self._source.close()
            except Exception:  # noqa: BLE001 - closing must go on for the other parts
                log.exception("closing the source")
            self._source = None
        with self._lock:
            engines = [p.engine for p in self._prepared.values() if p.own_engine]
            self._prepared.clear()
        if self._base_engine is not None:
            engines.append(self._base_engine)
            self._base_engine = None
        for engine in engines:
            try:
                engine.close()
            except Exception:  # noqa: BLE001
                log.exception("closing an engine")

    # ------------------------------------------------------------------ avatars

    def _check_avatar(self, avatar: Avatar) -> None:
        ckpt = self.checkpoint
        if avatar.checkpoint_sha256 and ckpt.sha256 and avatar.checkpoint_sha256 != ckpt.sha256:
            raise AvatarError(
                f"avatar {avatar.name} was built with checkpoint {avatar.checkpoint_sha256[:12]}…, not with the "
                f"loaded checkpoint {ckpt.sha256[:12]}…; rebuild it with `liveavatar avatar` and this checkpoint"
            )
        size = ckpt.config.image_size
        if avatar.landmarks.shape != (68, 2) or avatar.crop.shape[:2] != (size, size):
            raise AvatarError(f"avatar {avatar.name} has {avatar.crop.shape[0]} px crops; this model needs {size}")

    def _prepare(self, avatar: Avatar) -> PreparedAvatar:
        from liveavatar.engines.registry import create_engine

        key = id(avatar)
        with self._lock:
            prepared = self._prepared.get(key)
        if prepared is not None:
            return prepared
        self._check_avatar(avatar)
        if avatar.is_finetuned:
            engine = create_engine(self.config.engine, self.checkpoint, avatar.generator_weights).engine
            own = True
        else:
            engine, own = self._base_engine, False
        psi = np.ascontiguousarray(avatar.psi, np.float32).reshape(1, -1)
        if psi.shape[1] != engine.psi_size:
            if own:
                engine.close()
            raise AvatarError(
                f"avatar {avatar.name} has ψ of size {psi.shape[1]}; this model needs {engine.psi_size} "
                "(built for another preset): rebuild it with this checkpoint"
            )
        prepared = PreparedAvatar(avatar, engine, own, psi)
        with self._lock:
            self._prepared[key] = prepared
        return prepared

    def add_avatar(self, avatar: Avatar) -> None:
        """Checks an avatar and builds its engine if it is fine-tuned, so set_avatar is instant later."""
        if self._base_engine is None:
            raise RuntimeError("start() the runner before adding avatars")
        self._prepare(avatar)

    def remove_avatar(self, avatar: Avatar) -> None:
        with self._lock:
            current = self._avatar
            if current is not None and current.avatar is avatar:
                return
            prepared = self._prepared.pop(id(avatar), None)
        if prepared is not None and prepared.own_engine:
            prepared.engine.close()

    def set_avatar(self, avatar: Avatar) -> None:
        """Switches the avatar; the next processed frame uses it. Raises AvatarError for a mismatched one."""
        if self._base_engine is None:
            self._check_avatar(avatar)
            self._initial_avatar = avatar
            return
        self._avatar = self._prepare(avatar)
        self._refresh_if_stalled()

    @property
    def avatar(self) -> Avatar:
        return self._avatar.avatar if self._avatar is not None else self._initial_avatar

    # ------------------------------------------------------------------ controls

    def calibrate(self) -> None:
        self._processor.calibrate()
        self._refresh_if_stalled()

    def set_expression(self, controls: ExpressionControls) -> None:
        """Per-part gains and region mode; the next processed frame uses them."""
        if not isinstance(controls, ExpressionControls):
            raise TypeError(f"expected ExpressionControls, got {type(controls).__name__}")
        self._processor.controls = controls  # one attribute swap: the processing thread sees old or new
        self._refresh_if_stalled()

    @property
    def expression(self) -> ExpressionControls:
        return self._processor.controls

    def set_mode(self, mode: Mode) -> None:
        if mode not in MODES:
            raise InputError(f"mode {mode!r}: choose relative or absolute")
        self._mode = mode
        self._refresh_if_stalled()

    def set_background(self, background: Background) -> None:
        self._background = background
        self._refresh_if_stalled()

    def set_mirror(self, mirror: bool) -> None:
        self._mirror = bool(mirror)
        self._refresh_if_stalled()

    def _refresh_if_stalled(self) -> None:
        """When no frame is flowing (camera lost), a control change re-renders the last camera frame, so
        the preview and the outputs show the change at once rather than with the camera's return."""
        last = self._last_captured
        if last is None or self.config.lossless or not self.running or self._stop.is_set():
            return
        if time.monotonic() - self._last_output_t < STALLED_S or self._capture_slot.peek() is not None:
            return
        from liveavatar.capture import Captured

        frame = replace(last.captured.frame, timestamp=time.monotonic())
        self._capture_slot.put(_Captured(Captured(frame, last.captured.landmarks), last.index))

    @property
    def mode(self) -> Mode:
        return self._mode

    # ------------------------------------------------------------------ sinks

    def add_sink(self, spec: SinkSpec) -> str:
        """Opens a sink now and feeds it from the next frame. Raises LiveAvatarError if it cannot open."""
        _precheck_sink(spec)
        return self._open_sink(spec, raise_device_errors=True)

    def remove_sink(self, key: str) -> None:
        with self._lock:
            sink = self._sinks.pop(key, None)
        if sink is not None:
            self._close_sink(key, sink)

    def start_recording(self, path: str | Path) -> str:
        return self.add_sink(SinkSpec("record", path=Path(path)))

    def stop_recording(self, key: str | None = None) -> None:
        with self._lock:
            keys = [k for k in self._sinks if k.startswith("record:") and (key is None or k == key)]
        for k in keys:
            self.remove_sink(k)

    def set_vcam(self, on: bool, spec: SinkSpec | None = None) -> str | None:
        if on:
            return self.add_sink(spec or SinkSpec("vcam", fps=30.0))
        self.remove_sink("vcam")
        return None

    def set_http(self, on: bool, port: int = 8765, token: bool | str = True) -> str | None:
        if on:
            return self.add_sink(SinkSpec("http", port=port, token=token))
        with self._lock:
            keys = [k for k in self._sinks if k.startswith("http:")]
        for k in keys:
            self.remove_sink(k)
        return None

    def sink_states(self) -> dict[str, SinkState]:
        with self._lock:
            return dict(self._sink_states)

    def _set_state(self, state: SinkState) -> None:
        with self._lock:
            self._sink_states[state.key] = state
        self._notify("on_sink_state", state)

    def _open_sink(self, spec: SinkSpec, raise_device_errors: bool) -> str:
        from liveavatar.errors import DeviceUnavailableError
        from liveavatar.sinks import create_sink

        key = spec.key
        with self._lock:
            if key in self._sinks:
                return key
        if spec.kind == "record":
            w, h = self.config.output_size
            spec = replace(spec, width=w, height=h, fps=spec.fps or self._source_fps())
        self._set_state(SinkState(key, "opening"))
        sink = create_sink(spec, self._set_state, self._on_sink_quit, self.config.lossless)
        try:
            detail = sink.open()
        except DeviceUnavailableError as exc:
            # A missing device (virtual camera, display) must not take the other sinks down.
            self._set_state(SinkState(key, "failed", str(exc)))
            self._error(str(exc), source=key)
            if raise_device_errors:
                raise
            return key
        except LiveAvatarError as exc:
            self._set_state(SinkState(key, "failed", str(exc)))
            raise
        with self._lock:
            self._sinks[key] = sink
        if getattr(sink, "pumped_on_main_thread", False):
            self._pumped.append(sink)
        self._set_state(SinkState(key, "running", detail))
        return key

    def _close_sink(self, key: str, sink: Any) -> None:
        self._closed_drops[key] = int(getattr(sink, "dropped", 0))
        try:
            sink.close()
        except LiveAvatarError as exc:
            self._set_state(SinkState(key, "failed", str(exc)))
            self._error(str(exc), source=key)
            return
        except Exception as exc:  # noqa: BLE001 - a bug in one sink must not stop the others closing
            self._error(f"closing {key} failed: {exc}", traceback.format_exc(), source=key)
        detail = getattr(sink, "saved_detail", "") or self._sink_states.get(key, SinkState(key, "closed")).detail
        self._set_state(SinkState(key, "closed", detail))

    def _on_sink_quit(self, key: str) -> None:
        """A sink asked to end the run (the preview window was closed)."""
        self._finish(f"{key} closed")

    def _source_fps(self) -> float:
        return float(getattr(self._source, "fps", 0) or 30.0)

    # ------------------------------------------------------------------ reporting

    def _notify(self, method: str, arg: Any) -> None:
        try:
            getattr(self.observer, method)(arg)
        except Exception:  # noqa: BLE001 - an observer bug must not stop the pipeline
            log.exception("observer %s failed", method)

    def _error(self, message: str, detail: str = "", fatal: bool = False, source: str = "") -> None:
        self._notify("on_error", RunnerError(message, detail, fatal, source))

    def _error_once(self, message: str, detail: str, source: str) -> None:
        """A failure that may repeat every frame is reported once, not 30 times a second."""
        if message not in self._reported:
            self._reported.add(message)
            self._error(message, detail, source=source)

    def stats(self) -> RunStats:
        stages = {name: self._timing.percentiles(name) for name in self._timing.names() if name != "latency"}
        dropped = {"capture": self._capture_slot.dropped, "processed": self._work_slot.dropped}
        dropped.update(self._closed_drops)
        with self._lock:
            for key, sink in self._sinks.items():
                dropped[key] = int(getattr(sink, "dropped", 0))
        return RunStats(
            fps=self._timing.fps(),
            stages=stages,
            latency=self._timing.percentiles("latency"),
            dropped=dropped,
            frames=self._frames,
            elapsed_s=time.monotonic() - self._t0 if self._t0 else 0.0,
            engine=self.engine_name,
        )

    # ------------------------------------------------------------------ threads

    def _capture_loop(self) -> None:
        from liveavatar.capture import SourceLost

        source = self._source
        cfg = self.config
        index = 0
        reason = "source ended"
        try:
            while not self._stop.is_set():
                if cfg.duration_s is not None and self._duration_reached(index):
                    reason = "duration reached"
                    break
                try:
                    captured = source.read()
                except SourceLost as exc:
                    self._error(
                        f"{exc}; the outputs keep the last frame; retrying every {cfg.reconnect_interval_s:g} s",
                        source="capture",
                    )
                    if not self._reconnect(source):
                        break
                    continue
                if captured is None:
                    break
                self._last_captured = _Captured(captured, index)
                if not self._capture_slot.put(self._last_captured, self._stop):
                    break
                index += 1
        except Exception as exc:  # noqa: BLE001
            reason = f"capture failed: {exc}"
            self._error(reason, traceback.format_exc(), fatal=True, source="capture")
        finally:
            self._end_reason = reason  # before close(): the inference thread reads it once the slots end
            if index == 0 and not self._stop.is_set():
                self._error(f"{cfg.source.describe()} gave no frames", fatal=True, source="capture")
            self._capture_slot.close()

    def _duration_reached(self, index: int) -> bool:
        if self.config.lossless:  # offline: the duration is in the source's time, so frame counts are exact
            return index >= round(self.config.duration_s * self._source_fps())
        return time.monotonic() - self._t0 >= self.config.duration_s

    def _reconnect(self, source: Any) -> bool:
        while not self._stop.wait(self.config.reconnect_interval_s):
            try:
                source.reopen()
            except LiveAvatarError:
                continue
            self._error(f"{source.name} is back", source="capture")
            return True
        return False

    def _processing_loop(self) -> None:
        try:
            while True:
                # Track the newest frame only once inference is ready to take the result: frames the
                # inference thread would never see are dropped at the capture slot, unprocessed.
                if not self._work_slot.wait_empty(self._stop) and not self._stop.is_set():
                    continue
                self._wait_until_just_in_time()
                item = self._capture_slot.get(timeout=0.25)
                if item is CLOSED:
                    break
                if item is None:
                    continue
                prepared = self._avatar
                frame = item.captured.frame
                try:
                    started = time.perf_counter()
                    driven, timings = self._processor.process(
                        frame.image, item.captured.landmarks, frame.timestamp, prepared.avatar, self._mode
                    )
                    self._process_ms = _ema(self._process_ms, (time.perf_counter() - started) * 1000)
                    if self._processor.neutrals != self._neutrals_checked:  # a new neutral: say if it looks off
                        self._neutrals_checked = self._processor.neutrals
                        if self._processor.neutral_warning:
                            self._error(self._processor.neutral_warning, source="calibration")
                except Exception as exc:  # noqa: BLE001 - a bad frame is skipped, the run goes on
                    self._error_once(f"a frame could not be processed: {exc}", traceback.format_exc(), "processing")
                    continue
                if not self._work_slot.put(_Work(item.captured, item.index, prepared, driven, timings), self._stop):
                    break
        finally:
            self._work_slot.close()
            self._processor.close()  # mediapipe is closed on the thread that used it

    def _wait_until_just_in_time(self) -> None:
        """Live mode: the inference thread has just taken a frame and is busy for ~render_ms. Start on the
        next frame only so long before it is free that the processing ends as it frees up: the frame
        then waits in no slot, and the output is younger by up to one inference time (a newer camera
        frame arrives meanwhile)."""
        if self.config.lossless or not self._render_ms:
            return
        # The margin grows with the render time, whose spread does too: starting late would leave the
        # inference thread idle, a loss of frame rate; starting early only costs some of the latency gain.
        margin = JIT_MARGIN_MS + 0.2 * self._render_ms
        wake = self._work_slot.taken_at + (self._render_ms - self._process_ms - margin) / 1000
        delay = wake - time.monotonic()
        if delay > 0:
            self._stop.wait(min(delay, 0.25))

    def _inference_loop(self) -> None:
        next_stats = time.monotonic() + self.config.stats_interval_s
        reason = None
        try:
            while True:
                item = self._work_slot.get(timeout=0.25)
                now = time.monotonic()
                if now >= next_stats:
                    next_stats = now + self.config.stats_interval_s
                    self._notify("on_stats", self.stats())
                if item is CLOSED:
                    break
                if item is None:
                    continue
                started = time.perf_counter()
                self._render(item)
                self._render_ms = _ema(self._render_ms, (time.perf_counter() - started) * 1000)
        except Exception as exc:  # noqa: BLE001
            reason = f"inference failed: {exc}"
            self._error(reason, traceback.format_exc(), fatal=True, source="inference")
        self._notify("on_stats", self.stats())
        self._finish(reason or self._end_reason)

    def _render(self, work: _Work) -> None:
        timings = work.timings
        prepared = work.avatar
        start = time.perf_counter()
        face = prepared.engine.infer(work.driven.landmark_image[None], prepared.psi)[0]
        timings["infer"] = (time.perf_counter() - start) * 1000

        start = time.perf_counter()
        output = self._composer.compose(face, prepared.avatar, self._background, self._mirror, self.config.ai_mark)
        timings["compose"] = (time.perf_counter() - start) * 1000

        frame = work.captured.frame
        out = Frame(output, frame.timestamp, work.index)
        start = time.perf_counter()
        with self._lock:
            sinks = list(self._sinks.values())
        for sink in sinks:
            sink.send(out, wait=self.config.lossless)
        done = time.perf_counter()
        timings["sinks"] = (done - start) * 1000
        latency = (time.monotonic() - frame.timestamp) * 1000

        for name, ms in timings.items():
            self._timing.add(name, ms)
        self._timing.add("latency", latency)
        self._last_output_t = time.monotonic()
        self._timing.tick(self._last_output_t)
        self._frames += 1
        self._notify(
            "on_frame",
            FrameReport(
                index=work.index,
                timestamp=frame.timestamp,
                camera=frame.image,
                landmarks=work.driven.driver,
                message=work.driven.message,
                face=face,
                output=output,
                avatar=prepared.avatar.name,
                timings=dict(timings),
                latency_ms=latency,
                landmark_image=work.driven.landmark_image,
            ),
        )


def _ema(average: float, sample: float, alpha: float = 0.1) -> float:
    return sample if average == 0.0 else average + alpha * (sample - average)


def _precheck_sink(spec: SinkSpec) -> None:
    """Input errors a sink can have, checked without opening anything."""
    if spec.kind == "record":
        from liveavatar.sinks.record import check_destination

        assert spec.path is not None
        check_destination(spec.path)
    if spec.kind == "http":
        from liveavatar.sinks.http import check_port

        check_port(spec.host, spec.port)
