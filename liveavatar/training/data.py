"""Reading a prepared dataset for training and evaluation: shards → frames, landmarks, episodes.

Needs numpy (1 or 2), OpenCV and torch; never mediapipe, so training runs on machines without it.
Images leave this module as float tensors B×…×3×S×S in [-1, 1], RGB; landmark images are drawn here, at
load time, by the one rasterizer (render.rasterize), at the model's image size.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np
import torch

from liveavatar.errors import InputError
from liveavatar.files.imageio import decode_image
from liveavatar.models.tensors import unit_from_uint8
from liveavatar.training.shards import DATASET_FORMAT, FORMAT_VERSION, read_json, read_shard

Part = Literal["train", "held_out", "all"]


@dataclass(frozen=True)
class VideoRecord:
    key: str
    person: str
    video: str
    frames: int
    shard: Path


@dataclass
class PreparedDataset:
    root: Path
    info: dict[str, Any]
    videos: list[VideoRecord]
    split: dict[str, Any]
    fingerprint: str  # sha256 of index.json + split.json: which frames and which split a run saw

    def select(self, part: Part) -> list[VideoRecord]:
        if part == "all":
            return list(self.videos)
        persons = set(self.split[part])
        return [v for v in self.videos if v.person in persons]

    def describe(self, part: Part) -> dict[str, Any]:
        videos = self.select(part)
        return {
            "path": str(self.root),
            "fingerprint": self.fingerprint[:16],
            "part": part,
            "videos": len(videos),
            "persons": len({v.person for v in videos}),
            "frames": sum(v.frames for v in videos),
        }


def open_dataset(root: str | Path) -> PreparedDataset:
    """Opens DATA_DIR written by `liveavatar prepare`; InputError if it is not one."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise InputError(f"{root} is a file; --data names the dataset folder written by `liveavatar prepare`")
    if not root.is_dir():
        raise InputError(f"{root}: no such dataset folder; create one with `liveavatar prepare VIDEO_DIR -o {root}`")
    hint = f"{root} is not a finished dataset; run `liveavatar prepare VIDEO_DIR -o {root}` (again) first"
    info = read_json(root / "dataset.json", hint)
    if not isinstance(info, dict) or info.get("format") != DATASET_FORMAT or info.get("version") != FORMAT_VERSION:
        raise InputError(f"{root} is not a version-{FORMAT_VERSION} LiveAvatar dataset; prepare it again with --force")
    index_bytes = (root / "index.json").read_bytes() if (root / "index.json").is_file() else b""
    index = read_json(root / "index.json", hint)
    split = read_json(root / "split.json", hint)
    videos = _video_records(root, index, split)
    if not videos:
        raise InputError(f"{root} holds no usable videos (see its report.json)")
    fingerprint = hashlib.sha256(index_bytes + (root / "split.json").read_bytes()).hexdigest()
    return PreparedDataset(root, info, videos, split, fingerprint)


def _video_records(root: Path, index: Any, split: Any) -> list[VideoRecord]:
    """index.json's videos with at least 2 frames (an episode needs a source and another target frame),
    each field checked, shards confined to the dataset folder; InputError naming the file otherwise."""

    def damaged(name: str, problem: str) -> InputError:
        return InputError(f"{root / name} is damaged ({problem}); prepare the dataset again with --force")

    if not isinstance(split, dict) or not all(
        isinstance(split.get(part), list) and all(isinstance(p, str) for p in split[part])
        for part in ("train", "held_out")
    ):
        raise damaged("split.json", "no train and held_out lists of persons")
    entries = index.get("videos") if isinstance(index, dict) else None
    if not isinstance(entries, list):
        raise damaged("index.json", "no list of videos")
    records = []
    folder = root.resolve()
    for n, v in enumerate(entries):
        texts = [v.get(k) for k in ("key", "person", "video", "shard")] if isinstance(v, dict) else []
        frames = v.get("frames") if isinstance(v, dict) else None
        if len(texts) != 4 or not all(isinstance(t, str) for t in texts) or not isinstance(frames, int):
            raise damaged("index.json", f"video {n} lacks key, person, video, shard or frames")
        shard = root / texts[3]
        if folder not in shard.resolve().parents:
            raise damaged("index.json", f"video {n}'s shard lies outside the dataset")
        if frames >= 2:
            records.append(VideoRecord(texts[0], texts[1], texts[2], frames, shard))
    return records


def scale_points(points: np.ndarray, from_size: int, to_size: int) -> np.ndarray:
    """Crop-pixel coordinates at one crop size → another (pixel centres at integers in both)."""
    if from_size == to_size:
        return points.astype(np.float32)
    return ((points + 0.5) * (to_size / from_size) - 0.5).astype(np.float32)


def decode_video(record: VideoRecord, size: int, frames: Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Decodes frames of one shard at `size`: (N×size×size×3 uint8 RGB, N×68×2 float32 crop pixels)."""
    shard = read_shard(record.shard)
    wanted = range(len(shard)) if frames is None else frames
    stored = int(shard.meta["size"])
    images = np.empty((len(wanted), size, size, 3), np.uint8)
    if len(wanted) and (min(wanted) < 0 or max(wanted) >= len(shard)):
        raise InputError(f"shard {record.shard} holds {len(shard)} frames, fewer than its index says; prepare again")
    for n, i in enumerate(wanted):
        what = f"frame {i} of shard {record.shard}"
        try:
            rgb = decode_image(shard.jpeg_bytes(int(i)), what)  # bounded: a damaged shard cannot declare 100000²
        except InputError as exc:
            raise InputError(f"{exc}; prepare the dataset again with --force") from None
        if rgb.shape[:2] != (stored, stored):
            raise InputError(f"{what} is {rgb.shape[1]}×{rgb.shape[0]}, not {stored}×{stored}; prepare again")
        images[n] = rgb if stored == size else cv2.resize(rgb, (size, size), interpolation=cv2.INTER_AREA)
    points = scale_points(shard.points[np.asarray(list(wanted), np.int64)], stored, size)
    return images, points


def landmark_images(points: np.ndarray, size: int) -> np.ndarray:
    """N×68×2 crop-pixel landmarks → N×size×size×3 uint8 RGB landmark images (THE rasterizer)."""
    from liveavatar.render.rasterize import rasterize_landmarks

    return (
        np.stack([rasterize_landmarks(p, size) for p in points])
        if len(points)
        else np.zeros((0, size, size, 3), np.uint8)
    )


@dataclass(frozen=True)
class Episodes:
    """A batch of K-shot episodes: video (B), frames (B×(K+1)) numbers within the video;
    columns 0..K-1 are the K source frames that make ê, column K is the target frame."""

    video: torch.Tensor
    frames: torch.Tensor


def sample_episodes(
    counts: Sequence[int],
    batch: int,
    k: int,
    generator: torch.Generator,
    target_weights: Sequence[torch.Tensor] | None = None,
) -> Episodes:
    """Draws `batch` episodes: a video uniformly, then a target and K other frames of it (with repeats
    only when the video has K frames or fewer besides the target). target_weights: per video, one weight
    per frame for drawing the target (None: uniform)."""
    video = torch.randint(len(counts), (batch,), generator=generator)
    rows = []
    for v in video.tolist():
        n = counts[v]
        perm = torch.randperm(n, generator=generator)
        if target_weights is not None:
            target = torch.multinomial(target_weights[v], 1, generator=generator)
            perm = torch.cat([target, perm[perm != target]])
        sources = perm[1 + torch.arange(k) % (n - 1)]
        rows.append(torch.cat([sources, perm[:1]]))
    return Episodes(video, torch.stack(rows))


class MemoryFrames:
    """Every frame of a list of videos, decoded once, as uint8 tensors on `device` (the GPU's is fastest).

    frames, landmarks: T×3×S×S uint8 (all videos back to back); start[v], count[v]: video v's rows.
    points: T×68×2 float32 (CPU), the landmarks the landmark images were drawn from.
    """

    def __init__(
        self,
        videos: Sequence[VideoRecord],
        size: int,
        device: str | torch.device = "cpu",
        threads: int = 8,
        progress: bool = True,
    ):
        from tqdm import tqdm

        self.size = size
        self.counts = [v.frames for v in videos]

        def load(record: VideoRecord) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
            images, points = decode_video(record, size)
            return images, landmark_images(points, size), points

        # cv2 decodes and draws without the GIL, so threads load shards in parallel.
        with ThreadPoolExecutor(max(1, threads)) as pool:
            loaded = list(
                tqdm(
                    pool.map(load, videos),
                    total=len(videos),
                    desc="loading frames",
                    unit="video",
                    disable=None if progress else True,
                )
            )
        self.counts = [len(images) for images, _, _ in loaded]
        self.start = torch.tensor(np.concatenate([[0], np.cumsum(self.counts)[:-1]]), dtype=torch.long)
        self.frames = (
            torch.from_numpy(np.concatenate([x[0] for x in loaded])).permute(0, 3, 1, 2).contiguous().to(device)
        )
        self.landmarks = (
            torch.from_numpy(np.concatenate([x[1] for x in loaded])).permute(0, 3, 1, 2).contiguous().to(device)
        )
        self.points = torch.from_numpy(np.concatenate([x[2] for x in loaded]))

    def episode_batch(self, episodes: Episodes) -> tuple[torch.Tensor, torch.Tensor]:
        """→ frames, landmark images: B×(K+1)×3×S×S float32 in [-1, 1] on the store's device."""
        rows = (self.start[episodes.video][:, None] + episodes.frames).to(self.frames.device)
        return unit_from_uint8(self.frames[rows]), unit_from_uint8(self.landmarks[rows])

    def episode_points(self, episodes: Episodes) -> torch.Tensor:
        """→ B×(K+1)×68×2 float32 (CPU): the landmarks of the episode's frames, crop pixels (warp presets)."""
        return self.points[self.start[episodes.video][:, None] + episodes.frames]


class ShardFrames:
    """Decodes each episode's frames from its shard when asked: for datasets too large to hold decoded
    (VoxCeleb2: ~10M frames). Episodes are decoded in parallel threads."""

    def __init__(self, videos: Sequence[VideoRecord], size: int, device: str | torch.device = "cpu", threads: int = 8):
        self.videos = list(videos)
        self.size = size
        self.counts = [v.frames for v in videos]
        self.device = torch.device(device)
        self._pool = ThreadPoolExecutor(max(1, threads))

    def _one(self, video: int, frames: list[int]) -> tuple[np.ndarray, np.ndarray]:
        images, points = decode_video(self.videos[video], self.size, frames)
        return images, landmark_images(points, self.size)

    def episode_batch(self, episodes: Episodes) -> tuple[torch.Tensor, torch.Tensor]:
        parts = list(self._pool.map(self._one, episodes.video.tolist(), episodes.frames.tolist()))
        frames = torch.from_numpy(np.stack([p[0] for p in parts])).permute(0, 1, 4, 2, 3)  # B×(K+1)×3×S×S
        marks = torch.from_numpy(np.stack([p[1] for p in parts])).permute(0, 1, 4, 2, 3)
        return unit_from_uint8(frames.to(self.device)), unit_from_uint8(marks.to(self.device))

    def close(self) -> None:
        self._pool.shutdown()
