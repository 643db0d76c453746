"""Splitting a training checkpoint into what ships: the inference model and, apart, its discriminator.

A trained lite checkpoint is ~46 MB in float32 (E 6.3M, G 1.4M, D 3.8M parameters). Inference (avatars,
engines) needs only E, P and G; only few-shot fine-tuning needs D. `split_checkpoint` writes
  NAME.safetensors                 E, P, G in the checkpoint format (loads with load_checkpoint)
  NAME_discriminator.safetensors   D alone, same header (loaded by load_discriminator for fine-tuning)
in float16 by default, which halves the files (lite: 15.4 MB + 7.6 MB, under the 16 MiB a file may have to
fit in to travel back from a rented GPU). Measured on lite (256 px): float16 weights change generated
pixels by 0.17 grey levels on average (max ~2.3 of 255); ψ moves by < 1e-3. Loading turns them back into
float32 (load_state_dict copies into the float32 parameters).
"""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from liveavatar.errors import CheckpointError
from liveavatar.models.checkpoint import (
    DISCRIMINATOR_SUFFIX,
    Checkpoint,
    file_sha256,
    load_folded_state,
    read_metadata,
)
from liveavatar.models.discriminator import Discriminator


def discriminator_path_for(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.stem + DISCRIMINATOR_SUFFIX + checkpoint.suffix)


def _write(tensors: dict[str, torch.Tensor], meta: dict[str, str], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    save_file(tensors, str(tmp), metadata=meta)
    tmp.replace(path)


def split_checkpoint(
    source: str | Path, inference_out: str | Path, dtype: torch.dtype = torch.float16
) -> tuple[Path, Path | None]:
    """Writes the inference checkpoint and (when `source` has D) its discriminator file beside it."""
    source, inference_out = Path(source), Path(inference_out)
    meta = read_metadata(source)
    with safe_open(str(source), framework="pt") as f:
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    main = {k: v.to(dtype).contiguous() for k, v in tensors.items() if not k.startswith("discriminator.")}
    disc = {k: v.to(dtype).contiguous() for k, v in tensors.items() if k.startswith("discriminator.")}
    _write(main, meta, inference_out)
    if not disc:
        return inference_out, None
    d_path = discriminator_path_for(inference_out)
    _write(disc, {**meta, "part": "discriminator", "inference_sha256": file_sha256(inference_out)}, d_path)
    return inference_out, d_path


def load_discriminator(path: str | Path, checkpoint: Checkpoint, spectral: bool = True) -> Discriminator:
    """D from a `_discriminator` file, checked against the checkpoint it was split from."""
    path = Path(path)
    meta = read_metadata(path)
    if meta.get("part") != "discriminator":
        raise CheckpointError(f"{path} is not a discriminator file written by split_checkpoint")
    if meta.get("config") != checkpoint.config.to_json():
        raise CheckpointError(f"{path} belongs to another model config than checkpoint {checkpoint.path}")
    with safe_open(str(path), framework="pt") as f:
        tensors = {k.removeprefix("discriminator."): f.get_tensor(k) for k in f.keys()}
    disc = Discriminator(checkpoint.config, int(meta.get("num_videos", "1")), spectral)
    load_folded_state(disc, tensors, str(path))
    return disc
