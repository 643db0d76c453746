"""Avatars: portrait(s) of one person → ψ, cached in a file with everything the live path needs.

An avatar file is a safetensors file (format "liveavatar-avatar", version 2) holding:
  psi                 L float32: ψ = P·ê, ê averaged over the portraits
  crop                S×S×3 uint8 RGB: the first portrait's aligned face crop
  landmarks           68×2 float32: that crop's landmarks, in crop pixels (the retargeting target)
  irises              2×2 float32: that crop's iris centres (subject's right first), crop pixels, from mediapipe's
                      refined mesh; a row NaN where none was found (a statue's blank eye: that eye does not look
                      around). Optional, `warp` presets only: a format-2 file written before the irises (no format
                      bump) loads with irises None, i.e. not found: the eyes do not look around, its warp_inverse
                      (over the 68 landmarks) is checked and recomputed over the control points.
  eye_contours        2×16×2 float32: that crop's eye openings (liveavatar.render.eyeballs.EYE_CONTOURS), crop
  iris_radii          pixels, and 2 float32: the irises' radii, from the same refined-mesh pass; NaN for an eye
                      whose iris was not found. Optional, together (no format bump): a file written before them
                      loads with both None, and its eyes look around by the spline alone.
  portrait_image      uint8 bytes: the first portrait as a PNG (lossless), at its own size up to PORTRAIT_MAX_SIDE:
                      the pixels the full-resolution output moves (liveavatar.render.full_resolution)
  crop_matrix         2×3 float64: portrait (as stored) → crop affine
  thumbnail           128×128×3 uint8 RGB
  generator.*         optional fine-tuned generator weights (few-shot fine-tuning, §3.4 of the paper), float32
  warp_inverse        (n+3)×(n+3) float32, `warp` presets only: the thin-plate spline's L⁻¹ over the control
                      points (`landmarks` and the irises, liveavatar.landmarks.irises.spline_source) and the crop's
                      border anchors (liveavatar/models/warp.py); `crop` is the texture it moves. Derived from
                      them, so a warp avatar written without it still loads (recomputed).
and metadata: format, format_version, name, preset, checkpoint_sha256, adain_layout_version, sources,
notes (what the tracker said about each portrait), content_sha256 (liveavatar.avatar_checks).
An avatar only works with the checkpoint it was built with; loading checks the hash, and every array's
shape, dtype and range and the content checksum (liveavatar.avatar_checks). Files are read and written as
numpy arrays: avatars need no PyTorch (ψ comes from the embedder, an ONNX graph for the bundled model; see
liveavatar.engines.embedder).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.avatar_checks import CHECKSUM_KEY, check_avatar, content_checksum
from liveavatar.errors import AvatarError, InputError
from liveavatar.files.checks import require_file
from liveavatar.files.imageio import read_image
from liveavatar.files.text import printable
from liveavatar.models.adain_layout import LAYOUT_VERSION
from liveavatar.models.checkpoint import Checkpoint
from liveavatar.render.eyeballs import PortraitEyes
from liveavatar.types import SPLINE_POINTS, WarpAvatar

FORMAT = "liveavatar-avatar"
FORMAT_VERSION = 2  # 2: the portrait at its own size (≤ 2048 px), lossless; 1 stored a ≤ 1280 px JPEG
THUMBNAIL_SIZE = 128
# The portrait is stored, moved and shown at its own size up to this long side. The largest output is 1920×1080:
# a portrait shown whole in it needs at most 1920 of its pixels along its long side, so more would never reach
# a frame, while every app session keeps each avatar's portrait in memory (2048² RGB is 12 MB) and `pose`
# writes stills at the stored size.
PORTRAIT_MAX_SIDE = 2048
MAX_FILE_BYTES = 1 << 30  # a fine-tuned paper-preset avatar is ~300 MB

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
    generator_weights: dict[str, Any] | None = None  # name → float32 array (numpy, or torch fresh from finetune)
    warp_inverse: np.ndarray | None = None
    irises: np.ndarray | None = None  # 2×2 float32 crop pixels, NaN rows where not found; None: not looked for
    eye_contours: np.ndarray | None = None  # 2×16×2 float32 crop pixels, NaN where the iris was not found
    iris_radii: np.ndarray | None = None  # 2 float32 crop pixels, NaN where the iris was not found

    @property
    def is_finetuned(self) -> bool:
        return self.generator_weights is not None

    @property
    def eyes(self) -> PortraitEyes | None:
        """The portrait's eyes as the refined mesh found them, or None for a file written before the contours."""
        if self.irises is None or self.eye_contours is None or self.iris_radii is None:
            return None
        return PortraitEyes(self.irises, self.eye_contours, self.iris_radii)


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


def portrait_eyes(image: np.ndarray, crop_tf) -> PortraitEyes:
    """The portrait's eyes (H×W×3 uint8 RGB, as prepare_portrait returns it) in crop pixels.

    A second pass, with the refined mesh: its eye and lip contours differ a little from the plain mesh's, and
    the landmarks (what the generator and the retargeting were made with) must stay the plain mesh's. The
    refined mesh always places an iris; one that falls outside its eye's opening (a blank statue eye, a
    closed or hidden eye) counts as not found, and that eye's contour and radius are NaN too."""
    import cv2

    from liveavatar.landmarks.irises import EYE_POINTS
    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.render.eyeballs import CONTOUR_POINTS, EYE_CONTOURS

    out = PortraitEyes(
        np.full((2, 2), np.nan, np.float32),
        np.full((2, CONTOUR_POINTS, 2), np.nan, np.float32),
        np.full(2, np.nan, np.float32),
    )
    with FaceTracker("image", max_faces=1, irises=True) as tracker:
        found = tracker.track(np.ascontiguousarray(image)).landmarks
    if found is None or found.irises is None or found.iris_radii is None or found.mesh is None:
        return out
    scale = float(np.sqrt(abs(np.linalg.det(np.asarray(crop_tf.matrix, np.float64)[:, :2]))))  # crop px per px
    points = crop_tf.points_to_crop(found.points68)
    irises = crop_tf.points_to_crop(np.asarray(found.irises[:, :2], np.float32))
    mesh = np.asarray(found.mesh[:, :2], np.float32)
    for e, idx in enumerate(EYE_POINTS):
        eye = np.asarray(points[idx], np.float32).reshape(-1, 1, 2)
        if cv2.pointPolygonTest(eye, (float(irises[e][0]), float(irises[e][1])), False) >= 0:
            out.irises[e] = irises[e]
            out.contours[e] = crop_tf.points_to_crop(mesh[list(EYE_CONTOURS[e])])
            out.radii[e] = float(found.iris_radii[e]) * scale
    return out


def build_avatar(
    portraits: Sequence[str | Path],
    checkpoint: Checkpoint,
    name: str | None = None,
    progress: Progress | None = None,
    *,
    make_embedder: Callable[[Checkpoint], Any],
) -> Avatar:
    """Detects, crops, rasterizes and embeds each portrait, averages ê and projects ψ = P·ê.

    make_embedder(checkpoint): anything with `psi(crops, landmark_images) → 1×L` and `close()`, made once the
    faces are found and closed when done. The core is handed it and never reaches the engines layer: callers
    above the core use liveavatar.engines.embedder.build_avatar, which passes the checkpoint's own
    (create_embedder: ONNX Runtime for the bundled model).
    """
    import cv2

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
    embedder = make_embedder(checkpoint)
    try:
        psi = embedder.psi(np.stack(crops), np.stack(marks))[0]  # K×S×S×3 uint8 RGB each → L float32
    finally:
        embedder.close()
    assert first is not None  # paths is not empty
    image, crop_tf, crop, points = first
    warp_inverse = irises = None
    eyes: PortraitEyes | None = None
    if checkpoint.config.warp is not None:
        from liveavatar.landmarks.irises import spline_source
        from liveavatar.models.tps_system import tps_inverse

        report("finding the eyes", len(paths) / (len(paths) + 1))
        eyes = portrait_eyes(image, crop_tf)
        irises = eyes.irises
        w = checkpoint.config.warp
        warp_inverse = tps_inverse(spline_source(points, irises), size, w.anchors, w.regularization)
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
        irises=irises,
        eye_contours=None if eyes is None else eyes.contours,
        iris_radii=None if eyes is None else eyes.radii,
    )


def save_avatar(avatar: Avatar, path: str | Path) -> Path:
    """Writes atomically: a failure never leaves a partial file under the real name."""
    import cv2
    from safetensors import SafetensorError
    from safetensors.numpy import save_file

    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    # PNG: lossless, so the output at rest is the portrait pixel for pixel (JPEG at 92 moved it by ~40 dB)
    bgr = cv2.cvtColor(avatar.portrait, cv2.COLOR_RGB2BGR)
    ok, encoded = cv2.imencode(".png", bgr, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        raise AvatarError(f"cannot encode the portrait of {avatar.name}")
    tensors = {
        "psi": np.ascontiguousarray(avatar.psi, dtype=np.float32),
        "crop": np.ascontiguousarray(avatar.crop),
        "landmarks": np.ascontiguousarray(avatar.landmarks, dtype=np.float32),
        "portrait_image": encoded.reshape(-1).copy(),
        "crop_matrix": np.ascontiguousarray(avatar.crop_matrix, dtype=np.float64),
        "thumbnail": np.ascontiguousarray(avatar.thumbnail),
    }
    if avatar.warp_inverse is not None:
        tensors["warp_inverse"] = np.ascontiguousarray(avatar.warp_inverse, dtype=np.float32)
    if avatar.irises is not None:
        tensors["irises"] = np.ascontiguousarray(avatar.irises, dtype=np.float32)
    if avatar.eye_contours is not None and avatar.iris_radii is not None:
        tensors["eye_contours"] = np.ascontiguousarray(avatar.eye_contours, dtype=np.float32)
        tensors["iris_radii"] = np.ascontiguousarray(avatar.iris_radii, dtype=np.float32)
    for key, value in (avatar.generator_weights or {}).items():
        if hasattr(value, "detach"):  # a torch tensor fresh from fine-tuning
            value = value.detach().cpu().float().numpy()
        tensors[f"generator.{key}"] = np.ascontiguousarray(value, dtype=np.float32)
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
    metadata[CHECKSUM_KEY] = content_checksum(tensors, metadata)
    tmp = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(tmp), metadata=metadata)
        tmp.replace(path)
    except (OSError, SafetensorError) as exc:  # disk full, read-only, gone: safetensors reports OS errors its way
        raise InputError(
            f"{path}: the avatar could not be written ({exc}); free some space or choose another folder"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path


def rebuild_command(sources: Sequence[str], out: str, force: bool = False) -> str:
    """The command that rebuilds an avatar from the portrait(s) it was built from (as recorded in the file;
    PORTRAIT when it recorded none) for the model in use. A bundled model's successor makes old avatars
    unusable (they hold another model's ψ), and this is what the user types then."""
    portraits = " ".join(_shell_word(printable(s)[:200]) for s in sources[:4]) or "PORTRAIT"
    return f"liveavatar avatar {portraits} -o {_shell_word(out)}" + (" --force" if force else "")


def eyes_note(avatar: Avatar, path: str, checkpoint: Checkpoint) -> str | None:
    """What to tell the user of a `warp` avatar made before its eye openings were stored (their irises follow
    a gaze by the spline alone, a third as far): how to rebuild it. None when there is nothing to say."""
    if checkpoint.config.warp is None or avatar.eyes is not None:
        return None
    return (
        f"{path} was made before avatars stored their eyes' openings: its irises follow your gaze only a third "
        f"as far; rebuild it to have them drawn where you look: {rebuild_command(avatar.sources, path, force=True)}"
    )


def _shell_word(text: str) -> str:
    return text if text and all(c.isalnum() or c in "/._-+:@%" for c in text) else "'" + text.replace("'", "") + "'"


def _built_with_another(
    avatar: str, preset: str, built_with: str, loaded: str, sources: Sequence[str], out: str, force: bool = False
) -> str:
    model = f" (the {printable(preset)[:40]} model)" if preset else ""
    return (
        f"avatar {avatar} was built with checkpoint {built_with[:12]}…{model}, not with the model in use "
        f"({loaded[:12]}…); rebuild it from its portrait: {rebuild_command(sources, out, force)}"
    )


def check_fits_checkpoint(avatar: Avatar, checkpoint_sha256: str, image_size: int) -> None:
    """THE avatar ↔ checkpoint compatibility rule for a loaded avatar: built with this checkpoint (when both
    hashes are known) and cropped at this model's size. load_avatar applies the hash part before reading
    the arrays; ψ's length is checked against the engine (pipeline.avatar_engines), which knows it."""
    if avatar.checkpoint_sha256 and checkpoint_sha256 and avatar.checkpoint_sha256 != checkpoint_sha256:
        raise AvatarError(
            _built_with_another(
                avatar.name,
                avatar.preset,
                avatar.checkpoint_sha256,
                checkpoint_sha256,
                avatar.sources,
                f"{avatar.name}.avatar",
            )
        )
    if avatar.landmarks.shape != (68, 2) or avatar.crop.shape[:2] != (image_size, image_size):
        raise AvatarError(f"avatar {avatar.name} has {avatar.crop.shape[0]} px crops; this model needs {image_size}")


def load_avatar(path: str | Path, checkpoint_sha256: str | None = None) -> Avatar:
    """Loads an avatar; with `checkpoint_sha256`, refuses one built with another checkpoint."""
    from safetensors import SafetensorError, safe_open

    path = require_file(Path(path), "avatar", "pass one .avatar file made by `liveavatar avatar`", AvatarError)
    if path.stat().st_size > MAX_FILE_BYTES:
        raise AvatarError(f"{path} is {path.stat().st_size / 2**20:.0f} MB, larger than any avatar; not an avatar file")
    try:
        with safe_open(str(path), framework="np") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except (SafetensorError, OSError, ValueError, TypeError) as exc:  # TypeError: a dtype numpy lacks (bfloat16)
        raise AvatarError(f"{path} is not a readable avatar file ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise AvatarError(f"{path} is not a LiveAvatar avatar (format {printable(meta.get('format'))[:40]!r})")
    if meta.get("format_version") != str(FORMAT_VERSION):
        raise AvatarError(
            f"avatar {path} has format version {printable(meta.get('format_version'))[:20]}; this LiveAvatar reads "
            f"{FORMAT_VERSION}: rebuild it from its portrait: {rebuild_command(_sources(meta), str(path), force=True)}"
        )
    if checkpoint_sha256 is not None and meta.get("checkpoint_sha256") != checkpoint_sha256:
        built_with = printable(meta.get("checkpoint_sha256", "?"))
        preset, sources = meta.get("preset", ""), _sources(meta)
        # The same file name, replaced (--force): the old one cannot be used with this model anyway.
        raise AvatarError(
            _built_with_another(str(path), preset, built_with, checkpoint_sha256, sources, str(path), force=True)
        )
    arrays = tensors
    fields = check_avatar(path, arrays, meta)
    generator = {k[len("generator.") :]: v for k, v in tensors.items() if k.startswith("generator.")}
    return Avatar(
        name=fields["name"] or path.stem,
        psi=arrays["psi"],
        preset=fields["preset"],
        checkpoint_sha256=fields["checkpoint_sha256"],
        crop=arrays["crop"],
        landmarks=arrays["landmarks"],
        portrait=fields["portrait"],
        crop_matrix=arrays["crop_matrix"],
        thumbnail=arrays["thumbnail"],
        sources=fields["sources"],
        notes=fields["notes"],
        generator_weights=generator or None,
        warp_inverse=arrays.get("warp_inverse"),
        irises=arrays.get("irises"),
        eye_contours=arrays.get("eye_contours"),
        iris_radii=arrays.get("iris_radii"),
    )


def _sources(meta: dict[str, str]) -> list[str]:
    """The portraits an avatar file says it was built from, for messages only (untrusted: [] when odd)."""
    try:
        sources = json.loads(meta.get("sources", "[]")[:4096])
    except ValueError:
        return []
    return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []


def warp_inverse_of(avatar: Avatar, checkpoint: Checkpoint) -> np.ndarray:
    """The spline's L⁻¹ over the avatar's control points (its landmarks and irises,
    liveavatar.landmarks.irises.spline_source): the stored one, or (an avatar written without it, or written
    before the irises, whose L⁻¹ is over the 68 landmarks alone) recomputed. One over another number of
    anchors than this checkpoint's warp (a file not made by `liveavatar avatar` for it) is refused before it
    reaches the frame graph, whose L⁻¹ input has a fixed size."""
    from liveavatar.landmarks.irises import spline_source
    from liveavatar.models.tps_system import border_anchors, tps_inverse

    w = checkpoint.config.warp
    if w is None:
        raise AvatarError(f"checkpoint preset {checkpoint.config.preset!r} has no warp")
    size = avatar.crop.shape[0]
    control = spline_source(avatar.landmarks, avatar.irises)  # 70×2: irises not found are the eyes' centres
    if avatar.warp_inverse is None:
        return tps_inverse(control, size, w.anchors, w.regularization)
    n = SPLINE_POINTS + len(border_anchors(w.anchors)) + 3
    before_irises = avatar.irises is None and avatar.warp_inverse.shape == (n - 2, n - 2)
    if avatar.warp_inverse.shape != (n, n) and not before_irises:
        raise AvatarError(
            f"avatar {avatar.name}: its warp_inverse is {avatar.warp_inverse.shape[0]}×{avatar.warp_inverse.shape[1]}, "
            f"this model's spline needs {n}×{n}; rebuild it from its portrait: "
            + rebuild_command(avatar.sources, f"{avatar.name}.avatar")
        )
    # Finite is not enough: absurd values gave a black or frozen face. L⁻¹ is a function of the control
    # points, so the stored one must be what they give (a millisecond to recompute; float32 rounding tolerated).
    # A file written before the irises holds the L⁻¹ of its 68 landmarks: checked against them, then replaced
    # by the one over the landmarks and the eyes' centres (its irises count as not found).
    expected = tps_inverse(avatar.landmarks if before_irises else control, size, w.anchors, w.regularization)
    scale = max(1.0, float(np.abs(expected).max()))
    if not np.isfinite(expected).all() or float(np.abs(avatar.warp_inverse - expected).max()) > 1e-3 * scale:
        raise AvatarError(
            f"avatar {avatar.name}: its warp_inverse does not match its landmarks (damaged or edited); rebuild it "
            "from its portrait: " + rebuild_command(avatar.sources, f"{avatar.name}.avatar")
        )
    if before_irises:
        return tps_inverse(control, size, w.anchors, w.regularization)
    return avatar.warp_inverse


def warp_avatar_of(avatar: Avatar, checkpoint: Checkpoint) -> WarpAvatar | None:
    """What a `warp` checkpoint's engine needs of this avatar (its crop, landmarks and L⁻¹), or None for the
    paper's presets, whose generator sees the landmark image and ψ only."""
    if checkpoint.config.warp is None:
        return None
    from liveavatar.landmarks.irises import spline_source

    return WarpAvatar(
        texture=np.ascontiguousarray(avatar.crop, np.uint8),
        source=spline_source(avatar.landmarks, avatar.irises),
        inverse=np.ascontiguousarray(warp_inverse_of(avatar, checkpoint), np.float32),
    )
