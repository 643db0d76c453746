"""`liveavatar doctor`: what a user needs when something does not show up.

Cameras found, the virtual camera (device or backend, and the exact fix when there is none), the
engines that can run and why the others cannot, mediapipe's face models, the GPU and its memory, a
display that really answers, whether Qt (the desktop app) starts and, when it cannot, the system
libraries it lacks with the install line for this distribution, the model checkpoint. Plain text, or
`--json` for scripts and the app.
Nothing is downloaded or installed; the virtual camera is opened for a moment to see that it works.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
from pathlib import Path
from typing import Any

MEDIAPIPE_MODELS = (
    "modules/face_detection/face_detection_short_range.tflite",
    "modules/face_landmark/face_landmark.tflite",
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check cameras, virtual camera, engines, models and GPU")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def check_cameras() -> dict[str, Any]:
    from liveavatar.capture import list_cameras

    cameras = list_cameras()
    real = [c for c in cameras if not c.virtual]
    return {
        "ok": bool(real),
        "cameras": [{"source": f"webcam:{c.index}", "name": c.name, "virtual": c.virtual} for c in cameras],
        "fix": None
        if real
        else "no camera found: plug one in (or close the app holding it); a video file works as --source too",
    }


def check_virtual_camera() -> dict[str, Any]:
    """Opens the virtual camera for a moment: the one check that covers the module, the device and rights."""
    from liveavatar.errors import DeviceUnavailableError
    from liveavatar.sinks.vcam import open_camera, vcam_fix

    result: dict[str, Any] = {"ok": False, "device": None, "backend": None, "fix": None, "detail": None}
    if platform.system() == "Linux":
        try:
            loaded = "v4l2loopback" in Path("/proc/modules").read_text()
        except OSError:
            loaded = None
        result["v4l2loopback_loaded"] = loaded
    try:
        camera = open_camera(640, 480, 30.0)
    except DeviceUnavailableError as exc:
        text = str(exc)
        if text.startswith("the virtual camera needs pyvirtualcam"):
            result["detail"], result["fix"] = "pyvirtualcam is not installed", text
        else:
            # "no virtual camera device (<what pyvirtualcam's backends said>); to get one, <fix>"
            result["detail"] = text.split("; to get one, ")[0]
            result["fix"] = vcam_fix()
        return result
    try:
        result.update(ok=True, device=camera.device, backend=camera.backend)
    finally:
        camera.close()
    return result


def check_engines() -> dict[str, Any]:
    from liveavatar.engines.registry import engine_availability

    rows = engine_availability()
    return {
        "ok": True,
        "available": [name for name, why in rows if why is None],
        "unavailable": {name: why for name, why in rows if why is not None},
        "auto_picks": next((name for name, why in rows if why is None), None),
    }


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
        torch = None
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
            "no CUDA GPU visible to PyTorch: the CPU engines run (the lite model in real time on a fast CPU)"
        )
    try:
        result["ram_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        result["ram_gib"] = None
    result["cpu_count"] = os.cpu_count()
    return result


def check_desktop_app() -> dict[str, Any]:
    """Starts Qt in a child process (the app's own first step): a missing system library or an unusable
    QT_QPA_PLATFORM is named with its fix instead of aborting later in `liveavatar app`."""
    from liveavatar.ui.platform_check import check_qt_platform

    report = check_qt_platform()
    return {**report.as_dict(), "fix": report.fix or None}


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


CHECKS = {
    "cameras": check_cameras,
    "virtual_camera": check_virtual_camera,
    "engines": check_engines,
    "mediapipe": check_mediapipe,
    "gpu": check_gpu,
    "desktop_app": check_desktop_app,
    "checkpoint": check_checkpoint,
}


def collect() -> dict[str, Any]:
    report: dict[str, Any] = {"system": f"{platform.system()} {platform.release()} ({platform.machine()})"}
    for name, check in CHECKS.items():
        try:
            report[name] = check()
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others
            report[name] = {"ok": False, "fix": f"the check itself failed: {exc!r}"}
    try:  # after the desktop app's check, whose Qt start is the best witness of a working display
        report["display"] = check_display(report.get("desktop_app"))
    except Exception as exc:  # noqa: BLE001
        report["display"] = {"ok": False, "fix": f"the check itself failed: {exc!r}"}
    return report


def render(report: dict[str, Any]) -> str:
    lines = [f"system: {report['system']}"]

    def head(name: str, ok: bool, text: str) -> None:
        lines.append(f"[{'ok' if ok else '--'}] {name}: {text}")

    def fix(section: dict) -> None:
        if section.get("fix"):
            lines.append(f"     fix: {section['fix']}")

    c = report["cameras"]
    if c.get("cameras"):
        head(
            "cameras",
            c["ok"],
            ", ".join(f"{x['source']} ({x['name']}{', virtual' if x['virtual'] else ''})" for x in c["cameras"]),
        )
    else:
        head("cameras", False, "none found")
    fix(c)

    v = report["virtual_camera"]
    if v["ok"]:
        head("virtual camera", True, f"{v['device']} via {v['backend']}")
    else:
        head("virtual camera", False, v.get("detail") or "not available")
        if v.get("v4l2loopback_loaded") is False:
            lines.append("     the v4l2loopback kernel module is not loaded")
    fix(v)

    e = report["engines"]
    if "available" in e:
        head(
            "engines",
            bool(e["available"]),
            f"available: {', '.join(e['available']) or 'none'}; auto uses {e['auto_picks'] or 'nothing'}",
        )
        for why in e["unavailable"].values():
            lines.append(f"     not available: {why}")
    else:
        head("engines", False, "")
        fix(e)

    m = report["mediapipe"]
    head("mediapipe", m["ok"], f"{m.get('version')} with face models" if m["ok"] else f"missing {m.get('missing')}")
    fix(m)

    g = report["gpu"]
    if g.get("gpus"):
        head("gpu", True, "; ".join(f"{x['name']} ({x['memory_gib']} GiB, {x['free_gib']} free)" for x in g["gpus"]))
    else:
        head("gpu", False, g.get("note", "none"))
    lines.append(f"     cpu: {g.get('cpu_count')} cores, RAM {g.get('ram_gib')} GiB")

    d = report["display"]
    if d["ok"]:
        head("display", True, "a window can open" + (f" on {d['name']}" if d.get("name") else ""))
    else:
        head("display", False, d.get("detail") or "none")
    fix(d)

    q = report["desktop_app"]
    if q.get("ok"):
        head("desktop app", True, f"Qt starts (platform {q.get('platform')})")
    else:
        head("desktop app", False, q.get("problem") or "Qt cannot start")
    fix(q)

    k = report["checkpoint"]
    head("checkpoint", k["ok"], k["path"] or "no bundled model")
    fix(k)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect()
    print(json.dumps(report, indent=2) if args.json else render(report))
    return 0
