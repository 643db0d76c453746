"""Logs a user can look at: scalars to RUN_DIR/log.csv (and TensorBoard event files when tensorboard is
installed), sample grids as PNGs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from liveavatar.models.tensors import to_images


class ScalarLog:
    """Appends one CSV row per logging step; on resume, rows past the resumed step are dropped first, so
    the file reads as one run."""

    def __init__(self, run_dir: Path, resume_step: int = 0):
        self.path = run_dir / "log.csv"
        self.columns: list[str] | None = None
        if resume_step and self.path.is_file():
            with open(self.path, newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.columns = list(rows[0])
                with open(self.path, "w", newline="") as f:
                    writer = csv.DictWriter(f, self.columns)
                    writer.writeheader()
                    writer.writerows(r for r in rows if int(r["step"]) <= resume_step)
        elif self.path.exists():
            self.path.unlink()
        self._tb = None
        try:  # optional: only where the tensorboard package is installed
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(run_dir / "tensorboard"), purge_step=resume_step or None)
        except Exception:  # not installed, or a tensorboard/protobuf mismatch: the CSV is the log then
            self._tb = None

    @property
    def tensorboard(self) -> bool:
        return self._tb is not None

    def write(self, step: int, values: dict[str, float]) -> None:
        row = {"step": step, **{k: f"{v:.6g}" for k, v in values.items()}}
        new = self.columns is None
        if self.columns is None:
            self.columns = list(row)
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, self.columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            writer.writerow(row)
        if self._tb is not None:
            for key, value in values.items():
                self._tb.add_scalar(key, value, step)

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()


def image_grid(columns: list[torch.Tensor], rows: int = 4) -> np.ndarray:
    """Side-by-side columns of N×3×S×S tensors in [-1, 1] (first `rows` of each) → H×W×3 uint8 RGB."""
    images = [to_images(c[:rows].detach().float().cpu()) for c in columns]  # each n×S×S×3
    return np.concatenate([np.concatenate(list(col), axis=0) for col in images], axis=1)


def save_grid(path: Path, columns: list[torch.Tensor], rows: int = 4) -> Path:
    from liveavatar.files.imageio import write_image

    path.parent.mkdir(parents=True, exist_ok=True)
    write_image(path, image_grid(columns, rows))
    return path
