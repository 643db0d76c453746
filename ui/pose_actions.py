"""PoseActions: the edit mode (pose the avatar by hand with the sliders) and saving its still.

A part of the window that gets the widgets it drives and callbacks, never the window itself (the window
imports its parts; a part importing the window back would be a circle). The renders are PoseEditor's, off
the GUI thread; in edit mode the avatar view shows them instead of the live frames.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QFileDialog, QWidget

from liveavatar.errors import LiveAvatarError
from liveavatar.live.events import FrameReport
from liveavatar.models.checkpoint import Checkpoint

from .editor import PoseEditor
from .session import LiveSession
from .widgets.expression import ExpressionPanel
from .widgets.frame_view import FrameView


class PoseActions:
    """checkpoint(): the loaded model or None; closed(): the window is closing (renders are then dropped);
    last_report(): the newest live frame, shown again when edit mode ends."""

    def __init__(
        self,
        parent: QWidget,
        editor: PoseEditor,
        panel: ExpressionPanel,
        avatar_view: FrameView,
        session: LiveSession,
        post: Callable[..., object],
        *,
        checkpoint: Callable[[], Checkpoint | None],
        closed: Callable[[], bool],
        last_report: Callable[[], FrameReport | None],
    ) -> None:
        self.parent = parent
        self.editor = editor
        self.panel = panel
        self.avatar_view = avatar_view
        self.session = session
        self.post = post
        self.checkpoint = checkpoint
        self.closed = closed
        self.last_report = last_report
        panel.edit_toggled.connect(self.set_edit_mode)
        panel.pose_changed.connect(self.pose_changed)
        panel.save_still_requested.connect(self.save_still_dialog)
        editor.rendered.connect(self._on_posed)
        editor.failed.connect(lambda text: self.post(text, "error", key="edit"))

    @property
    def editing(self) -> bool:
        return self.panel.edit.isChecked()

    def set_edit_mode(self, on: bool) -> None:
        """Edit mode: the pose sliders drive the avatar view (no camera needed); off: the live view again."""
        report = self.last_report()
        if on:
            if self.checkpoint() is None or self.session.avatar is None:
                self.post("Posing by hand needs a model and an avatar: add a portrait first", "warning")
                self.panel.edit.setChecked(False)
                return
            self.pose_changed(self.panel.pose())
        elif report is not None and report.output is not None:
            self.avatar_view.caption = report.avatar
            self.avatar_view.show_frame(report.output)

    def repose(self) -> None:
        """In edit mode: the same pose again, for a new avatar or background."""
        self.pose_changed(self.panel.pose())

    def pose_changed(self, pose) -> None:
        if not self.editing:
            return
        o = self.session.options
        self.editor.set_target(self.checkpoint(), self.session.avatar, o.engine, o.output_size, o.background)
        self.editor.request(pose)

    def _on_posed(self, frame) -> None:
        if self.editing and not self.closed():
            self.avatar_view.caption = f"{self.session.avatar.name if self.session.avatar else ''} (posed by hand)"
            self.avatar_view.show_frame(frame.output)

    def save_still(self, path: Path) -> None:
        """Writes the last hand-set pose (with the AI mark) to path; says what happened in the status area."""
        from liveavatar.files.imageio import write_image

        frame = self.editor.last
        if frame is None:
            self.post("Nothing to save yet: move a slider to pose the avatar", "warning")
            return
        try:
            write_image(path, frame.output)
        except (LiveAvatarError, OSError) as exc:
            self.post(f"cannot save the still: {exc}", "error")
            return
        self.post(f"Still saved: {path}", "info", key="still-saved")

    def save_still_dialog(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save the still", "liveavatar-pose.png", "PNG image (*.png)")
        if path:
            self.save_still(Path(path))
