"""What an avatar file must hold to be used: every array's shape, dtype and range, its metadata, and a
content checksum, all checked at load so a damaged or crafted file is refused with one message instead of
failing mid-run (a zero crop matrix), rendering nothing (NaN landmarks) or going unnoticed (a bit flip).

Arrays here are numpy (the file's tensors as read by safetensors); the layout is in liveavatar.avatar.
The checksum (metadata "content_sha256", written by save_avatar since this check exists) is a SHA-256
over every array's name, dtype, shape and bytes and every other metadata field, in sorted order. Avatars
saved before it existed carry none: they still load, every other check applies to them.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import numpy as np

from liveavatar.errors import AvatarError, LiveAvatarError
from liveavatar.files.imageheader import HeaderError, read_header
from liveavatar.files.jsonlimits import parse_json
from liveavatar.files.text import printable

CHECKSUM_KEY = "content_sha256"
REQUIRED = ("psi", "crop", "landmarks", "portrait_image", "crop_matrix", "thumbnail")
# warp presets only; the irises, eye contours and iris radii are absent from files written before them
OPTIONAL = ("warp_inverse", "irises", "eye_contours", "iris_radii")
MAX_WARP_POINTS = 70 + 4 * 64  # the landmarks, 2 irises and up to 64 border anchors per side
GENERATOR_PREFIX = "generator."
THUMBNAIL_SHAPE = (128, 128, 3)
MIN_CROP, MAX_CROP = 16, 1024
MAX_PSI_SIZE = 1 << 20
PSI_LIMIT = 1e3  # |ψ| of real avatars stays below ~1 (0.33 for the bundled model's Grace Hopper)
MAX_NAME = 200
MAX_PORTRAIT_SIDE = 2048  # avatars store their portrait at ≤ 2048 px (liveavatar.avatar.PORTRAIT_MAX_SIDE)
MAX_LIST = 1000
_SHA256 = re.compile(r"[0-9a-f]{6,64}")  # a SHA-256 in hex, or a prefix of one


def content_checksum(arrays: dict[str, np.ndarray], metadata: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for key in sorted(arrays):
        array = np.ascontiguousarray(arrays[key])
        digest.update(f"{key}|{array.dtype.str}|{array.shape}\n".encode())
        digest.update(array.tobytes())
    for key in sorted(metadata):
        if key != CHECKSUM_KEY:
            digest.update(f"{key}={metadata[key]}\n".encode())
    return digest.hexdigest()


def check_avatar(path: object, arrays: dict[str, np.ndarray], meta: dict[str, str]) -> dict[str, Any]:
    """Checks an avatar file's arrays and metadata; returns the parsed metadata fields (name, preset,
    checkpoint_sha256, sources, notes) and the portrait (H×W×3 uint8 RGB). AvatarError naming the file."""
    from liveavatar.files.imageio import decode_image

    def fail(problem: str) -> AvatarError:
        return AvatarError(
            f"avatar {path} is damaged: {problem}; rebuild it from its portrait with `liveavatar avatar` "
            "(or add the portrait again in the app)"
        )

    stored = meta.get(CHECKSUM_KEY)
    if stored is not None and stored != content_checksum(arrays, meta):
        raise fail("its contents do not match the checksum written when it was saved (bit flips or an edit)")
    missing = [k for k in REQUIRED if k not in arrays]
    if missing:
        raise fail(f"it has no {', '.join(missing)}")
    unknown = [k for k in arrays if k not in REQUIRED + OPTIONAL and not k.startswith(GENERATOR_PREFIX)]
    if unknown:
        raise fail(f"it holds unknown arrays {printable(unknown[:5])}")

    def array(key: str, dtype: type, shape: tuple[int | None, ...]) -> np.ndarray:
        value = arrays[key]
        fits = value.ndim == len(shape) and all(s in (None, v) for s, v in zip(shape, value.shape, strict=False))
        if value.dtype != dtype or not fits:
            want = "×".join("N" if s is None else str(s) for s in shape)
            raise fail(f"{key} is {value.dtype} {'×'.join(map(str, value.shape))}, not {np.dtype(dtype)} {want}")
        return value

    psi = array("psi", np.float32, (None,))
    if not 1 <= psi.size <= MAX_PSI_SIZE:
        raise fail(f"psi has {psi.size} values")
    if not np.isfinite(psi).all():
        raise fail("psi holds NaN or infinite values")
    if float(np.abs(psi).max()) > PSI_LIMIT:
        peak = float(np.abs(psi).max())
        raise fail(f"psi reaches {peak:.3g}, far outside what an embedding gives (|ψ| ≤ {PSI_LIMIT:g})")
    crop = array("crop", np.uint8, (None, None, 3))
    size = crop.shape[0]
    if crop.shape[1] != size or not MIN_CROP <= size <= MAX_CROP:
        raise fail(f"crop is {crop.shape[1]}×{crop.shape[0]}, not a square of {MIN_CROP} to {MAX_CROP} px")
    landmarks = array("landmarks", np.float32, (68, 2))
    if not np.isfinite(landmarks).all():
        raise fail("landmarks hold NaN or infinite values")
    if landmarks.min() < -size or landmarks.max() > 2 * size:
        raise fail(f"landmarks lie far outside the {size}×{size} crop")
    extent = landmarks.max(axis=0) - landmarks.min(axis=0)
    if extent.min() < size / 8:  # a real face fills about half the crop; a collapsed one froze the output
        raise fail(f"landmarks span {extent[0]:.1f}×{extent[1]:.1f} px, not a face in the {size}×{size} crop")
    matrix = array("crop_matrix", np.float64, (2, 3))
    if not np.isfinite(matrix).all():
        raise fail("crop_matrix holds NaN or infinite values")
    singular = np.linalg.svd(matrix[:, :2], compute_uv=False)
    if singular.min() < 1e-4 or singular.max() > 1e4:
        raise fail("crop_matrix is not invertible (it maps the portrait onto a line or a point)")
    array("thumbnail", np.uint8, THUMBNAIL_SHAPE)
    if "irises" in arrays:  # NaN rows are irises the tracker did not find (a statue's blank eye)
        irises = array("irises", np.float32, (2, 2))
        if (
            np.isinf(irises).any()
            or np.nanmin(np.r_[irises.ravel(), 0.0]) < -size
            or np.nanmax(np.r_[irises.ravel(), 0.0]) > 2 * size
        ):
            raise fail(f"irises lie far outside the {size}×{size} crop")
    if ("eye_contours" in arrays) != ("iris_radii" in arrays):
        raise fail("it holds eye_contours or iris_radii without the other")
    if "eye_contours" in arrays:  # NaN for an eye whose iris was not found
        contours = array("eye_contours", np.float32, (2, 16, 2))
        radii = array("iris_radii", np.float32, (2,))
        values = np.r_[contours.ravel(), 0.0]
        if np.isinf(values).any() or np.nanmin(values) < -size or np.nanmax(values) > 2 * size:
            raise fail(f"eye_contours lie far outside the {size}×{size} crop")
        if np.isinf(radii).any() or ((radii <= 0) | (radii > size)).any():  # NaN compares False: not found
            raise fail(f"iris_radii are not radii inside the {size}×{size} crop")
    if "warp_inverse" in arrays:  # warp presets: the spline's L⁻¹ over the landmarks and border anchors
        inverse = array("warp_inverse", np.float32, (None, None))
        n = inverse.shape[0]
        if inverse.shape[1] != n or not len(landmarks) + 3 <= n <= MAX_WARP_POINTS + 3:
            raise fail(f"warp_inverse is {inverse.shape[0]}×{inverse.shape[1]}, not square over the landmarks")
        if not np.isfinite(inverse).all():
            raise fail("warp_inverse holds NaN or infinite values")
    encoded = array("portrait_image", np.uint8, (None,))
    try:
        header = read_header(encoded.data)
    except HeaderError as exc:
        raise fail(f"its portrait is not an image ({exc})") from None
    if max(header.width, header.height) > MAX_PORTRAIT_SIDE:
        # save_avatar stores ≤ 2048 px; the gallery keeps every portrait in memory, so a crafted 50 MP one
        # per file would add up
        raise fail(
            f"its portrait is {header.width}×{header.height}, larger than the {MAX_PORTRAIT_SIDE} px an avatar stores"
        )
    try:
        portrait = decode_image(encoded, f"the portrait in avatar {path}")
    except LiveAvatarError as exc:
        raise fail(str(exc)) from None
    for key, value in arrays.items():
        if key.startswith(GENERATOR_PREFIX):
            if value.dtype != np.float32 or not np.isfinite(value).all():
                raise fail(f"fine-tuned weight {printable(key)} is not finite float32")

    name = meta.get("name", "")
    if not isinstance(name, str) or len(name) > MAX_NAME:
        raise fail(f"its name is longer than {MAX_NAME} characters")
    sha = meta.get("checkpoint_sha256", "")
    if not _SHA256.fullmatch(sha):
        raise fail("its checkpoint_sha256 is not a SHA-256")
    lists = {}
    for key in ("sources", "notes"):
        value = parse_json(meta.get(key, "[]"), f"avatar {path}: metadata {key!r}", AvatarError)
        if not isinstance(value, list) or len(value) > MAX_LIST or not all(isinstance(v, str) for v in value):
            raise fail(f"metadata {key!r} is not a list of at most {MAX_LIST} strings")
        lists[key] = value
    return {
        "name": name,
        "preset": meta.get("preset", "?"),
        "checkpoint_sha256": sha,
        "sources": lists["sources"],
        "notes": lists["notes"],
        "portrait": portrait,
    }
