"""Avatars: portrait(s) of one person → ψ, cached in a file with everything the live path needs.

An avatar file is a safetensors file (format "liveavatar-avatar", version 1) holding:
  psi                 L float32: ψ = P·ê, ê averaged over the portraits
  crop                S×S×3 uint8 RGB: the first portrait's aligned face crop
  landmarks           68×2 float32: that crop's landmarks, in crop pixels (the retargeting target)
  portrait_jpeg       uint8 bytes: the first portrait (long side ≤ 1280) for paste-back backgrounds
  crop_matrix         2×3 float64: portrait (as stored) → crop affine
  thumbnail           128×128×3 uint8 RGB
  generator.*         optional fine-tuned generator weights (few-shot fine-tuning, §3.4 of the paper)
  warp_inverse        (n+3)×(n+3) float32, `warp` presets only: the thin-plate spline's L⁻¹ over `landmarks`
                      and the crop's border anchors (liveavatar/models/warp.py); `crop` is the texture it moves.
                      Derived from `landmarks`, so a warp avatar written without it still loads (recomputed).
and metadata: format, format_version, name, preset, checkpoint_sha256, adain_layout_version, sources,
notes (what the tracker said about each portrait).
An avatar only works with the checkpoint it was built with; loading checks the hash.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from liveavatar.errors import AvatarError, InputError
from liveavatar.imageio import read_image
from liveavatar.models.adain_layout import LAYOUT_VERSION
from liveavatar.models.checkpoint import Checkpoint

FORMAT = "liveavatar-avatar"
FORMAT_VERSION = 1
THUMBNAIL_SIZE = 128
PORTRAIT_MAX_SIDE = 1280

Progress = Callable[[str, float], None]  # (what is happening, fraction done 0..1)


@dataclass
class Avatar:
    name: str
    psi: np.ndarray
    preset: str
    checkpoint_sha256: str
    crop: np.ndarray
    landmarks: np.ndarray
    portrait: np.ndarray
    crop_matrix: np.ndarray
    thumbnail: np.ndarray
    sources: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    generator_weights: dict[str, torch.Tensor] | None = None
    warp_inverse: np.ndarray | None = None

    @property
    def is_finetuned(self) -> bool:
        return self.generator_weights is not None


def prepare_portrait(path: Path, size: int):
    """Reads, tracks, crops and rasterizes one portrait → (portrait, crop transform, crop, crop landmarks, note)."""
    import cv2

    from liveavatar.landmarks.tracker import detect_portrait
    from liveavatar.render.align import face_crop

    image = read_image(path)
    scale = min(1.0, PORTRAIT_MAX_SIDE / max(image.shape[:2]))
    if scale < 1.0:
        image = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
    face, note = detect_portrait(image, path.name)
    crop_tf = face_crop(face.points68, size)
    crop = crop_tf.warp(image)
    points = crop_tf.points_to_crop(face.points68).astype(np.float32)
    return image, crop_tf, crop, points, note


def build_avatar(
    portraits: Sequence[str | Path],
    checkpoint: Checkpoint,
    name: str | None = None,
    progress: Progress | None = None,
) -> Avatar:
    """Detects, crops, rasterizes and embeds each portrait, averages ê and projects ψ = P·ê."""
    import cv2

    from liveavatar.models.tensors import to_tensor
    from liveavatar.render.rasterize import rasterize_landmarks

    paths = [Path(p) for p in portraits]
    if not paths:
        raise InputError("no portrait given; pass one or more images of the same person")
    size = checkpoint.config.image_size
    report = progress or (lambda what, fraction: None)
    crops, marks, notes = [], [], []
    first = None
    for i, path in enumerate(paths):
        report(f"finding the face in {path.name}", i / (len(paths) + 1))
        image, crop_tf, crop, points, note = prepare_portrait(path, size)
        if first is None:
            first = (image, crop_tf, crop, points)
        crops.append(crop)
        marks.append(rasterize_landmarks(points, size))
        if note:
            notes.append(f"{path.name}: {note}")
    report("computing the embedding", len(paths) / (len(paths) + 1))
    model = checkpoint.model
    device = next(model.parameters()).device
    with torch.inference_mode():
        frames = to_tensor(np.stack(crops), device)[None]  # 1×K×3×S×S
        landmark_images = to_tensor(np.stack(marks), device)[None]
        psi = model.psi(frames, landmark_images)[0].float().cpu().numpy()
    image, crop_tf, crop, points = first
    warp_inverse = None
    if checkpoint.config.warp is not None:
        from liveavatar.models.warp import tps_inverse

        w = checkpoint.config.warp
        warp_inverse = tps_inverse(points, size, w.anchors, w.regularization)
    report("done", 1.0)
    return Avatar(
        name=name or paths[0].stem,
        psi=psi,
        preset=checkpoint.config.preset,
        checkpoint_sha256=checkpoint.sha256,
        crop=crop,
        landmarks=points,
        portrait=image,
        crop_matrix=np.asarray(crop_tf.matrix, dtype=np.float64),
        thumbnail=cv2.resize(crop, (THUMBNAIL_SIZE, THUMBNAIL_SIZE), interpolation=cv2.INTER_AREA),
        sources=[str(p) for p in paths],
        notes=notes,
        warp_inverse=warp_inverse,
    )


def save_avatar(avatar: Avatar, path: str | Path) -> Path:
    """Writes atomically: a failure never leaves a partial file under the real name."""
    import cv2
    from safetensors.torch import save_file

    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(avatar.portrait, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 92])
    if not ok:
        raise AvatarError(f"cannot encode the portrait of {avatar.name}")
    tensors = {
        "psi": torch.from_numpy(np.ascontiguousarray(avatar.psi, dtype=np.float32)),
        "crop": torch.from_numpy(np.ascontiguousarray(avatar.crop)),
        "landmarks": torch.from_numpy(np.ascontiguousarray(avatar.landmarks, dtype=np.float32)),
        "portrait_jpeg": torch.from_numpy(jpeg.reshape(-1).copy()),
        "crop_matrix": torch.from_numpy(np.ascontiguousarray(avatar.crop_matrix, dtype=np.float64)),
        "thumbnail": torch.from_numpy(np.ascontiguousarray(avatar.thumbnail)),
    }
    if avatar.warp_inverse is not None:
        tensors["warp_inverse"] = torch.from_numpy(np.ascontiguousarray(avatar.warp_inverse, dtype=np.float32))
    for key, value in (avatar.generator_weights or {}).items():
        tensors[f"generator.{key}"] = value.detach().cpu().float().contiguous()
    metadata = {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "name": avatar.name,
        "preset": avatar.preset,
        "checkpoint_sha256": avatar.checkpoint_sha256,
        "adain_layout_version": str(LAYOUT_VERSION),
        "sources": json.dumps(avatar.sources),
        "notes": json.dumps(avatar.notes),
    }
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def load_avatar(path: str | Path, checkpoint_sha256: str | None = None) -> Avatar:
    """Loads an avatar; with `checkpoint_sha256`, refuses one built with another checkpoint."""
    import cv2
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise AvatarError(f"avatar {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise AvatarError(f"{path} is not a readable avatar file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise AvatarError(f"{path} is not a LiveAvatar avatar (format {meta.get('format')!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise AvatarError(
            f"avatar {path} has format version {meta.get('format_version')}; this LiveAvatar reads {FORMAT_VERSION}"
        )
    if checkpoint_sha256 is not None and meta.get("checkpoint_sha256") != checkpoint_sha256:
        raise AvatarError(
            f"avatar {path} was built with checkpoint {meta.get('checkpoint_sha256', '?')[:12]}…, not with the "
            f"loaded checkpoint {checkpoint_sha256[:12]}…; rebuild it with `liveavatar avatar` and this checkpoint"
        )
    try:
        portrait_bgr = cv2.imdecode(tensors["portrait_jpeg"].numpy(), cv2.IMREAD_COLOR)
        generator = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
        return Avatar(
            name=meta.get("name", path.stem),
            psi=tensors["psi"].numpy(),
            preset=meta.get("preset", "?"),
            checkpoint_sha256=meta.get("checkpoint_sha256", ""),
            crop=tensors["crop"].numpy(),
            landmarks=tensors["landmarks"].numpy(),
            portrait=cv2.cvtColor(portrait_bgr, cv2.COLOR_BGR2RGB),
            crop_matrix=tensors["crop_matrix"].numpy(),
            thumbnail=tensors["thumbnail"].numpy(),
            sources=json.loads(meta.get("sources", "[]")),
            notes=json.loads(meta.get("notes", "[]")),
            generator_weights=generator or None,
            warp_inverse=tensors["warp_inverse"].numpy() if "warp_inverse" in tensors else None,
        )
    except (KeyError, cv2.error, TypeError, json.JSONDecodeError) as exc:
        raise AvatarError(f"avatar {path} is incomplete or corrupt ({exc!r})") from exc


def warp_inverse_of(avatar: Avatar, checkpoint: Checkpoint) -> np.ndarray:
    """The avatar's stored spline L⁻¹, or (an avatar written without it) recomputed from its landmarks."""
    from liveavatar.models.warp import tps_inverse

    w = checkpoint.config.warp
    if w is None:
        raise AvatarError(f"checkpoint preset {checkpoint.config.preset!r} has no warp")
    if avatar.warp_inverse is not None:
        return avatar.warp_inverse
    return tps_inverse(avatar.landmarks, avatar.crop.shape[0], w.anchors, w.regularization)
