"""HelpOverlay: the keyboard shortcuts and how to get started, drawn over the window (F1 or ?)."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QRectF, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QPainterPath
from PySide6.QtWidgets import QWidget

GETTING_STARTED = (
    "Add a portrait (a photo or a painting) with “Add portrait…” or by dropping image files on the window.",
    "Choose your camera or a video file as the source; the avatar follows the face it sees.",
    "Turn on the virtual camera to use the avatar in a video call, or the stream to use it in OBS.",
)


class HelpOverlay(QWidget):
    """Covers its parent; any key or click closes it."""

    def __init__(self, shortcuts: list[tuple[str, str]], parent: QWidget) -> None:
        super().__init__(parent)
        self.shortcuts = shortcuts
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground, False)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        parent.installEventFilter(self)
        self.hide()

    def toggle(self) -> None:
        if self.isVisible():
            self.hide()
        else:
            self._fit_parent()
            self.show()
            self.raise_()
            self.setFocus()

    def eventFilter(self, obj, event) -> bool:  # noqa: N802
        if obj is self.parentWidget() and event.type() == QEvent.Type.Resize and self.isVisible():
            self._fit_parent()
        return False

    def _fit_parent(self) -> None:
        """Covers the whole window it helps with (an overlay without a parent keeps its own size)."""
        parent = self.parentWidget()
        if parent is not None:
            self.setGeometry(parent.rect())

    def keyPressEvent(self, event) -> None:  # noqa: N802
        self.hide()

    def mousePressEvent(self, event) -> None:  # noqa: N802
        self.hide()

    def paintEvent(self, event) -> None:  # noqa: N802
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor(8, 10, 14, 200))
        base = QFont(self.font())
        title = QFont(base)
        title.setPointSizeF(base.pointSizeF() * 1.5)
        title.setBold(True)
        bold = QFont(base)
        bold.setBold(True)
        line = p.fontMetrics().height() + 6
        width = min(self.width() - 40, 640)
        rows = len(self.shortcuts) + len(GETTING_STARTED) * 2 + 6
        height = min(self.height() - 40, rows * line + 40)
        card = QRectF((self.width() - width) / 2, (self.height() - height) / 2, width, height)
        path = QPainterPath()
        path.addRoundedRect(card, 12, 12)
        p.fillPath(path, QColor("#1c2129"))
        x, y = card.left() + 28, card.top() + 24
        p.setPen(QColor("#ffffff"))
        p.setFont(title)
        p.drawText(QRectF(x, y, width - 56, line * 1.5), "Keyboard shortcuts")
        y += line * 1.6
        key_width = 120
        for keys, what in self.shortcuts:
            p.setFont(bold)
            p.setPen(QColor("#7cc4ff"))
            p.drawText(QRectF(x, y, key_width, line), Qt.AlignmentFlag.AlignLeft, keys)
            p.setFont(base)
            p.setPen(QColor("#e6e9ee"))
            p.drawText(QRectF(x + key_width, y, width - 56 - key_width, line), Qt.AlignmentFlag.AlignLeft, what)
            y += line
        y += line * 0.5
        p.setFont(title)
        p.setPen(QColor("#ffffff"))
        p.drawText(QRectF(x, y, width - 56, line * 1.5), "Getting started")
        y += line * 1.6
        p.setFont(base)
        p.setPen(QColor("#e6e9ee"))
        for i, text in enumerate(GETTING_STARTED, 1):
            rect = QRectF(x, y, width - 56, line * 2)
            p.drawText(rect, Qt.TextFlag.TextWordWrap, f"{i}. {text}")
            y += line * 2
        p.setPen(QColor("#9aa4b2"))
        p.drawText(
            QRectF(card.left(), card.bottom() - line - 10, width, line),
            Qt.AlignmentFlag.AlignHCenter,
            "Press any key or click to close",
        )
        p.end()
