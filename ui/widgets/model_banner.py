"""ModelBanner: the line above the views that says no model is loaded, with a button to open one."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QWidget


class ModelBanner(QWidget):
    """Hidden until a model fails to load; `open_button` asks the window for a checkpoint file."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.label = QLabel()
        self.label.setObjectName("banner")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.open_button = QPushButton("Open a model file…")
        self.open_button.setToolTip("Choose a trained checkpoint (.safetensors)")
        row = QHBoxLayout(self)
        row.addWidget(self.label, 1)
        row.addWidget(self.open_button)
        row.setContentsMargins(0, 0, 0, 0)
        self.hide()

    def show_problem(self, problem: Exception) -> None:
        """Why no model is loaded (the loader's one line), and the two ways to give it one."""
        self.label.setText(
            f"<b>No model is loaded.</b> {problem}.<br>Until one is, LiveAvatar cannot build avatars or drive "
            "them: open a trained checkpoint here, or start with <code>liveavatar app --checkpoint FILE</code>."
        )
        self.show()
