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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.errors import InputError

DATASET_FORMAT = "liveavatar-dataset"
SHARD_FORMAT = "liveavatar-shard"
FORMAT_VERSION = 1
SHARD_SUFFIX = ".npz"


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
    """Reads one shard; InputError naming the file if it is missing or damaged."""
    try:
        with np.load(path, allow_pickle=False) as z:
            shard = Shard(
                jpeg=z["jpeg"],
                offsets=z["offsets"],
                points=z["points"],
                frame_index=z["frame_index"],
                boxes=z["boxes"],
                meta=json.loads(bytes(z["meta"]).decode()),
            )
    except (OSError, ValueError, KeyError, json.JSONDecodeError) as exc:
        raise InputError(f"shard {path} is missing or damaged ({exc}); rerun prepare with --force") from exc
    if shard.meta.get("format") != SHARD_FORMAT or shard.meta.get("version") != FORMAT_VERSION:
        raise InputError(f"{path} is not a version-{FORMAT_VERSION} LiveAvatar shard; rerun prepare with --force")
    return shard


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    os.replace(tmp, path)


def read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path} is missing: {what}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise InputError(f"{path} is unreadable ({exc}): {what}") from exc


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
