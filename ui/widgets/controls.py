"""The control panels, grouped as a user thinks of them: where the face comes from (Source), what runs
the model (Engine), how the result looks (Look), and where it goes (Outputs).

Panels hold their widgets as public attributes and emit plain signals; the window turns those into
session calls and feeds states back (set_* methods). Labels are plain words; every hotkey is in a tooltip.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QStandardItemModel
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QColorDialog,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from liveavatar.live.events import RunStats, SinkState

OUTPUT_SIZES = ((1280, 720), (1920, 1080), (960, 540), (640, 360), (720, 720), (640, 480))
BACKGROUNDS = (
    ("portrait", "The whole portrait (face pasted back)"),
    ("green", "Chroma-key green"),
    ("colour", "A solid colour…"),
)


def _group_layout(box: QGroupBox) -> QVBoxLayout:
    layout = QVBoxLayout(box)
    layout.setContentsMargins(8, 8, 8, 8)
    layout.setSpacing(6)
    return layout


def _check_box(layout: QVBoxLayout, text: str, tip: str, checked: bool = True) -> QCheckBox:
    """A check box with its tooltip, added to `layout`."""
    box = QCheckBox(text)
    box.setToolTip(tip)
    box.setChecked(checked)
    layout.addWidget(box)
    return box


class HintLabel(QLabel):
    """Small grey text that takes no room while it is empty."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt's name
        super().setText(text)
        self.setVisible(bool(text))


def small_label(text: str = "", selectable: bool = False) -> QLabel:
    label = HintLabel()
    label.setWordWrap(True)
    label.setObjectName("hint")
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    label.setText(text)
    return label


class SourcePanel(QGroupBox):
    """Cameras found, recent video files, and "Video file…"."""

    source_chosen = Signal(str)  # "webcam:N" or a file path
    browse_requested = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Source", parent)
        layout = _group_layout(self)
        row = QHBoxLayout()
        self.combo = QComboBox()
        self.combo.setToolTip("Where your face comes from: a camera, or a video file (it loops)")
        self.combo.setPlaceholderText("Choose a source")
        self.combo.setMinimumContentsLength(14)
        self.combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        row.addWidget(self.combo, 1)
        self.browse = QPushButton("Video file…")
        self.browse.setToolTip("Drive the avatar with a video file instead of a camera")
        row.addWidget(self.browse)
        layout.addLayout(row)
        self.info = small_label()
        layout.addWidget(self.info)
        self.combo.activated.connect(lambda i: self.source_chosen.emit(self.combo.itemData(i)))
        self.browse.clicked.connect(self.browse_requested)

    def set_sources(self, cameras: list[tuple[str, str]], files: list[str], current: str | None) -> None:
        """cameras: (value "webcam:N", label); files: recent video paths; current: the value to select."""
        self.combo.blockSignals(True)
        self.combo.clear()
        for value, label in cameras:
            self.combo.addItem(label, value)
        for path in files:
            self.combo.addItem(f"Video: {Path(path).name}", path)
            self.combo.setItemData(self.combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        if current:
            index = self.combo.findData(current)
            if index < 0:
                self.combo.addItem(f"Video: {Path(current).name}", current)
                index = self.combo.count() - 1
            self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)
        if not cameras:
            self.info.setText("No camera found. Plug one in, or choose a video file.")
        else:
            self.info.setText("")


class EnginePanel(QGroupBox):
    """Which runtime runs the generator, and why the others cannot run here."""

    engine_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Engine", parent)
        layout = _group_layout(self)
        self.combo = QComboBox()
        self.combo.setToolTip("What runs the model. Automatic picks the fastest one that works on this computer")
        layout.addWidget(self.combo)
        self.using = small_label()
        layout.addWidget(self.using)
        self.reasons = small_label(selectable=True)
        layout.addWidget(self.reasons)
        self.combo.activated.connect(lambda i: self.engine_chosen.emit(self.combo.itemData(i)))

    def set_engines(self, availability: list[tuple[str, str | None]], current: str) -> None:
        """availability: (engine, None or why it cannot run here), as engines.registry.engine_availability says."""
        self.combo.blockSignals(True)
        self.combo.clear()
        self.combo.addItem("Automatic (fastest available)", "auto")
        model = self.combo.model()
        assert isinstance(model, QStandardItemModel)  # QComboBox's own model: its items can be disabled
        for name, reason in availability:
            self.combo.addItem(name if reason is None else f"{name} (unavailable)", name)
            if reason is not None:
                item = model.item(self.combo.count() - 1)
                item.setEnabled(False)
                item.setToolTip(reason)
        index = max(0, self.combo.findData(current))
        self.combo.setCurrentIndex(index)
        self.combo.blockSignals(False)
        unavailable = [reason for _name, reason in availability if reason]
        self.reasons.setText("Not available here:\n• " + "\n• ".join(unavailable) if unavailable else "")

    def set_running(self, engine: str) -> None:
        self.using.setText(f"Running on <b>{engine}</b>" if engine else "")


class LookPanel(QGroupBox):
    """Output size, background, mirroring, how the face follows yours, calibration, landmarks overlay."""

    size_chosen = Signal(int, int)
    background_chosen = Signal(str, object)  # "portrait" | "green" | "colour", RGB tuple or None
    option_toggled = Signal(str, bool)  # a LiveOptions field ("mirror", "driver_mouth", "creases"), its new value
    mode_chosen = Signal(str)
    calibrate_requested = Signal()
    landmarks_toggled = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Look", parent)
        layout = _group_layout(self)
        layout.addWidget(QLabel("Output size"))
        self.size_combo = QComboBox()
        for w, h in OUTPUT_SIZES:
            self.size_combo.addItem(f"{w} × {h}", (w, h))
        self.size_combo.setToolTip("Size of the picture sent to the virtual camera, the stream and recordings")
        layout.addWidget(self.size_combo)
        layout.addWidget(QLabel("Background"))
        bg_row = QHBoxLayout()
        self.background_combo = QComboBox()
        for value, label in BACKGROUNDS:
            self.background_combo.addItem(label, value)
        self.background_combo.setToolTip(
            "Behind the face: the portrait itself (the whole painting moves), green for chroma keying, or a colour"
        )
        bg_row.addWidget(self.background_combo, 1)
        self.colour_button = QPushButton()
        self.colour_button.setFixedWidth(34)
        self.colour_button.setToolTip("Pick the background colour")
        bg_row.addWidget(self.colour_button)
        layout.addLayout(bg_row)
        self.colour = (32, 32, 32)
        self._show_colour()

        self.mirror = _check_box(layout, "Mirror the output (M)", "Flip left and right, like a mirror (M)", False)
        self.own_mouth = _check_box(
            layout,
            "Your own mouth inside",
            "When you open your mouth, show the inside of yours (teeth, tongue) in the portrait's colours; off: "
            "a drawn one, in the portrait's colours",
        )
        self.creases = _check_box(
            layout,
            "Your creases and shading",
            "Lay the folds and shade your expression makes (a smile's folds, the shade under an open jaw, your "
            "shut lids' shading) on the portrait's face; off: the portrait keeps its own light as it moves",
        )
        self.landmarks = _check_box(
            layout, "Show face points on the camera (L)", "Draw the tracked face points over the camera image (L)"
        )

        layout.addWidget(QLabel("The avatar follows"))
        self.relative = QRadioButton("Your movements (recommended)")
        self.relative.setToolTip(
            "Relative mode: your head and expression changes move the portrait's own face, so its shape stays"
        )
        self.absolute = QRadioButton("Your exact face shape")
        self.absolute.setToolTip("Absolute mode: your face points as they are, as in the paper (A toggles)")
        self.mode_group = QButtonGroup(self)
        self.mode_group.addButton(self.relative)
        self.mode_group.addButton(self.absolute)
        self.relative.setChecked(True)
        layout.addWidget(self.relative)
        layout.addWidget(self.absolute)
        self.calibrate = QPushButton("Calibrate neutral pose (C)")
        self.calibrate.setToolTip("Look straight at the camera with a relaxed face, then press C")
        layout.addWidget(self.calibrate)

        self.size_combo.activated.connect(lambda i: self.size_chosen.emit(*self.size_combo.itemData(i)))
        self.background_combo.activated.connect(self._background_activated)
        self.colour_button.clicked.connect(self._pick_colour)
        self.mirror.toggled.connect(lambda on: self.option_toggled.emit("mirror", on))
        self.own_mouth.toggled.connect(lambda on: self.option_toggled.emit("driver_mouth", on))
        self.creases.toggled.connect(lambda on: self.option_toggled.emit("creases", on))
        self.landmarks.toggled.connect(self.landmarks_toggled)
        self.relative.toggled.connect(lambda on: self.mode_chosen.emit("relative" if on else "absolute"))
        self.calibrate.clicked.connect(self.calibrate_requested)

    def _show_colour(self) -> None:
        r, g, b = self.colour
        self.colour_button.setStyleSheet(f"background-color: rgb({r},{g},{b}); border-radius: 4px;")
        self.colour_button.setVisible(self.background_combo.currentData() == "colour")

    def _background_activated(self, index: int) -> None:
        kind = self.background_combo.itemData(index)
        self._show_colour()
        self.background_chosen.emit(kind, self.colour if kind == "colour" else None)

    def _pick_colour(self) -> None:
        colour = QColorDialog.getColor(QColor(*self.colour), self, "Background colour")
        if colour.isValid():
            self.colour = (colour.red(), colour.green(), colour.blue())
            self._show_colour()
            self.background_chosen.emit("colour", self.colour)

    def set_values(
        self,
        size: tuple[int, int],
        background: str,
        colour: tuple[int, int, int],
        mirror: bool,
        mode: str,
        landmarks: bool,
        own_mouth: bool = True,
        creases: bool = True,
    ) -> None:
        widgets = (
            self.size_combo,
            self.background_combo,
            self.mirror,
            self.own_mouth,
            self.creases,
            self.relative,
            self.absolute,
            self.landmarks,
        )
        for widget in widgets:
            widget.blockSignals(True)
        index = self.size_combo.findData(size)
        if index < 0:
            self.size_combo.addItem(f"{size[0]} × {size[1]}", size)
            index = self.size_combo.count() - 1
        self.size_combo.setCurrentIndex(index)
        self.background_combo.setCurrentIndex(max(0, self.background_combo.findData(background)))
        self.colour = colour
        self.mirror.setChecked(mirror)
        self.own_mouth.setChecked(own_mouth)
        self.creases.setChecked(creases)
        (self.relative if mode == "relative" else self.absolute).setChecked(True)
        self.landmarks.setChecked(landmarks)
        for widget in widgets:
            widget.blockSignals(False)
        self._show_colour()


class OutputRow(QWidget):
    """One output: an on/off button, a state line, and a detail line (address, file, or the fix)."""

    toggled = Signal(bool)

    def __init__(self, title: str, tooltip: str) -> None:
        super().__init__()
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 2, 0, 2)
        layout.setSpacing(2)
        top = QHBoxLayout()
        self.title = QLabel(f"<b>{title}</b>")
        top.addWidget(self.title, 1)
        self.button = QPushButton("Off")
        self.button.setCheckable(True)
        self.button.setObjectName("toggle")
        self.button.setToolTip(tooltip)
        self.button.setMinimumWidth(64)
        top.addWidget(self.button)
        layout.addLayout(top)
        self.extra = QHBoxLayout()
        layout.addLayout(self.extra)
        self.state = small_label(selectable=True)
        layout.addWidget(self.state)
        self.button.toggled.connect(self._toggled)

    def _toggled(self, on: bool) -> None:
        self.button.setText("On" if on else "Off")
        self.toggled.emit(on)

    def set_on(self, on: bool) -> None:
        self.button.blockSignals(True)
        self.button.setChecked(on)
        self.button.setText("On" if on else "Off")
        self.button.blockSignals(False)

    def set_state(self, text: str, level: str = "info") -> None:
        self.state.setText(text)
        self.state.setProperty("level", level)
        self.state.style().unpolish(self.state)
        self.state.style().polish(self.state)


class OutputsPanel(QGroupBox):
    vcam_toggled = Signal(bool)
    record_toggled = Signal(bool)
    http_toggled = Signal(bool, int)
    open_recordings = Signal()
    choose_recordings = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__("Outputs", parent)
        layout = _group_layout(self)
        self.vcam = OutputRow("Virtual camera", "Show the avatar as a camera in Zoom, Meet, Teams or OBS (V)")
        layout.addWidget(self.vcam)
        self.record = OutputRow("Record to a file", "Start or stop recording an MP4 video (R)")
        self.open_folder = QPushButton("Open folder")
        self.open_folder.setObjectName("flat")
        self.open_folder.setToolTip("Open the folder where recordings are saved")
        self.choose_folder = QPushButton("Change folder…")
        self.choose_folder.setObjectName("flat")
        self.choose_folder.setToolTip("Choose where recordings are saved")
        self.record.extra.addStretch(1)
        self.record.extra.addWidget(self.choose_folder)
        self.record.extra.addWidget(self.open_folder)
        layout.addWidget(self.record)
        self.http = OutputRow(
            "Stream for OBS", "Serve the video on this computer for an OBS browser or media source (S)"
        )
        self.port = QSpinBox()
        self.port.setRange(1024, 65535)
        self.port.setValue(8765)
        self.port.setToolTip("The port of the stream's address")
        self.http.extra.addWidget(QLabel("Port"))
        self.http.extra.addWidget(self.port)
        self.http.extra.addStretch(1)
        self.copy_address = QPushButton("Copy address")
        self.copy_address.setObjectName("flat")
        self.copy_address.setToolTip("Copy the stream's address, to paste into OBS")
        self.copy_address.hide()
        self.http.extra.addWidget(self.copy_address)
        self.address = ""
        layout.addWidget(self.http)
        self.vcam.toggled.connect(self.vcam_toggled)
        self.record.toggled.connect(self.record_toggled)
        self.http.toggled.connect(lambda on: self.http_toggled.emit(on, self.port.value()))
        self.open_folder.clicked.connect(self.open_recordings)
        self.choose_folder.clicked.connect(self.choose_recordings)
        self.copy_address.clicked.connect(self._copy_address)
        self._recording: str | None = None  # the key of the recording this panel shows

    def _copy_address(self) -> None:
        from PySide6.QtGui import QGuiApplication

        QGuiApplication.clipboard().setText(self.address)

    def show_failure(self, kind: str, message: str) -> None:
        """An output could not be turned on (or off): its button goes back off and the row says why."""
        row, prefix = {
            "vcam": (self.vcam, "Not available"),
            "http": (self.http, "Not started"),
            "record": (self.record, "Recording failed"),
        }[kind]
        row.set_on(False)
        row.set_state(f"{prefix}: {message}", "error")
        if kind == "http":
            self.copy_address.hide()

    def show_vcam_unavailable(self, problem: str) -> None:
        """What the virtual camera row says when no virtual camera can open here (found before it is turned
        on, by liveavatar.environment.health): the same line a failed attempt shows; the button stays usable, so
        loading the module and clicking again works."""
        self.vcam.set_state(f"Not available: {problem}", "error")

    def show_sink_state(self, state: SinkState) -> str | None:
        """Shows a sink's state on its row; returns the path of a recording that was just saved, else None."""
        if state.kind == "vcam":
            row = self.vcam
            if state.status == "failed":
                row.set_on(False)
                row.set_state(f"Not available: {state.detail}", "error")
            else:
                texts = {"opening": "Opening…", "running": f"On: {state.detail}", "closed": "Off"}
                row.set_on(state.status in ("opening", "running"))
                row.set_state(texts[state.status], "ok" if state.status == "running" else "info")
        elif state.kind == "http":
            row = self.http
            if state.status == "failed":
                row.set_on(False)
                row.set_state(f"Not started: {state.detail}", "error")
            elif state.status == "running":
                row.set_on(True)
                self.address = state.detail.split()[0] if state.detail else ""
                row.set_state(f"In OBS, add a browser or media source with this address:\n{state.detail}", "ok")
            elif state.status == "closed":
                row.set_on(False)
                row.set_state("")
            self.copy_address.setVisible(state.status == "running" and bool(self.address))
        elif state.kind == "record":
            row = self.record
            path = state.target
            if state.status == "running":
                self._recording = state.key
                row.set_on(True)
                row.set_state(f"Recording to {Path(path).name}", "ok")
            elif state.status == "failed":
                row.set_on(False)
                row.set_state(f"Recording failed: {state.detail}", "error")
            elif state.status == "closed" and state.key == self._recording:
                self._recording = None
                path = state.detail or path  # the recorder picks NAME-1.mp4 when NAME.mp4 exists
                row.set_on(False)
                row.set_state(f"Saved {Path(path).name}")
                return path
        return None


STAGES = ("track", "retarget", "rasterize", "infer", "compose", "sinks")


def stats_line(stats: RunStats) -> str:
    """One line under the live view: rate, delay, time per stage, frames skipped, engine."""
    stages = " · ".join(f"{k} {stats.stages[k].p50:.0f}" for k in STAGES if k in stats.stages)
    return (
        f"{stats.fps:.1f} fps · latency {stats.latency.p50:.0f} ms (p95 {stats.latency.p95:.0f}) · "
        f"{stages} ms · skipped {sum(stats.dropped.values())} · {stats.engine}"
    )


def stats_tooltip(stats: RunStats) -> str:
    lines = [f"{k}: p50 {v.p50:.1f} ms, p95 {v.p95:.1f} ms" for k, v in stats.stages.items()]
    lines.append("Frames skipped so far to stay live: " + stats.dropped_text())
    lines.append("The live path always shows the newest frame, so a slow stage skips frames instead of lagging")
    return "\n".join(lines)
