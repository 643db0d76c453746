"""AvatarsHeader: the row above the gallery (its title, add and sample buttons, and a build's progress)."""

from __future__ import annotations

from PySide6.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QWidget


class AvatarsHeader(QWidget):
    """Shows what it is told; the buttons' clicks are wired by the window's gallery actions."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(QLabel("<b>Avatars</b>"))
        self.add_button = QPushButton("Add portrait…")
        self.add_button.setObjectName("primary")
        self.add_button.setToolTip(
            "Make an avatar from one or more images of one person: a photo, a painting, a statue (Ctrl+O). "
            "You can also drop image files on the window"
        )
        row.addWidget(self.add_button)
        self.sample_button = QPushButton("Try the sample portrait")
        self.sample_button.setToolTip(
            "Make a first avatar from the public-domain photo of Grace Hopper that matplotlib ships "
            "(the portrait `liveavatar demo` animates)"
        )
        self.sample_button.hide()  # offered while the gallery is empty
        row.addWidget(self.sample_button)
        self.build_label = QLabel("")
        self.build_label.setObjectName("hint")
        row.addWidget(self.build_label, 1)
        self.build_bar = QProgressBar()
        self.build_bar.setRange(0, 100)
        self.build_bar.setTextVisible(False)
        self.build_bar.setFixedWidth(180)
        self.build_bar.hide()
        row.addWidget(self.build_bar)
        self.cancel_build = QPushButton("Cancel")
        self.cancel_build.setObjectName("flat")
        self.cancel_build.hide()
        row.addWidget(self.cancel_build)

    def build_started(self, name: str) -> None:
        self.build_label.setText(f"Building {name}…")
        self.build_bar.setValue(0)
        self.build_bar.show()
        self.cancel_build.show()
        self.add_button.setEnabled(False)

    def build_progress(self, what: str, fraction: float) -> None:
        self.build_bar.setValue(round(fraction * 100))
        self.build_label.setText(what[:1].upper() + what[1:] + "…")

    def build_ended(self, can_add: bool) -> None:
        self.build_bar.hide()
        self.cancel_build.hide()
        self.build_label.setText("")
        self.add_button.setEnabled(can_add)
