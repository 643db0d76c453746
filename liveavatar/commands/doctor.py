"""`liveavatar doctor`: what a user needs when something does not show up.

Cameras found, the virtual camera (device or backend, and the exact fix when there is none), the
engines that can run and why the others cannot, mediapipe's face models, the GPU and its memory, a
display that really answers, whether Qt (the desktop app) starts and, when it cannot, the system
libraries it lacks with the install line for this distribution, the model checkpoint. Plain text, or
`--json` for scripts and the app. The checks themselves live in liveavatar.environment.health (shared with
`run`, `bench` and the app); this verb adds Qt's start, which only the app's entry points may load.
Nothing is downloaded or installed; the virtual camera is opened for a moment to see that it works.
"""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from liveavatar.environment.health import DesktopApp, HealthReport


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check cameras, virtual camera, engines, models and GPU")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def check_desktop_app() -> DesktopApp:
    """Starts Qt in a child process (the app's own first step): a missing system library or an unusable
    QT_QPA_PLATFORM is named with its fix instead of aborting later in `liveavatar app`."""
    from liveavatar.environment.health import DesktopApp
    from liveavatar.ui.platform_check import check_qt_platform

    report = check_qt_platform()
    return DesktopApp(
        ok=report.ok,
        platform=report.platform,
        problem=report.problem,
        missing=report.missing,
        fix=report.fix or None,
        detail=tuple(report.detail),
    )


def collect() -> HealthReport:
    """Every check of liveavatar.environment.health, with the engine table's rows and Qt's start (the one check
    that loads the ui)."""
    from liveavatar.engines.registry import engine_availability
    from liveavatar.environment.health import collect as collect_health

    return collect_health(engine_availability, desktop_app=check_desktop_app)


def render(report: HealthReport) -> str:
    from liveavatar.environment import health

    lines = [f"system: {report.system}"]

    def head(name: str, ok: bool, text: str) -> None:
        lines.append(f"[{'ok' if ok else '--'}] {name}: {text}")

    def fix(section: health.CheckResult | None) -> None:
        if section is not None and section.fix:
            lines.append(f"     fix: {section.fix}")

    c = report.cameras
    if isinstance(c, health.Cameras) and c.cameras:
        head("cameras", c.ok, ", ".join(f"{x.source} ({x.name}{', virtual' if x.virtual else ''})" for x in c.cameras))
    else:
        head("cameras", False, "none found")
    fix(c)

    v = report.virtual_camera
    if isinstance(v, health.VirtualCamera) and v.ok:
        head("virtual camera", True, f"{v.device} via {v.backend}")
    else:
        head("virtual camera", False, (v.detail if isinstance(v, health.VirtualCamera) else None) or "not available")
        if isinstance(v, health.LinuxVirtualCamera) and v.v4l2loopback_loaded is False:
            lines.append("     the v4l2loopback kernel module is not loaded")
    fix(v)

    lines += health.engine_lines(report.engines)  # bench prints the same lines

    m = report.mediapipe
    if isinstance(m, health.Mediapipe) and m.ok:
        head("mediapipe", True, f"{m.version} with face models")
    else:
        head("mediapipe", False, f"missing {list(m.missing) if isinstance(m, health.Mediapipe) else None}")
    fix(m)

    g = report.gpu
    if isinstance(g, health.GpuCheck) and g.gpus:
        head("gpu", True, "; ".join(f"{x.name} ({x.memory_gib} GiB, {x.free_gib} free)" for x in g.gpus))
    else:
        head("gpu", False, (g.note if isinstance(g, health.GpuCheck) else None) or "none")
    cpu, ram = (g.cpu_count, g.ram_gib) if isinstance(g, health.GpuCheck) else (None, None)
    lines.append(f"     cpu: {cpu} cores, RAM {ram} GiB")

    d = report.display
    if isinstance(d, health.Display) and d.ok:
        head("display", True, "a window can open" + (f" on {d.name}" if d.name else ""))
    else:
        head("display", False, (d.detail if isinstance(d, health.Display) else None) or "none")
    fix(d)

    q = report.desktop_app
    if isinstance(q, health.DesktopApp) and q.ok:
        head("desktop app", True, f"Qt starts (platform {q.platform})")
    elif q is not None:  # None: the caller did not start Qt
        head("desktop app", False, (q.problem if isinstance(q, health.DesktopApp) else None) or "Qt cannot start")
    fix(q)

    k = report.checkpoint
    head("checkpoint", k.ok, (k.path if isinstance(k, health.Checkpoint) else None) or "no bundled model")
    fix(k)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    report = collect()
    print(json.dumps(report.as_dict(), indent=2) if args.json else render(report))
    return 0
