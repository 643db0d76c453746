#!/usr/bin/env python
"""Renders docs/expression_panel.png offscreen: the app's expression panel next to the avatar view, the
avatar (the public-domain Grace Hopper photo matplotlib ships) driven by the scripted performance.
No camera and no frame of a real person from ../shared/data.

python tools/expression_panel_screenshot.py [--out docs/expression_panel.png] [--engine auto]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("docs/expression_panel.png"))
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--frames", type=int, default=40)
    args = ap.parse_args()
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    data = Path(tempfile.mkdtemp(prefix="liveavatar-shot-"))
    os.environ["LIVEAVATAR_DATA_DIR"] = str(data)

    from liveavatar.avatar import save_avatar
    from liveavatar.commands.demo import default_portrait
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint

    checkpoint = load_checkpoint(resolve_checkpoint(None), discriminator=False)
    (data / "avatars").mkdir(parents=True)
    save_avatar(build_avatar([default_portrait()], checkpoint, name="Grace Hopper"), data / "avatars" / "hopper.avatar")

    from PySide6.QtCore import QPoint, QTimer
    from PySide6.QtGui import QColor, QImage, QPainter

    from liveavatar.ui.app import make_application
    from liveavatar.ui.main_window import AppOptions, MainWindow

    app = make_application()
    window = MainWindow(AppOptions(source="scripted", engine=args.engine))
    window.resize(1280, 720)
    panel = window.expression_panel
    panel.gains["mouth"].slider.setValue(150)
    panel.gains["brows"].slider.setValue(120)
    panel.gains["position"].slider.setValue(50)
    window.show()
    outcome = {}

    def take() -> None:
        view, side = window.avatar_view.grab(), panel.grab()
        height = max(view.height(), side.height())
        image = QImage(view.width() + side.width() + 12, height, QImage.Format.Format_RGB32)
        image.fill(QColor(window.palette().window().color()))
        painter = QPainter(image)
        painter.drawPixmap(QPoint(0, (height - view.height()) // 2), view)
        painter.drawPixmap(QPoint(view.width() + 12, 0), side)
        painter.end()
        outcome["ok"] = image.save(str(args.out))
        window.close()

    window.frame_shown.connect(lambda n: n == args.frames and QTimer.singleShot(150, take))
    QTimer.singleShot(180_000, window.close)
    app.exec()
    if not outcome.get("ok"):
        print(f"no screenshot (frames shown: {window.frames_shown})", file=sys.stderr)
        return 1
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
