"""FrameView: paints the latest frame, scaled to fit, with an optional landmarks overlay.

`show_frame` only stores the image and asks for a repaint; Qt merges repaint requests, so however many
frames arrive between two paints only the newest is drawn (nothing queues). The image array is wrapped
in a QImage without a copy: the runner hands out arrays it never writes again (live/events.py).
"""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from liveavatar.landmarks.mesh68 import PARTS


def to_qimage(image: np.ndarray) -> QImage:
    """H×W×3 uint8 RGB (C-contiguous) → a QImage sharing its memory; the caller keeps the array alive."""
    image = np.ascontiguousarray(image)
    h, w = image.shape[:2]
    return QImage(image.data, w, h, int(image.strides[0]), QImage.Format.Format_RGB888)


class FrameView(QWidget):
    def __init__(self, caption: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.caption = caption
        self.placeholder = ""
        self.message = ""  # a line under the caption, e.g. what the tracker sees
        self.show_landmarks = True
        self.frames_shown = 0  # frames handed to show_frame
        self.frames_painted = 0  # paints that drew a frame (≤ frames_shown: merged repaints skip frames)
        self._array: np.ndarray | None = None
        self._image: QImage | None = None
        self._points: np.ndarray | None = None
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(160, 120)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)

    def sizeHint(self) -> QSize:
        return QSize(640, 400)

    def show_frame(self, image: np.ndarray, points68: np.ndarray | None = None) -> None:
        """image: H×W×3 uint8 RGB; points68: 68×2 float (x, y) in the image's pixels, or None."""
        self._array = image
        self._image = to_qimage(image)
        self._points = points68
        self.frames_shown += 1
        self.update()

    def clear(self, placeholder: str = "") -> None:
        self._array = self._image = self._points = None
        self.placeholder = placeholder
        self.message = ""
        self.update()

    def set_placeholder(self, text: str) -> None:
        self.placeholder = text
        if self._image is None:
            self.update()

    @property
    def has_frame(self) -> bool:
        return self._image is not None

    def image_rect(self) -> QRectF:
        """Where the frame is drawn: fitted in the widget, aspect kept, centred."""
        if self._image is None:
            return QRectF()
        iw, ih = self._image.width(), self._image.height()
        scale = min(self.width() / iw, self.height() / ih)
        w, h = iw * scale, ih * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#101317"))
        if self._image is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            target = self.image_rect()
            p.drawImage(target, self._image)
            if self.show_landmarks and self._points is not None:
                self._paint_landmarks(p, target, self._image)
            self.frames_painted += 1
        elif self.placeholder:
            p.setPen(QColor("#9aa4b2"))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.15)
            p.setFont(font)
            p.drawText(
                self.rect().adjusted(24, 24, -24, -24),
                Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap,
                self.placeholder,
            )
        self._paint_caption(p)
        p.end()

    def _paint_caption(self, p: QPainter) -> None:
        lines = [t for t in (self.caption, self.message) if t]
        if not lines:
            return
        font = QFont(self.font())
        p.setFont(font)
        metrics = p.fontMetrics()
        pad = 6
        width = max(metrics.horizontalAdvance(t) for t in lines) + 2 * pad
        height = metrics.height() * len(lines) + 2 * pad - 2
        box = QRectF(8, 8, width, height)
        path = QPainterPath()
        path.addRoundedRect(box, 6, 6)
        p.fillPath(path, QColor(0, 0, 0, 150))
        for i, text in enumerate(lines):
            p.setPen(QColor("#ffffff") if i == 0 else QColor("#c8d0da"))
            p.drawText(QPointF(box.left() + pad, box.top() + pad + metrics.ascent() + i * metrics.height()), text)

    def _paint_landmarks(self, p: QPainter, target: QRectF, image: QImage) -> None:
        """The landmarks over `image` drawn into target (their coordinates are the image's pixels)."""
        sx = target.width() / image.width()
        sy = target.height() / image.height()
        pts = [QPointF(target.left() + x * sx, target.top() + y * sy) for x, y in np.asarray(self._points)[:, :2]]
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        for part in PARTS.values():
            idx = list(part.indices)
            pen = QPen(QColor(*part.colour, 220))
            pen.setWidthF(1.5)
            p.setPen(pen)
            path = QPainterPath(pts[idx[0]])
            for i in idx[1:]:
                path.lineTo(pts[i])
            if part.closed:
                path.closeSubpath()
            p.drawPath(path)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(255, 255, 255, 230))
        for pt in pts:
            p.drawEllipse(pt, 1.6, 1.6)
