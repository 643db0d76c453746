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
from typing import Any


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check cameras, virtual camera, engines, models and GPU")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(handler=run)


def check_desktop_app() -> dict[str, Any]:
    """Starts Qt in a child process (the app's own first step): a missing system library or an unusable
    QT_QPA_PLATFORM is named with its fix instead of aborting later in `liveavatar app`."""
    from liveavatar.ui.platform_check import check_qt_platform

    report = check_qt_platform()
    return {**report.as_dict(), "fix": report.fix or None}


def collect() -> dict[str, Any]:
    """Every check of liveavatar.environment.health, with the engine table's rows and Qt's start (the one check
    that loads the ui)."""
    from liveavatar.engines.registry import engine_availability
    from liveavatar.environment.health import collect as collect_health

    return collect_health(engine_availability, desktop_app=check_desktop_app)


def render(report: dict[str, Any]) -> str:
    from liveavatar.environment.health import engine_lines

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

    lines += engine_lines(report["engines"])  # bench prints the same lines

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
