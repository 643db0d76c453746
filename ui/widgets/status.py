"""StatusArea: the window's messages, newest first, each dismissable, with details on demand.

Errors never open dialogs: a portrait with no face, a missing virtual camera or a failed start each
become one row here. The same message posted again (e.g. every time a control is retried) updates its
row with a count instead of adding rows; a message posted with a `key` replaces that key's earlier one.
At most MAX_ROWS rows stay: older ones go first.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

MAX_ROWS = 4
LEVELS = ("info", "warning", "error")


class StatusRow(QFrame):
    dismissed = Signal(object)

    def __init__(self, key: str, text: str, level: str, detail: str) -> None:
        super().__init__()
        self.key = key
        self.text = text
        self.level = level
        self.count = 1
        self.setObjectName("statusRow")
        self.setProperty("level", level)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 6, 6, 6)
        layout.setSpacing(4)
        top = QHBoxLayout()
        top.setSpacing(6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        top.addWidget(self.label, 1)
        self.details_button = QPushButton("Details")
        self.details_button.setCheckable(True)
        self.details_button.setObjectName("flat")
        self.details_button.setToolTip("Show or hide what went wrong in full")
        top.addWidget(self.details_button, 0, Qt.AlignmentFlag.AlignTop)
        close = QToolButton()
        close.setText("✕")
        close.setObjectName("dismiss")
        close.setToolTip("Dismiss this message")
        close.clicked.connect(lambda: self.dismissed.emit(self))
        top.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        layout.addLayout(top)
        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setMaximumHeight(140)
        self.details.hide()
        layout.addWidget(self.details)
        self.details_button.toggled.connect(self.details.setVisible)
        self.update_message(text, level, detail)

    def update_message(self, text: str, level: str, detail: str, repeat: bool = False) -> None:
        if repeat:
            self.count += 1
        self.text, self.level = text, level
        self.setProperty("level", level)
        self.style().unpolish(self)
        self.style().polish(self)
        self.label.setText(text + (f"  (×{self.count})" if self.count > 1 else ""))
        self.details.setPlainText(detail)
        self.details_button.setVisible(bool(detail))


class StatusArea(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._rows: list[StatusRow] = []
        self._layout = QVBoxLayout(self)
        self._layout.setContentsMargins(0, 0, 0, 0)
        self._layout.setSpacing(4)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.hide()

    def post(self, text: str, level: str = "info", detail: str = "", key: str | None = None) -> StatusRow:
        """Shows a message; returns its row. key: replace this key's earlier message instead of adding one."""
        assert level in LEVELS, level
        key = key or text
        for row in self._rows:
            if row.key == key:
                row.update_message(text, level, detail, repeat=row.text == text)
                self._rows.remove(row)
                self._rows.insert(0, row)
                self._layout.removeWidget(row)
                self._layout.insertWidget(0, row)
                self._refresh()
                return row
        row = StatusRow(key, text, level, detail)
        row.dismissed.connect(self._dismiss_row)
        self._rows.insert(0, row)
        self._layout.insertWidget(0, row)
        while len(self._rows) > MAX_ROWS:
            self._remove(self._rows[-1])
        self._refresh()
        return row

    def dismiss(self, key: str) -> None:
        for row in list(self._rows):
            if row.key == key:
                self._remove(row)
        self._refresh()

    def clear(self) -> None:
        for row in list(self._rows):
            self._remove(row)
        self._refresh()

    def messages(self) -> list[str]:
        """Texts shown, newest first (tests and the screenshot check read them)."""
        return [row.text for row in self._rows]

    def rows(self) -> list[StatusRow]:
        return list(self._rows)

    def _dismiss_row(self, row: StatusRow) -> None:
        self._remove(row)
        self._refresh()

    def _remove(self, row: StatusRow) -> None:
        if row in self._rows:
            self._rows.remove(row)
        self._layout.removeWidget(row)
        row.deleteLater()

    def _refresh(self) -> None:
        self.setVisible(bool(self._rows))
        self.changed.emit()
