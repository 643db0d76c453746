"""`liveavatar app` (also `python -m liveavatar`): the desktop app.

    liveavatar app [--source FILE|webcam:N] [--avatar A.avatar] [--checkpoint CKPT] [--engine E]
                   [--screenshot OUT.png [--after-frames N]]

With --screenshot the real window is rendered offscreen after N live frames, saved, and the app exits
(used for the README's picture and to check a machine without a display).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from liveavatar.commands.argnumbers import count
from liveavatar.errors import InputError
from liveavatar.files.checks import require_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("app", help="open the desktop app (gallery, live view, virtual camera, recording, stream)")
    p.add_argument("--source", help="webcam:N or a video file (default: the last one used, else the first camera)")
    p.add_argument("--avatar", type=Path, help="an .avatar file to drive (shown in the gallery for this session)")
    p.add_argument(
        "--checkpoint", type=Path, help="model checkpoint (default: the last one opened, else the bundled one)"
    )
    p.add_argument("--engine", help="auto, or one engine by name (see `liveavatar doctor`)")
    p.add_argument("--screenshot", type=Path, metavar="OUT.png", help="save a screenshot of the window and exit")
    p.add_argument(
        "--after-frames", type=count(0, 100_000), default=30, metavar="N", help="live frames before the screenshot (30)"
    )
    p.set_defaults(handler=run)


def _no_display() -> bool:
    """On Linux/BSD without X11 or Wayland (and no Qt platform chosen), Qt would abort with a C++ error."""
    import sys

    if sys.platform in ("win32", "darwin") or os.environ.get("QT_QPA_PLATFORM"):
        return False
    return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run(args: argparse.Namespace) -> int:
    try:
        import PySide6  # noqa: F401
    except ImportError:
        from liveavatar.environment.install_hint import pip_install

        raise InputError(f"the desktop app needs PySide6: {pip_install('ui')}") from None
    if args.screenshot is None and _no_display():
        raise InputError(
            "no display found (DISPLAY and WAYLAND_DISPLAY are unset): run the app on a desktop session, "
            "use `liveavatar run` for headless use, or --screenshot OUT.png to render the window offscreen"
        )
    if args.after_frames < 1:
        raise InputError("--after-frames must be at least 1")
    if args.avatar is not None:
        require_file(args.avatar, "avatar", "build one with `liveavatar avatar`")
    if args.checkpoint is not None:
        require_file(args.checkpoint, "checkpoint", "pass a .safetensors checkpoint")
    if args.engine is not None:
        from liveavatar.engines.registry import ENGINE_CHOICES

        if args.engine not in ENGINE_CHOICES:
            raise InputError(f"engine {args.engine!r}: choose one of {', '.join(ENGINE_CHOICES)}")
    if args.source is not None:
        from liveavatar.live.spec import parse_source

        spec = parse_source(args.source)
        if spec.path is not None:
            require_file(spec.path, "source", "give a video file or webcam:N")
            # the app remembers its source: relative, it failed when the app was next started elsewhere
            args.source = str(spec.path.absolute())
    # Qt aborts the process (exit 134) when its platform plugin cannot load: try it in a child first, so
    # a missing system library is one line naming it and the install command, not a core dump.
    from liveavatar.ui.platform_check import require_qt_platform

    env = dict(os.environ)
    if args.screenshot is not None:
        env.setdefault("QT_QPA_PLATFORM", "offscreen")  # what run_app uses for a screenshot
    require_qt_platform(env)
    from liveavatar.ui.app import run_app
    from liveavatar.ui.main_window import AppOptions

    options = AppOptions(
        source=args.source,
        avatar=args.avatar.absolute() if args.avatar is not None else None,
        checkpoint=args.checkpoint.absolute() if args.checkpoint is not None else None,
        engine=args.engine,
    )
    return run_app(options, screenshot=args.screenshot, after_frames=args.after_frames)
