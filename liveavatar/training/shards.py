"""The prepared-dataset format: one shard per video plus a few JSON files, readable without mediapipe.

DATA_DIR/
  dataset.json        format "liveavatar-dataset", version, the settings it was prepared with
  shards/<key>.npz    one per usable video (key: the video's path relative to VIDEO_DIR)
  skipped/<key>.json  one per video that gave no shard, with the reason (so a re-run does not retry it)
  index.json          every shard: key, person, video, frame count (training reads this, not every shard)
  report.json         videos used, frames kept, videos skipped and why
  split.json          persons in "train" and "held_out" (seeded, by person)

A shard is an uncompressed .npz (np.savez; no pickled objects, so it loads on numpy 1 and 2):
  jpeg         uint8 (total bytes,): the frames' JPEG files back to back (S×S RGB face crops)
  offsets      int64 (N+1,): frame i is jpeg[offsets[i]:offsets[i+1]]
  points       float32 N×68×2: landmarks (x, y) in crop pixels, pixel centres at integers
  frame_index  int32 N: the frame's number in the source video
  boxes        float32 N×3: the smoothed crop box (cx, cy, side) in source-video pixels
  meta         uint8: UTF-8 JSON {format, version, key, person, video, fps, source_frames, source_size, size}
Landmark images are not stored: they are drawn at load time by the one rasterizer.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.errors import InputError
from liveavatar.files.jsonlimits import parse_json

DATASET_FORMAT = "liveavatar-dataset"
SHARD_FORMAT = "liveavatar-shard"
FORMAT_VERSION = 1
SHARD_SUFFIX = ".npz"
MAX_JSON_BYTES = 256 << 20  # index.json lists every video: ~200 bytes each, a million videos fit


@dataclass
class Shard:
    jpeg: np.ndarray
    offsets: np.ndarray
    points: np.ndarray
    frame_index: np.ndarray
    boxes: np.ndarray
    meta: dict[str, Any]

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def jpeg_bytes(self, i: int) -> np.ndarray:
        return self.jpeg[self.offsets[i] : self.offsets[i + 1]]


def shard_path(root: Path, key: str) -> Path:
    return root / "shards" / (key + SHARD_SUFFIX)


def skip_path(root: Path, key: str) -> Path:
    return root / "skipped" / (key + ".json")


def write_shard(
    path: Path,
    jpegs: list[np.ndarray],
    points: np.ndarray,
    frame_index: np.ndarray,
    boxes: np.ndarray,
    meta: dict[str, Any],
) -> None:
    """Writes atomically (a killed run never leaves a half shard under the real name)."""
    offsets = np.zeros(len(jpegs) + 1, np.int64)
    offsets[1:] = np.cumsum([j.size for j in jpegs])
    meta = {"format": SHARD_FORMAT, "version": FORMAT_VERSION, **meta}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    with open(tmp, "wb") as f:
        np.savez(
            f,
            jpeg=np.concatenate([j.reshape(-1) for j in jpegs]).astype(np.uint8),
            offsets=offsets,
            points=np.asarray(points, np.float32),
            frame_index=np.asarray(frame_index, np.int32),
            boxes=np.asarray(boxes, np.float32),
            meta=np.frombuffer(json.dumps(meta, sort_keys=True).encode(), np.uint8),
        )
    os.replace(tmp, path)


def read_shard(path: Path) -> Shard:
    """Reads one shard and checks its arrays agree (shapes, dtypes, offsets inside the JPEG bytes, finite
    landmarks, a crop size); InputError naming the file if it is missing or damaged."""
    hint = "rerun prepare with --force"
    try:
        with np.load(path, allow_pickle=False) as z:
            shard = Shard(
                jpeg=z["jpeg"],
                offsets=z["offsets"],
                points=z["points"],
                frame_index=z["frame_index"],
                boxes=z["boxes"],
                meta=parse_json(bytes(z["meta"]), f"shard {path}: meta", InputError),
            )
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
        raise InputError(f"shard {path} is missing or damaged ({exc}); {hint}") from None
    if not isinstance(shard.meta, dict):
        raise InputError(f"shard {path} is damaged (its meta is not a JSON object); {hint}")
    if shard.meta.get("format") != SHARD_FORMAT or shard.meta.get("version") != FORMAT_VERSION:
        raise InputError(f"{path} is not a version-{FORMAT_VERSION} LiveAvatar shard; {hint}")
    problem = _shard_problem(shard)
    if problem:
        raise InputError(f"shard {path} is damaged ({problem}); {hint}")
    return shard


def _shard_problem(shard: Shard) -> str:
    """What is inconsistent in a shard's arrays, or "" when nothing is."""
    size = shard.meta.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or not 16 <= size <= 4096:
        return f"crop size {str(size)[:20]!r} is not a number of pixels"
    if shard.jpeg.dtype != np.uint8 or shard.jpeg.ndim != 1:
        return "its JPEG bytes are not a uint8 vector"
    offsets = shard.offsets
    if offsets.dtype.kind not in "iu" or offsets.ndim != 1 or len(offsets) < 2:
        return "its offsets are not an integer vector"
    if offsets[0] != 0 or offsets[-1] != shard.jpeg.size or np.any(np.diff(offsets) <= 0):
        return "its offsets do not cut its JPEG bytes into frames"
    count = len(offsets) - 1
    if shard.points.shape != (count, 68, 2) or shard.points.dtype.kind != "f":
        return f"landmarks of shape {shard.points.shape}, not {count}×68×2 floats"
    if not np.isfinite(shard.points).all():
        return "landmarks hold NaN or infinite values"
    if shard.frame_index.shape != (count,) or shard.boxes.shape[:1] != (count,):
        return "frame numbers or boxes do not match its frame count"
    return ""


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path, what: str) -> Any:
    """A JSON file of a dataset, parsed within limits (liveavatar.files.jsonlimits); `what` says what to do."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{path} is missing: {what}") from None
    except OSError as exc:
        raise InputError(f"{path} is unreadable ({exc.strerror or exc}): {what}") from None
    return parse_json(data, str(path), InputError, max_bytes=MAX_JSON_BYTES)


def make_split(persons: list[str], held_out_fraction: float, seed: int) -> dict[str, Any]:
    """Splits persons into train and held-out: the same persons, fraction and seed give the same split.

    Persons are ranked by a hash of (seed, person), so the split does not depend on the order videos were
    found in; round(fraction × persons) of them are held out, at least one when there are two or more.
    """
    unique = sorted(set(persons))
    ranked = sorted(unique, key=lambda p: hashlib.sha256(f"{seed}:{p}".encode()).hexdigest())
    count = round(held_out_fraction * len(unique))
    if held_out_fraction > 0 and len(unique) >= 2:
        count = min(max(count, 1), len(unique) - 1)
    else:
        count = 0
    held_out = sorted(ranked[:count])
    return {
        "seed": seed,
        "held_out_fraction": held_out_fraction,
        "train": sorted(set(unique) - set(held_out)),
        "held_out": held_out,
    }
