"""The live loop: the four threads of a run and the hand-over between them.

    capture ──slot──► processing ──slot──► inference ──slot──► compose ──► send(frame) (the sinks)
    (source.read)     (track, smooth,      (the engine:        (background, the full-resolution
                       retarget,            frame graph or G)   portrait, mirror, AI mark, watermark)
                       rasterize)

The Runner (pipeline/runner.py) owns one LiveLoop and gives it callbacks (notify the observer, report an
error, fan a frame out to the sinks, end the run, current stats), so this module knows no observer, sink
set or engine registry. The settings the threads read every frame (avatar, mode, background, mirror,
driver_mouth) are plain attributes the Runner swaps from any thread: a thread sees the old value or the new,
never a mix.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from liveavatar.capture import Captured, FrameSource, SourceLost
from liveavatar.errors import LiveAvatarError
from liveavatar.live.events import FrameReport, RunnerError, RunnerObserver, RunStats
from liveavatar.live.slots import CLOSED, LatestSlot
from liveavatar.live.spec import Background, Mode, RunnerConfig
from liveavatar.pipeline.avatar_engines import PreparedAvatar
from liveavatar.pipeline.stages import Composer, Driven, Processor, compose_frame, infer_frame
from liveavatar.pipeline.timing import TimingWindow
from liveavatar.types import Frame, WarpLayers

THREAD_PREFIX = "liveavatar-"
JOIN_TIMEOUT_S = 10.0
STALLED_S = 0.3  # no output for this long: a control change re-renders the last frame
JIT_MARGIN_MS = 3.0  # least slack so a processed frame is ready a little before inference frees up


@dataclass
class _Captured:
    captured: Captured
    index: int


@dataclass
class _Retargeted:
    """A captured frame retargeted onto its avatar: what the render thread turns into an output frame."""

    captured: Captured
    index: int
    avatar: PreparedAvatar
    driven: Driven
    timings: dict[str, float]


@dataclass
class _Rendered:
    """A retargeted frame through the engine: what the compose thread turns into the output frame. face: S×S×3
    uint8 RGB; layers: a warp checkpoint's WarpLayers (batch 1), else None."""

    work: _Retargeted
    face: np.ndarray
    layers: WarpLayers | None


class LiveLoop:
    """The threads of one run. report: the run's observer, guarded (live.events.GuardedObserver); callbacks:
    send(output frame, wait) to every sink; finish(reason) when the run should end (called from a worker
    thread, so it must not join it); stats() for the periodic report."""

    def __init__(
        self,
        config: RunnerConfig,
        image_size: int,
        report: RunnerObserver,
        send: Callable[[Frame, bool], None],
        finish: Callable[[str], None],
        stats: Callable[[], RunStats],
    ) -> None:
        self.config = config
        self._report = report
        self._send = send
        self._finish = finish
        self._stats = stats
        # What the threads read every frame; the Runner swaps them.
        self.avatar: PreparedAvatar | None = None
        self.mode: Mode = config.mode
        self.background: Background = config.background
        self.mirror = config.mirror
        self.driver_mouth = config.driver_mouth
        self.creases = config.creases
        self.processor = Processor(config.tracking, image_size)
        self.processor.controls = config.expression
        self.timing = TimingWindow()
        self.capture_slot: LatestSlot[_Captured] = LatestSlot("capture", config.lossless)
        self.work_slot: LatestSlot[_Retargeted] = LatestSlot("processed", config.lossless)
        self.render_slot: LatestSlot[_Rendered] = LatestSlot("rendered", config.lossless)
        self.stop_event = threading.Event()
        self.frames = 0
        self.t0 = 0.0
        self._composer = Composer(*config.output_size)
        self._source: FrameSource | None = None
        self._source_fps = 30.0
        self._threads: list[threading.Thread] = []
        self._reported: set[str] = set()
        self._end_reason = "source ended"
        self._inference_failure: str | None = None  # the compose thread ends the run with it
        self._last_captured: _Captured | None = None
        self._last_output_t = 0.0
        self._render_ms = 0.0  # moving averages: the engine per frame (inference thread), processing per frame
        self._process_ms = 0.0
        self._neutrals_checked = 0

    def start(self, source: FrameSource, source_fps: float) -> None:
        self._source, self._source_fps = source, source_fps
        self.t0 = time.monotonic()
        for name, target in (
            ("capture", self._capture_loop),
            ("processing", self._processing_loop),
            ("inference", self._inference_loop),
            ("compose", self._compose_loop),
        ):
            thread = threading.Thread(target=target, name=THREAD_PREFIX + name, daemon=True)
            self._threads.append(thread)
            thread.start()

    def stop(self) -> None:
        """Ends the threads and joins them (not the calling one); a thread that hangs is reported."""
        self.stop_event.set()
        self.capture_slot.close()
        self.work_slot.close()
        self.render_slot.close()
        me = threading.current_thread()
        for thread in self._threads:
            if thread is not me:
                thread.join(JOIN_TIMEOUT_S)
                if thread.is_alive():
                    self._error(f"{thread.name} did not stop within {JOIN_TIMEOUT_S:.0f} s", fatal=True)

    def refresh_if_stalled(self, running: bool) -> None:
        """When no frame is flowing (camera lost), a control change re-renders the last camera frame, so
        the preview and the outputs show the change at once rather than with the camera's return."""
        last = self._last_captured
        if last is None or self.config.lossless or not running or self.stop_event.is_set():
            return
        if time.monotonic() - self._last_output_t < STALLED_S or self.capture_slot.peek() is not None:
            return
        frame = replace(last.captured.frame, timestamp=time.monotonic())
        self.capture_slot.put(_Captured(Captured(frame, last.captured.landmarks), last.index))

    def _error(self, message: str, detail: str = "", fatal: bool = False, source: str = "") -> None:
        self._report.on_error(RunnerError(message, detail, fatal, source))

    def _error_once(self, message: str, detail: str, source: str) -> None:
        """A failure that may repeat every frame is reported once, not 30 times a second."""
        if message not in self._reported:
            self._reported.add(message)
            self._error(message, detail, source=source)

    # ------------------------------------------------------------------ the threads

    def _capture_loop(self) -> None:
        source = self._source
        assert source is not None
        cfg = self.config
        index = 0
        reason = "source ended"
        try:
            while not self.stop_event.is_set():
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
                if not self.capture_slot.put(self._last_captured, self.stop_event):
                    break
                index += 1
        except Exception as exc:  # noqa: BLE001
            reason = f"capture failed: {exc}"
            self._error(reason, traceback.format_exc(), fatal=True, source="capture")
        finally:
            self._end_reason = reason  # before close(): the inference thread reads it once the slots end
            if index == 0 and not self.stop_event.is_set():
                self._error(f"{cfg.source.describe()} gave no frames", fatal=True, source="capture")
            self.capture_slot.close()

    def _duration_reached(self, index: int) -> bool:
        duration_s = self.config.duration_s
        assert duration_s is not None
        if self.config.lossless:  # offline: the duration is in the source's time, so frame counts are exact
            return index >= round(duration_s * self._source_fps)
        return time.monotonic() - self.t0 >= duration_s

    def _reconnect(self, source: FrameSource) -> bool:
        while not self.stop_event.wait(self.config.reconnect_interval_s):
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
                if not self.work_slot.wait_empty(self.stop_event) and not self.stop_event.is_set():
                    continue
                self._wait_until_just_in_time()
                item = self.capture_slot.get(timeout=0.25)
                if item is CLOSED:
                    break
                if item is None:
                    continue
                prepared = self.avatar
                assert prepared is not None
                frame = item.captured.frame
                try:
                    started = time.perf_counter()
                    driven, timings = self.processor.process(
                        frame.image, item.captured.landmarks, frame.time, prepared.avatar, self.mode
                    )
                    self._process_ms = _ema(self._process_ms, (time.perf_counter() - started) * 1000)
                    if self.processor.neutrals != self._neutrals_checked:  # a new neutral: say if it looks off
                        self._neutrals_checked = self.processor.neutrals
                        if self.processor.neutral_warning:
                            self._error(self.processor.neutral_warning, source="calibration")
                except Exception as exc:  # noqa: BLE001 - a bad frame is skipped, the run goes on
                    self._error_once(f"a frame could not be processed: {exc}", traceback.format_exc(), "processing")
                    continue
                if not self.work_slot.put(
                    _Retargeted(item.captured, item.index, prepared, driven, timings), self.stop_event
                ):
                    break
        finally:
            self.work_slot.close()
            self.processor.close()  # mediapipe is closed on the thread that used it

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
        wake = self.work_slot.taken_at + (self._render_ms - self._process_ms - margin) / 1000
        delay = wake - time.monotonic()
        if delay > 0:
            self.stop_event.wait(min(delay, 0.25))

    def _inference_loop(self) -> None:
        """The engine, frame after frame; composing and the sinks run on the compose thread, so the engine
        starts on the next frame while the last one is composed (on 2 cores, composing a 720p frame at full
        resolution on this thread left too little of each frame period: frames queued, docs/PERFORMANCE.md)."""
        try:
            while True:
                item = self.work_slot.get(timeout=0.25)
                if item is CLOSED:
                    break
                if item is None:
                    continue
                started = time.perf_counter()
                rendered = self._infer(item)
                self._render_ms = _ema(self._render_ms, (time.perf_counter() - started) * 1000)
                if not self.render_slot.put(rendered, self.stop_event):
                    break
        except Exception as exc:  # noqa: BLE001
            self._inference_failure = f"inference failed: {exc}"
            self._error(self._inference_failure, traceback.format_exc(), fatal=True, source="inference")
        finally:
            self.render_slot.close()

    def _infer(self, work: _Retargeted) -> _Rendered:
        prepared = work.avatar
        start = time.perf_counter()
        face, layers = infer_frame(prepared.engine, prepared.psi, prepared.warp, work.driven)
        work.timings["infer"] = (time.perf_counter() - start) * 1000
        return _Rendered(work, face, layers)

    def _compose_loop(self) -> None:
        next_stats = time.monotonic() + self.config.stats_interval_s
        reason = None
        try:
            while True:
                item = self.render_slot.get(timeout=0.25)
                now = time.monotonic()
                if now >= next_stats:
                    next_stats = now + self.config.stats_interval_s
                    self._report.on_stats(self._stats())
                if item is CLOSED:
                    break
                if item is None:
                    continue
                self._compose(item)
        except Exception as exc:  # noqa: BLE001
            reason = f"composing failed: {exc}"
            self._error(reason, traceback.format_exc(), fatal=True, source="inference")
        self._report.on_stats(self._stats())
        self._finish(reason or self._inference_failure or self._end_reason)

    def _compose(self, rendered: _Rendered) -> None:
        work, face = rendered.work, rendered.face
        timings = work.timings
        prepared = work.avatar
        start = time.perf_counter()
        output = compose_frame(
            self._composer,
            face,
            prepared.avatar,
            self.background,
            self.mirror,
            self.config.ai_mark,
            rendered.layers,
            work.driven,
            work.captured.frame.image,
            self.driver_mouth,
            self.creases,
        )
        timings["compose"] = (time.perf_counter() - start) * 1000

        frame = work.captured.frame
        out = Frame(output, frame.timestamp, work.index)
        start = time.perf_counter()
        self._send(out, self.config.lossless)
        done = time.perf_counter()
        timings["sinks"] = (done - start) * 1000
        latency = (time.monotonic() - frame.timestamp) * 1000

        for name, ms in timings.items():
            self.timing.add(name, ms)
        self.timing.add("latency", latency)
        self._last_output_t = time.monotonic()
        self.timing.tick(self._last_output_t)
        self.frames += 1
        self._report.on_frame(
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
