"""A training run's folder: what it holds, refusing to overwrite one, and the state --resume continues from.

The files are listed in liveavatar/training/meta_train.py's docstring; only rank 0 writes them.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from liveavatar.errors import CheckpointError, InputError

CHECKPOINT = "checkpoint.safetensors"
RESUME = "resume.pt"
RUN_INFO = "run.json"
RESUME_FORMAT = "liveavatar-resume"
RESUME_VERSION = 1
RUN_FILES = (CHECKPOINT, RESUME, RUN_INFO, "log.csv", "samples", "tensorboard")


def atomic_torch_save(obj: Any, path: Path) -> None:
    tmp = path.with_name(path.name + ".partial")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def load_resume_state(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise InputError(f"--resume: {path} does not exist; there is no run to continue in {path.parent}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch.load raises many kinds for a truncated or foreign file
        raise CheckpointError(
            f"resume state {path} is corrupt ({type(exc).__name__}); start over with --force"
        ) from exc
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise CheckpointError(f"{path} is not a LiveAvatar resume state; start over with --force")
    if state.get("version") != RESUME_VERSION:
        raise CheckpointError(
            f"{path} has resume-state version {state.get('version')}; this LiveAvatar reads {RESUME_VERSION}"
        )
    return state


def check_run_dir(out: Path, preset: str, resume: bool, force: bool) -> dict[str, Any] | None:
    """Refuses to overwrite a run unless --force; returns the resume state for --resume. Deletes nothing."""
    if resume and force:
        raise InputError("--resume and --force contradict each other: choose one")
    existing = [n for n in RUN_FILES if (out / n).exists()]
    if resume:
        state = load_resume_state(out / RESUME)
        if state["preset"] != preset:
            raise CheckpointError(
                f"--resume: the run in {out} trains preset {state['preset']!r}, not {preset!r}; "
                f"pass --preset {state['preset']} or start a new run in another folder"
            )
        return state
    if existing and not force:
        raise InputError(
            f"{out} already holds a training run ({', '.join(existing)}); pass --resume to continue it, "
            "--force to start over (erases it), or choose another --out"
        )
    return None


def clear_run_dir(out: Path) -> None:
    for name in RUN_FILES:
        path = out / name
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
