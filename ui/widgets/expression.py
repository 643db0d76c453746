"""The expression panel: per-part gains (0-2) with a reset, the region mode, and the edit mode's pose
sliders with "Save still…". Plain signals out; the window turns them into session and editor calls.

Gains are sliders of 0-200 (hundredths), so a value read back is exactly what was shown.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from liveavatar.landmarks.controls import GAIN_LABELS, GAINS, REGION_HELP, REGIONS, ExpressionControls
from liveavatar.landmarks.posing import RANGES, PoseSettings

REGION_LABELS = {
    "everything": "Everything",
    "expression": "Expression only (head still)",
    "pose": "Head pose only",
    "eyes": "Eyes only",
    "lips": "Lips only",
}
POSE_LABELS = {
    "yaw": "Turn",
    "pitch": "Nod",
    "roll": "Tilt",
    "smile": "Smile",
    "mouth": "Mouth open",
    "eyes": "Eyes closed",
    "brows": "Brows",
    "gaze_x": "Look right",
    "gaze_y": "Look down",
}


class FocusWheelSlider(QSlider):
    """A slider that takes the mouse wheel only once it has focus (clicked or tabbed to): scrolling the panel
    over it used to change, and save, an expression gain on the way. Unfocused, the wheel goes on to the
    scroll area."""

    def __init__(self, orientation: Qt.Orientation) -> None:
        super().__init__(orientation)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)  # not WheelFocus: the wheel must not grab focus

    def wheelEvent(self, event) -> None:  # noqa: N802 - Qt's naming
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # to the parent: the panel scrolls


class _SliderRow:
    """A label, a slider of integer steps and the value it stands for (value = step × scale)."""

    def __init__(self, grid: QGridLayout, row: int, label: str, low: float, high: float, scale: float, tip: str):
        self.scale = scale
        self.label = QLabel(label)
        self.slider = FocusWheelSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(round(low / scale), round(high / scale))
        self.slider.setToolTip(tip)
        self.value_label = QLabel()
        self.value_label.setMinimumWidth(34)
        self.value_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        grid.addWidget(self.label, row, 0)
        grid.addWidget(self.slider, row, 1)
        grid.addWidget(self.value_label, row, 2)
        self.slider.valueChanged.connect(self._show)

    def _show(self, _=None) -> None:
        self.value_label.setText(f"{self.value:g}")

    @property
    def value(self) -> float:
        return round(self.slider.value() * self.scale, 4)

    def set_value(self, value: float) -> None:
        self.slider.setValue(round(value / self.scale))
        self._show()


class ExpressionPanel(QGroupBox):
    """Gains and region (live), and the edit mode (pose the avatar by hand, no camera)."""

    controls_changed = Signal(object)  # ExpressionControls
    edit_toggled = Signal(bool)
    pose_changed = Signal(object)  # PoseSettings
    save_still_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Expression", parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(6)
        row = QHBoxLayout()
        row.addWidget(QLabel("Follow"))
        self.region = QComboBox()
        for region in REGIONS:
            self.region.addItem(REGION_LABELS[region], region)
            self.region.setItemData(self.region.count() - 1, REGION_HELP[region], Qt.ItemDataRole.ToolTipRole)
        self.region.setToolTip("Which parts of your motion reach the avatar")
        row.addWidget(self.region, 1)
        layout.addLayout(row)
        grid = QGridLayout()
        grid.setHorizontalSpacing(6)
        grid.setVerticalSpacing(2)
        self.gains: dict[str, _SliderRow] = {}
        for i, name in enumerate(GAINS):
            tip = f"How much of your {GAIN_LABELS[name]} the avatar follows: 0 none, 1 as you move, 2 double"
            self.gains[name] = _SliderRow(grid, i, GAIN_LABELS[name].capitalize(), 0.0, 2.0, 0.01, tip)
        layout.addLayout(grid)
        self.reset = QPushButton("Reset")
        self.reset.setToolTip("Every gain back to 1, following everything")
        self.reset.setObjectName("flat")
        layout.addWidget(self.reset)

        self.edit = QCheckBox("Pose by hand (no camera)")
        self.edit.setToolTip("Sliders pose the avatar instead of your face; save the result as a still")
        layout.addWidget(self.edit)
        self.edit_box = QWidget()
        edit_layout = QVBoxLayout(self.edit_box)
        edit_layout.setContentsMargins(0, 0, 0, 0)
        pose_grid = QGridLayout()
        pose_grid.setVerticalSpacing(2)
        self.pose_sliders: dict[str, _SliderRow] = {}
        for i, (name, (low, high, meaning)) in enumerate(RANGES.items()):
            scale = 1.0 if high > 1 else 0.01
            self.pose_sliders[name] = _SliderRow(pose_grid, i, POSE_LABELS[name], low, high, scale, meaning)
        edit_layout.addLayout(pose_grid)
        buttons = QHBoxLayout()
        self.pose_reset = QPushButton("Rest")
        self.pose_reset.setObjectName("flat")
        self.pose_reset.setToolTip("The portrait as it is")
        self.save_still = QPushButton("Save still…")
        self.save_still.setToolTip("Save this pose as an image (with the AI mark)")
        buttons.addWidget(self.pose_reset)
        buttons.addWidget(self.save_still, 1)
        edit_layout.addLayout(buttons)
        layout.addWidget(self.edit_box)
        self.edit_box.hide()

        self.set_controls(ExpressionControls())
        self.set_pose(PoseSettings())
        for gain in self.gains.values():
            gain.slider.valueChanged.connect(self._emit_controls)
        self.region.currentIndexChanged.connect(self._emit_controls)
        self.reset.clicked.connect(lambda: self.set_controls(ExpressionControls(), emit=True))
        for s in self.pose_sliders.values():
            s.slider.valueChanged.connect(self._emit_pose)
        self.pose_reset.clicked.connect(lambda: self.set_pose(PoseSettings(), emit=True))
        self.edit.toggled.connect(self._edit_toggled)
        self.save_still.clicked.connect(self.save_still_requested)

    def controls(self) -> ExpressionControls:
        return ExpressionControls(**{n: s.value for n, s in self.gains.items()}, region=self.region.currentData())

    def set_controls(self, controls: ExpressionControls, emit: bool = False) -> None:
        widgets = [s.slider for s in self.gains.values()] + [self.region]
        for w in widgets:
            w.blockSignals(True)
        try:
            for name, row in self.gains.items():
                row.set_value(getattr(controls, name))
            self.region.setCurrentIndex(REGIONS.index(controls.region))
        finally:
            for w in widgets:
                w.blockSignals(False)
        if emit:
            self._emit_controls()

    def pose(self) -> PoseSettings:
        return PoseSettings(**{n: s.value for n, s in self.pose_sliders.items()})

    def set_pose(self, pose: PoseSettings, emit: bool = False) -> None:
        for name, row in self.pose_sliders.items():
            row.slider.blockSignals(True)
            row.set_value(getattr(pose, name))
            row.slider.blockSignals(False)
        if emit:
            self._emit_pose()

    def _emit_controls(self, _=None) -> None:
        self.controls_changed.emit(self.controls())

    def _emit_pose(self, _=None) -> None:
        self.pose_changed.emit(self.pose())

    def _edit_toggled(self, on: bool) -> None:
        self.edit_box.setVisible(on)
        self.edit_toggled.emit(on)
