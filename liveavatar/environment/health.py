"""The machine's health, as data: cameras, the virtual camera, engines, mediapipe's face models, the GPU,
a display that really answers, the model checkpoint. One home for the checks that `liveavatar doctor`
prints (`collect()` → a dict of sections, each with "ok" and a one-line "fix" or None) and that the other
callers ask one at a time: `run` (camera_problem, virtual_camera_problem, before anything opens), `bench`
(check_engines: which engines can run here, and why not) and the desktop app (check_cameras for its source
menu, virtual_camera_problem for its output row).

Six of its seven checks are the machine's, not the engines': it imports nothing above the core. The engine
table's answer (liveavatar.engines.registry.engine_availability: (engine, None or why not) in auto's order)
is passed in by the caller that may reach engines (`collect(engine_rows=...)`, `check_engines(rows)`), and
Qt's own check (`liveavatar.ui.platform_check`) by the caller that may load the ui (doctor); the display
check weighs its answer. Every import that costs something (mediapipe, torch, pyvirtualcam) happens
inside the check that needs it.
Nothing is downloaded or installed; the virtual camera is opened for a moment to see that it works.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from pathlib import Path
from typing import Any

Check = Callable[[], dict[str, Any]]
EngineRows = list[tuple[str, str | None]]  # (engine, None when it can run here, else "<engine>: why not")

MEDIAPIPE_MODELS = (
    "modules/face_detection/face_detection_short_range.tflite",
    "modules/face_landmark/face_landmark.tflite",
)


NO_CAMERA_FIX = "no camera found: plug one in (or close the app holding it); a video file works as --source too"


def check_cameras() -> dict[str, Any]:
    from liveavatar.capture import list_cameras

    cameras = list_cameras()
    real = [c for c in cameras if not c.virtual]
    return {
        "ok": bool(real),
        "cameras": [{"source": f"webcam:{c.index}", "name": c.name, "virtual": c.virtual} for c in cameras],
        "fix": None if real else NO_CAMERA_FIX,
    }


def camera_problem(index: int) -> str | None:
    """Why `webcam:index` cannot be a source here, as one line with the fix, or None when it is there or
    cannot be told without opening cameras. Only Linux lists cameras without opening them (/sys); elsewhere
    the listing opens every index, which the source's own open does anyway, naming the cameras it finds."""
    if platform.system() != "Linux":
        return None
    section = check_cameras()
    found = [c["source"] for c in section["cameras"]]
    if f"webcam:{index}" in found:
        return None
    if not found:
        return f"webcam {index}: {NO_CAMERA_FIX}"
    names = ", ".join(f"{c['source']} ({c['name']})" for c in section["cameras"])
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


def check_virtual_camera() -> dict[str, Any]:
    """Opens the virtual camera for a moment; "detail" says what is missing, "fix" what to do."""
    from liveavatar.sinks.vcam import VirtualCameraUnavailable

    result: dict[str, Any] = {"ok": False, "device": None, "backend": None, "fix": None, "detail": None}
    if platform.system() == "Linux":
        try:
            loaded = "v4l2loopback" in Path("/proc/modules").read_text()
        except OSError:
            loaded = None
        result["v4l2loopback_loaded"] = loaded
    try:
        device, backend = _open_virtual_camera_briefly()
    except VirtualCameraUnavailable as exc:
        result.update(detail=exc.detail, fix=exc.fix)
        return result
    result.update(ok=True, device=device, backend=backend)
    return result


def check_engines(rows: EngineRows) -> dict[str, Any]:
    """rows: the engine table's answer in auto's order (liveavatar.engines.registry.engine_availability,
    building nothing), which doctor summarises here, the app's engine menu lists and bench skips by."""
    return {
        "ok": True,
        "available": [name for name, why in rows if why is None],
        "unavailable": {name: why for name, why in rows if why is not None},
        "auto_picks": next((name for name, why in rows if why is None), None),
    }


def engine_lines(section: dict[str, Any]) -> list[str]:
    """check_engines' section as doctor prints it (bench prints the same lines)."""
    if "available" not in section:  # the check itself failed
        return ["[--] engines: ", f"     fix: {section['fix']}"] if section.get("fix") else ["[--] engines: "]
    lines = [
        f"[{'ok' if section['available'] else '--'}] engines: available: {', '.join(section['available']) or 'none'}; "
        f"auto uses {section['auto_picks'] or 'nothing'}"
    ]
    lines += [f"     not available: {why}" for why in section["unavailable"].values()]
    return lines


def check_mediapipe() -> dict[str, Any]:
    try:
        import mediapipe
    except ImportError as exc:
        return {
            "ok": False,
            "version": None,
            "missing": list(MEDIAPIPE_MODELS),
            "fix": f"pip install mediapipe ({exc})",
        }
    root = Path(mediapipe.__file__).parent
    missing = [m for m in MEDIAPIPE_MODELS if not (root / m).is_file()]
    return {
        "ok": not missing,
        "version": getattr(mediapipe, "__version__", "?"),
        "models": str(root / "modules"),
        "missing": missing,
        "fix": None
        if not missing
        else "reinstall a mediapipe that ships the face models: "
        "pip install --force-reinstall 'mediapipe>=0.10.14,<0.10.22'",
    }


def check_gpu() -> dict[str, Any]:
    try:
        import torch
    except ImportError:  # the runtime does not need it; only the GPU query below does
        torch = None  # type: ignore[assignment]
    cuda = torch is not None and torch.cuda.is_available()
    result: dict[str, Any] = {"ok": cuda, "cuda": cuda, "gpus": []}
    if torch is None:
        result["note"] = (
            "PyTorch is not installed, so no GPU was queried: the ONNX Runtime CPU engine runs (GPU engines need "
            "onnxruntime-gpu, or the train extra with a CUDA build of torch)"
        )
    gpu_count = torch.cuda.device_count() if cuda else 0
    for i in range(gpu_count):
        free, total = torch.cuda.mem_get_info(i)
        result["gpus"].append(
            {
                "name": torch.cuda.get_device_name(i),
                "memory_gib": round(total / 2**30, 1),
                "free_gib": round(free / 2**30, 1),
            }
        )
    if torch is not None and not cuda:
        result["note"] = (
            "no CUDA GPU visible to PyTorch: the CPU engines run "
            "(the bundled model at 30 fps on 2 cores, docs/PERFORMANCE.md)"
        )
    try:
        result["ram_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        result["ram_gib"] = None
    result["cpu_count"] = os.cpu_count()
    return result


def check_display(qt: dict[str, Any] | None = None) -> dict[str, Any]:
    """A display is fine only when a window can really reach one: DISPLAY/WAYLAND_DISPLAY being set is not
    enough (a stale variable, a server that is gone). Qt's check, when it ran, says which."""
    import sys

    from liveavatar.sinks.preview import display_available

    no_display = "no display: use --sink record:OUT.mp4 or --sink http:PORT instead of preview"
    if not display_available():
        return {"ok": False, "verified": True, "fix": no_display}
    if sys.platform in ("win32", "darwin"):
        return {"ok": True, "verified": True, "fix": None}
    named = os.environ.get("WAYLAND_DISPLAY") or os.environ.get("DISPLAY")
    if qt is not None and qt.get("ok") and qt.get("platform") not in ("offscreen", "minimal"):
        return {"ok": True, "verified": True, "name": named, "fix": None}
    if qt is not None and str(qt.get("problem", "")).startswith("Qt cannot connect to the display"):
        return {"ok": False, "verified": True, "name": named, "detail": qt["problem"], "fix": qt["fix"]}
    reachable = _display_socket_exists()
    if reachable is False:
        return {
            "ok": False,
            "verified": True,
            "name": named,
            "detail": f"no display server listens at {named}",
            "fix": "run inside a desktop session, or " + no_display.split(": ", 1)[1],
        }
    # Set, and no evidence either way (a remote X display, or Qt could not load to try it).
    return {"ok": False, "verified": False, "name": named, "detail": f"{named} is set but not verified", "fix": None}


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


def check_checkpoint() -> dict[str, Any]:
    from liveavatar.errors import CheckpointError
    from liveavatar.models.checkpoint import resolve_checkpoint

    try:
        return {"ok": True, "path": str(resolve_checkpoint(None)), "fix": None}
    except CheckpointError as exc:
        return {"ok": False, "path": None, "fix": str(exc)}


def collect(engine_rows: Callable[[], EngineRows], desktop_app: Check | None = None) -> dict[str, Any]:
    """Every check, in doctor's order; `engine_rows` (the engine table's answer, from a caller that may reach
    engines) is asked in the engines' turn; `desktop_app` (Qt's start, from a caller that may load the ui) runs
    between the GPU and the checkpoint and informs the display check. A check that raises becomes a failed
    section naming the exception: one broken check must not hide the others."""
    checks: dict[str, Check] = {
        "cameras": check_cameras,
        "virtual_camera": check_virtual_camera,
        "engines": lambda: check_engines(engine_rows()),
        "mediapipe": check_mediapipe,
        "gpu": check_gpu,
        **({"desktop_app": desktop_app} if desktop_app is not None else {}),
        "checkpoint": check_checkpoint,
    }
    report: dict[str, Any] = {"system": f"{platform.system()} {platform.release()} ({platform.machine()})"}
    for name, check in checks.items():
        try:
            report[name] = check()
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            report[name] = {"ok": False, "fix": f"the check itself failed: {exc!r}"}
    try:  # after the desktop app's check, whose Qt start is the best witness of a working display
        report["display"] = check_display(report.get("desktop_app"))
    except Exception as exc:  # noqa: BLE001
        report["display"] = {"ok": False, "fix": f"the check itself failed: {exc!r}"}
    return report
