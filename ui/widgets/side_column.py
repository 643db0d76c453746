"""SideColumn: the window's right-hand column of control panels, scrolled when the window is short."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton, QScrollArea, QVBoxLayout, QWidget

from .controls import EnginePanel, LookPanel, OutputsPanel, SourcePanel
from .expression import ExpressionPanel


class SideColumn(QScrollArea):
    """Source, look, expression, outputs and engine, top to bottom, and the shortcuts button at the foot."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        side = QWidget()
        layout = QVBoxLayout(side)
        layout.setContentsMargins(0, 0, 4, 0)
        self.source_panel = SourcePanel()
        self.look_panel = LookPanel()
        self.outputs_panel = OutputsPanel()
        self.engine_panel = EnginePanel()
        self.expression_panel = ExpressionPanel()
        panels = (self.source_panel, self.look_panel, self.expression_panel, self.outputs_panel, self.engine_panel)
        for panel in panels:
            layout.addWidget(panel)
        layout.addStretch(1)
        self.help_button = QPushButton("Keyboard shortcuts (F1)")
        self.help_button.setObjectName("flat")
        layout.addWidget(self.help_button)
        self.setWidget(side)
        self.setWidgetResizable(True)
        self.setFrameShape(QScrollArea.Shape.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFixedWidth(320)
