"""The machine's health, as data: cameras, the virtual camera, engines, mediapipe's face models, the GPU,
a display that really answers, the model checkpoint. One home for the checks that `liveavatar doctor`
prints (`collect()` → a HealthReport of sections) and that the other callers ask one at a time: `run`
(camera_problem, virtual_camera_problem, before anything opens), `bench` (check_engines: which engines can
run here, and why not) and the desktop app (check_cameras for its source menu, virtual_camera_problem for
its output row).

Each check answers a small frozen dataclass: the shape every answer shares (CheckResult: `ok`, and `fix`,
one line saying what to do, or None) plus that check's own typed fields, so a caller reads `.cameras` or
`.auto_picks` and the type checker sees a misspelt name. `as_dict()` is the one serialisation, the JSON
`liveavatar doctor --json` prints and scripts read: its keys and values are the ones doctor has always
printed (a key that was only there when it had a value still is: OMITTED_WHEN_NONE).

Six of its seven checks are the machine's, not the engines': it imports nothing above the core. The engine
table's answer (liveavatar.engines.registry.engine_availability: (engine, None or why not) in auto's order)
is passed in by the caller that may reach engines (`collect(engine_rows=...)`, `check_engines(rows)`), and
Qt's own check (`liveavatar.ui.platform_check`, as a DesktopApp) by the caller that may load the ui (doctor);
the display check weighs its answer. Every import that costs something (mediapipe, torch, pyvirtualcam)
happens inside the check that needs it.
Nothing is downloaded or installed; the virtual camera is opened for a moment to see that it works.
"""

from __future__ import annotations

import dataclasses
import os
import platform
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, TypeVar

EngineRows = list[tuple[str, str | None]]  # (engine, None when it can run here, else "<engine>: why not")

MEDIAPIPE_MODELS = (
    "modules/face_detection/face_detection_short_range.tflite",
    "modules/face_landmark/face_landmark.tflite",
)


class CheckResult:
    """What every check answers: `ok`, and `fix` (one line saying what to do, None when there is nothing
    to do). Each answer is a frozen dataclass that declares both among its own fields, in the order doctor
    --json prints its keys (a dataclass base's fields would always come first)."""

    ok: bool
    fix: str | None
    # Keys doctor --json has only ever printed with a value: left out while None, as they always were.
    OMITTED_WHEN_NONE: ClassVar[frozenset[str]] = frozenset()

    def as_dict(self) -> dict[str, Any]:
        """The one serialisation: the section as doctor --json prints it (tuples as lists, a camera or a GPU
        as an object)."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type]  # every answer is a dataclass
        values = ((f.name, getattr(self, f.name)) for f in fields)
        return {name: _jsonable(v) for name, v in values if not (v is None and name in self.OMITTED_WHEN_NONE)}


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class CheckFailed(CheckResult):
    """A check that raised: one broken check must not hide the others."""

    ok: bool
    fix: str | None


@dataclass(frozen=True)
class Camera:
    source: str  # "webcam:N", as --source takes it
    name: str
    virtual: bool  # an output (v4l2loopback, OBS), not a camera to animate from


@dataclass(frozen=True)
class Cameras(CheckResult):
    ok: bool  # a real (not virtual) camera is there
    cameras: tuple[Camera, ...]
    fix: str | None


@dataclass(frozen=True)
class VirtualCamera(CheckResult):
    ok: bool
    device: str | None  # where it opened
    backend: str | None
    fix: str | None
    detail: str | None  # what is missing, when none opens


@dataclass(frozen=True)
class LinuxVirtualCamera(VirtualCamera):
    """On Linux doctor also says whether the kernel module is loaded (None: /proc/modules unreadable)."""

    v4l2loopback_loaded: bool | None


@dataclass(frozen=True)
class Engines(CheckResult):
    """Never fails: an engine that cannot run here is listed with why, in `unavailable`."""

    OMITTED_WHEN_NONE = frozenset({"fix"})
    ok: bool
    available: tuple[str, ...]  # in auto's order
    unavailable: Mapping[str, str]  # engine → "<engine>: why not"
    auto_picks: str | None
    fix: str | None = None


@dataclass(frozen=True)
class Mediapipe(CheckResult):
    OMITTED_WHEN_NONE = frozenset({"models"})
    ok: bool
    version: str | None  # None: mediapipe does not import
    models: str | None  # the folder the face models are looked for in (None when mediapipe does not import)
    missing: tuple[str, ...]
    fix: str | None


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: float
    free_gib: float


@dataclass(frozen=True)
class GpuCheck(CheckResult):
    """No fix: without a GPU the CPU engines run; `note` says why none was found."""

    OMITTED_WHEN_NONE = frozenset({"note", "fix"})
    ok: bool
    cuda: bool
    gpus: tuple[Gpu, ...]
    note: str | None
    ram_gib: float | None
    cpu_count: int | None
    fix: str | None = None


@dataclass(frozen=True)
class DesktopApp(CheckResult):
    """Qt's start (liveavatar.ui.platform_check.QtPlatformReport), as doctor hands it in."""

    ok: bool
    platform: str  # the plugin Qt used or tried, "" when unknown
    problem: str  # one line, "" when ok
    missing: tuple[str, ...]  # shared libraries the plugin needs that the system lacks
    fix: str | None
    detail: tuple[str, ...]  # Qt's own lines about the failure


@dataclass(frozen=True)
class Display(CheckResult):
    OMITTED_WHEN_NONE = frozenset({"name", "detail"})
    ok: bool
    verified: bool  # False: a display is named but nothing could tell whether it answers
    name: str | None  # the display the environment names (not said on Windows/macOS or without one)
    detail: str | None
    fix: str | None


@dataclass(frozen=True)
class Checkpoint(CheckResult):
    ok: bool
    path: str | None  # the model `run` and the app use when none is named
    fix: str | None


@dataclass(frozen=True)
class HealthReport:
    """Every section, in doctor's order (display last: it weighs Qt's start). A section is its check's answer,
    or CheckFailed when the check raised; desktop_app is None when the caller may not load the ui."""

    system: str
    cameras: Cameras | CheckFailed
    virtual_camera: VirtualCamera | CheckFailed
    engines: Engines | CheckFailed
    mediapipe: Mediapipe | CheckFailed
    gpu: GpuCheck | CheckFailed
    desktop_app: DesktopApp | CheckFailed | None
    checkpoint: Checkpoint | CheckFailed
    display: Display | CheckFailed

    def as_dict(self) -> dict[str, Any]:
        """doctor --json: {"system": ..., section name: the section's as_dict(), ...}."""
        sections = ((f.name, getattr(self, f.name)) for f in dataclasses.fields(self) if f.name != "system")
        return {"system": self.system} | {name: s.as_dict() for name, s in sections if s is not None}


NO_CAMERA_FIX = "no camera found: plug one in (or close the app holding it); a video file works as --source too"


def check_cameras() -> Cameras:
    from liveavatar.capture import list_cameras

    cameras = tuple(Camera(f"webcam:{c.index}", c.name, c.virtual) for c in list_cameras())
    real = [c for c in cameras if not c.virtual]
    return Cameras(ok=bool(real), cameras=cameras, fix=None if real else NO_CAMERA_FIX)


def camera_problem(index: int) -> str | None:
    """Why `webcam:index` cannot be a source here, as one line with the fix, or None when it is there or
    cannot be told without opening cameras. Only Linux lists cameras without opening them (/sys); elsewhere
    the listing opens every index, which the source's own open does anyway, naming the cameras it finds."""
    if platform.system() != "Linux":
        return None
    cameras = check_cameras().cameras
    if f"webcam:{index}" in (c.source for c in cameras):
        return None
    if not cameras:
        return f"webcam {index}: {NO_CAMERA_FIX}"
    names = ", ".join(f"{c.source} ({c.name})" for c in cameras)
    return f"webcam {index} is not on this machine (cameras found: {names}); choose one with --source webcam:N"


def _open_virtual_camera_briefly() -> tuple[str, str]:
    """(device, backend) of the virtual camera, opened and closed again; VirtualCameraUnavailable when none
    opens. Opening is the one check that covers the module, the device and the rights to it."""
    from liveavatar.sinks.vcam import open_camera

    camera = open_camera(640, 480, 30.0)
    try:
        return camera.device, camera.backend
    finally:
        camera.close()


def virtual_camera_problem() -> str | None:
    """Why no virtual camera opens here (the line the vcam sink itself fails with: what is missing; to get
    one, the fix), or None when one opens. For `run` before anything opens, and the app's output row."""
    from liveavatar.sinks.vcam import VirtualCameraUnavailable

    try:
        _open_virtual_camera_briefly()
    except VirtualCameraUnavailable as exc:
        return str(exc)
    return None


def check_virtual_camera() -> VirtualCamera:
    """Opens the virtual camera for a moment; `detail` says what is missing, `fix` what to do."""
    from liveavatar.sinks.vcam import VirtualCameraUnavailable

    linux = platform.system() == "Linux"
    loaded = _v4l2loopback_loaded() if linux else None

    def answer(ok: bool, device: str | None, backend: str | None, fix: str | None, detail: str | None) -> VirtualCamera:
        if linux:
            return LinuxVirtualCamera(ok, device, backend, fix, detail, v4l2loopback_loaded=loaded)
        return VirtualCamera(ok, device, backend, fix, detail)

    try:
        device, backend = _open_virtual_camera_briefly()
    except VirtualCameraUnavailable as exc:
        return answer(False, None, None, fix=exc.fix, detail=exc.detail)
    return answer(True, device, backend, fix=None, detail=None)


def _v4l2loopback_loaded() -> bool | None:
    try:
        return "v4l2loopback" in Path("/proc/modules").read_text()
    except OSError:
        return None  # cannot tell


def check_engines(rows: EngineRows) -> Engines:
    """rows: the engine table's answer in auto's order (liveavatar.engines.registry.engine_availability,
    building nothing), which doctor summarises here, the app's engine menu lists and bench skips by."""
    return Engines(
        ok=True,
        available=tuple(name for name, why in rows if why is None),
        unavailable={name: why for name, why in rows if why is not None},
        auto_picks=next((name for name, why in rows if why is None), None),
    )


def engine_lines(section: Engines | CheckFailed) -> list[str]:
    """check_engines' section as doctor prints it (bench prints the same lines)."""
    if isinstance(section, CheckFailed):
        return ["[--] engines: ", f"     fix: {section.fix}"] if section.fix else ["[--] engines: "]
    lines = [
        f"[{'ok' if section.available else '--'}] engines: available: {', '.join(section.available) or 'none'}; "
        f"auto uses {section.auto_picks or 'nothing'}"
    ]
    lines += [f"     not available: {why}" for why in section.unavailable.values()]
    return lines


def check_mediapipe() -> Mediapipe:
    try:
        import mediapipe
    except ImportError as exc:
        fix = f"pip install mediapipe ({exc})"
        return Mediapipe(ok=False, version=None, models=None, missing=MEDIAPIPE_MODELS, fix=fix)
    root = Path(mediapipe.__file__).parent
    missing = tuple(m for m in MEDIAPIPE_MODELS if not (root / m).is_file())
    return Mediapipe(
        ok=not missing,
        version=getattr(mediapipe, "__version__", "?"),
        models=str(root / "modules"),
        missing=missing,
        fix=None
        if not missing
        else "reinstall a mediapipe that ships the face models: "
        "pip install --force-reinstall 'mediapipe>=0.10.14,<0.10.22'",
    )


def check_gpu() -> GpuCheck:
    try:
        import torch
    except ImportError:  # the runtime does not need it; only the GPU query below does
        torch = None  # type: ignore[assignment]
    cuda = torch is not None and torch.cuda.is_available()
    gpus = []
    for i in range(torch.cuda.device_count() if cuda else 0):
        free, total = torch.cuda.mem_get_info(i)
        gpus.append(Gpu(torch.cuda.get_device_name(i), round(total / 2**30, 1), round(free / 2**30, 1)))
    note = None
    if torch is None:
        note = (
            "PyTorch is not installed, so no GPU was queried: the ONNX Runtime CPU engine runs (GPU engines need "
            "onnxruntime-gpu, or the train extra with a CUDA build of torch)"
        )
    elif not cuda:
        note = (
            "no CUDA GPU visible to PyTorch: the CPU engines run "
            "(the bundled model at 30 fps on 2 cores, docs/PERFORMANCE.md)"
        )
    try:
        ram_gib: float | None = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        ram_gib = None
    return GpuCheck(ok=cuda, cuda=cuda, gpus=tuple(gpus), note=note, ram_gib=ram_gib, cpu_count=os.cpu_count())


def check_display(qt: DesktopApp | None = None) -> Display:
    """A display is fine only when a window can really reach one: DISPLAY/WAYLAND_DISPLAY being set is not
    enough (a stale variable, a server that is gone). Qt's check, when it ran, says which."""
    import sys

    from liveavatar.sinks.preview import display_available

    no_display = "no display: use --sink record:OUT.mp4 or --sink http:PORT instead of preview"
    if not display_available():
        return Display(ok=False, verified=True, name=None, detail=None, fix=no_display)
    if sys.platform in ("win32", "darwin"):
        return Display(ok=True, verified=True, name=None, detail=None, fix=None)
    named = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if qt is not None and qt.ok and qt.platform not in ("offscreen", "minimal"):
        return Display(ok=True, verified=True, name=named, detail=None, fix=None)
    if qt is not None and qt.problem.startswith("Qt cannot connect to the display"):
        return Display(ok=False, verified=True, name=named, detail=qt.problem, fix=qt.fix)
    reachable = _display_socket_exists()
    if reachable is False:
        fix = "run inside a desktop session, or " + no_display.split(": ", 1)[1]
        return Display(ok=False, verified=True, name=named, detail=f"no display server listens at {named}", fix=fix)
    # Set, and no evidence either way (a remote X display, or Qt could not load to try it).
    return Display(ok=False, verified=False, name=named, detail=f"{named} is set but not verified", fix=None)


def _display_socket_exists() -> bool | None:
    """Whether the local X11/Wayland socket the environment names exists (None: cannot tell, e.g. a
    remote DISPLAY such as host:10)."""
    wayland = os.environ.get("WAYLAND_DISPLAY")
    if wayland:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        path = Path(wayland) if wayland.startswith("/") else Path(runtime) / wayland
        return path.exists() if (runtime or wayland.startswith("/")) else None
    display = os.environ.get("DISPLAY", "")
    host, _, number = display.rpartition(":")
    if host not in ("", "unix") or not number:
        return None
    return Path(f"/tmp/.X11-unix/X{number.split('.')[0]}").exists()


def check_checkpoint() -> Checkpoint:
    from liveavatar.errors import CheckpointError
    from liveavatar.models.checkpoint import resolve_checkpoint

    try:
        return Checkpoint(ok=True, path=str(resolve_checkpoint(None)), fix=None)
    except CheckpointError as exc:
        return Checkpoint(ok=False, path=None, fix=str(exc))


Answer = TypeVar("Answer", bound=CheckResult)


def _guarded(check: Callable[[], Answer]) -> Answer | CheckFailed:
    """The check's answer, or CheckFailed naming the exception it raised."""
    try:
        return check()
    except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
        return CheckFailed(ok=False, fix=f"the check itself failed: {exc!r}")


def collect(engine_rows: Callable[[], EngineRows], desktop_app: Callable[[], DesktopApp] | None = None) -> HealthReport:
    """Every check, in doctor's order; `engine_rows` (the engine table's answer, from a caller that may reach
    engines) is asked in the engines' turn; `desktop_app` (Qt's start, from a caller that may load the ui) runs
    between the GPU and the checkpoint and informs the display check. A check that raises becomes CheckFailed
    naming the exception: one broken check must not hide the others."""
    cameras = _guarded(check_cameras)
    virtual_camera = _guarded(check_virtual_camera)
    engines = _guarded(lambda: check_engines(engine_rows()))
    mediapipe = _guarded(check_mediapipe)
    gpu = _guarded(check_gpu)
    qt = _guarded(desktop_app) if desktop_app is not None else None
    checkpoint = _guarded(check_checkpoint)
    # After the desktop app's check, whose Qt start is the best witness of a working display.
    display = _guarded(lambda: check_display(qt if isinstance(qt, DesktopApp) else None))
    return HealthReport(
        system=f"{platform.system()} {platform.release()} ({platform.machine()})",
        cameras=cameras,
        virtual_camera=virtual_camera,
        engines=engines,
        mediapipe=mediapipe,
        gpu=gpu,
        desktop_app=qt,
        checkpoint=checkpoint,
        display=display,
    )
