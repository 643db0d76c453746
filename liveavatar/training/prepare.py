"""`prepare`: a folder of talking-head videos → per-video shards of aligned 256×256 face crops + landmarks.

Per video (in a worker process): every frame up to a cap is tracked with mediapipe in video mode; the
crop box (render.align.face_box, the live path's framing) is smoothed over the clip in both directions
with the live path's CropBoxSmoother, so crops do not jitter and do not lag; `frames_per_video` frames
spread evenly over the clip are cropped, JPEG-encoded and written with their landmarks in crop pixels.
A video is skipped, with its reason written down, when it cannot be decoded ("unreadable"), has fewer
than `min_frames` frames ("too short") or shows a face in fewer than `min_frames` sampled frames
("no face"); anything unexpected is "error" with the exception's text. Nothing stops the run.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from liveavatar.errors import InputError, NoFaceError
from liveavatar.training.discover import VideoItem, find_videos
from liveavatar.training.shards import (
    DATASET_FORMAT,
    FORMAT_VERSION,
    make_split,
    read_json,
    shard_path,
    skip_path,
    write_json,
    write_shard,
)

# Track at most this many frames per sampled frame: long videos are tracked at a stride, not whole.
TRACKED_PER_SAMPLE = 4
SMOOTHING_ALPHA = 0.2  # CropBoxSmoother's weight of the newest box, per frame at the source frame rate


@dataclass(frozen=True)
class PrepareSettings:
    image_size: int = 256
    frames_per_video: int = 64
    min_frames: int = 9  # K = 8 sources + 1 target: a video with fewer frames cannot make an episode
    jpeg_quality: int = 90
    held_out_fraction: float = 0.1
    seed: int = 0

    def comparable(self) -> dict[str, Any]:
        """What a resumed run must share with the first one (the split may be redrawn at any time)."""
        return {k: v for k, v in asdict(self).items() if k not in ("held_out_fraction", "seed")}


def _sample_indices(count: int, wanted: int) -> np.ndarray:
    """`wanted` frame numbers spread evenly over [0, count), first and last included."""
    if count <= wanted:
        return np.arange(count)
    return np.unique(np.round(np.linspace(0, count - 1, wanted)).astype(int))


def _frame_count(path: Path) -> int:
    """Frame count from the container, or by decoding when the container does not say (some .mpg)."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        if count > 0:
            return count
        while cap.grab():
            count += 1
        return count
    finally:
        cap.release()


def smooth_boxes(boxes: np.ndarray, alpha: float) -> np.ndarray:
    """Zero-phase smoothing of a clip's crop boxes (T×3: cx, cy, side): the mean of a forward and a
    backward pass of the live path's CropBoxSmoother, so the crop neither jitters nor lags behind."""
    from liveavatar.render.align import CropBox, CropBoxSmoother

    def one_way(rows: np.ndarray) -> np.ndarray:
        smoother = CropBoxSmoother(alpha=alpha)
        out = [smoother.update(CropBox(*map(float, r))) for r in rows]
        return np.array([(b.cx, b.cy, b.side) for b in out], np.float64)

    if len(boxes) == 0:
        return boxes
    return (one_way(boxes) + one_way(boxes[::-1])[::-1]) / 2


def process_video(item: VideoItem, data_dir: Path, settings: PrepareSettings) -> dict[str, Any]:
    """Prepares one video and writes its shard or its skip note; returns a summary row. Never raises."""
    try:
        row = _process(item, data_dir, settings)
    except Exception as exc:  # one broken video must never stop the run; the reason is kept
        row = {"status": "error", "frames": 0, "detail": f"{type(exc).__name__}: {exc}"}
    row.update(key=item.key, person=item.person, video=item.video)
    if row["status"] != "ok":
        write_json(skip_path(data_dir, item.key), row)
    return row


def _process(item: VideoItem, data_dir: Path, settings: PrepareSettings) -> dict[str, Any]:
    import cv2

    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.render.align import CropBox, crop_from_box, face_box

    count = _frame_count(item.path)
    if count == 0:
        return {"status": "unreadable", "frames": 0, "detail": "OpenCV cannot decode any frame"}
    if count < settings.min_frames:
        return {"status": "too short", "frames": 0, "detail": f"{count} frames, need {settings.min_frames}"}
    sampled = _sample_indices(count, settings.frames_per_video)
    stride = max(1, math.ceil(count / (TRACKED_PER_SAMPLE * len(sampled))))
    wanted = set(sampled.tolist())
    last = int(sampled[-1])

    cap = cv2.VideoCapture(str(item.path))
    fps = float(cap.get(cv2.CAP_PROP_FPS)) or 25.0
    tracked_boxes: list[tuple[int, tuple[float, float, float]]] = []  # (frame, raw box) where a face was found
    regions: dict[int, tuple[np.ndarray, int, int, np.ndarray]] = {}  # frame → (region RGB, x0, y0, points)
    frame_size = (0, 0)
    decoded = 0
    try:
        with FaceTracker("video", max_faces=1) as tracker:
            for i in range(last + 1):
                if not cap.grab():
                    break
                decoded = i + 1
                if i % stride and i not in wanted:
                    continue
                ok, bgr = cap.retrieve()
                if not ok:
                    break
                rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                frame_size = (rgb.shape[1], rgb.shape[0])
                found = tracker.track(rgb).landmarks
                if found is None:
                    continue
                box = face_box(found.points68)
                tracked_boxes.append((i, (box.cx, box.cy, box.side)))
                if i in wanted:
                    # Keep only a region twice the box around the face: 64 full HD frames would not fit in
                    # a worker's memory, and the smoothed box never strays that far from the raw one.
                    x0, y0 = max(0, int(box.cx - box.side)), max(0, int(box.cy - box.side))
                    x1 = min(rgb.shape[1], int(box.cx + box.side) + 1)
                    y1 = min(rgb.shape[0], int(box.cy + box.side) + 1)
                    regions[i] = (rgb[y0:y1, x0:x1].copy(), x0, y0, found.points68.astype(np.float32))
    finally:
        cap.release()
    if decoded == 0:
        return {"status": "unreadable", "frames": 0, "detail": "OpenCV cannot decode any frame"}
    if len(regions) < settings.min_frames:
        return {
            "status": "no face",
            "frames": 0,
            "detail": f"a face in {len(regions)} of {len(sampled)} sampled frames, need {settings.min_frames}",
        }

    frames = np.array([f for f, _ in tracked_boxes])
    alpha = 1 - (1 - SMOOTHING_ALPHA) ** stride  # the same smoothing in seconds whatever the stride
    smoothed = dict(zip(frames.tolist(), smooth_boxes(np.array([b for _, b in tracked_boxes]), alpha), strict=True))
    size = settings.image_size
    jpegs, points, boxes, kept = [], [], [], []
    for i in sorted(regions):
        region, x0, y0, pts = regions[i]
        cx, cy, side = smoothed[i]
        crop_tf = crop_from_box(CropBox(cx - x0, cy - y0, side), size)
        crop = crop_tf.warp(region)
        ok, jpeg = cv2.imencode(
            ".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality]
        )
        if not ok:
            raise RuntimeError(f"JPEG encoding failed for frame {i}")
        jpegs.append(jpeg)
        points.append(crop_tf.points_to_crop(pts - np.array([x0, y0], np.float32)))
        boxes.append((cx, cy, side))
        kept.append(i)
    meta = {
        "key": item.key,
        "person": item.person,
        "video": item.video,
        "fps": fps,
        "source_frames": count,
        "source_size": list(frame_size),
        "size": size,
        "tracking_stride": stride,
    }
    write_shard(shard_path(data_dir, item.key), jpegs, np.stack(points), np.array(kept), np.array(boxes), meta)
    return {"status": "ok", "frames": len(kept), "detail": f"{len(kept)} frames of {count}"}


def _init_worker() -> None:
    import cv2

    os.environ.setdefault("GLOG_minloglevel", "2")  # mediapipe's per-video warnings would bury the progress bar
    cv2.setNumThreads(1)  # one video per process; more threads per process only contend


def _run_all(todo: list[VideoItem], data_dir: Path, settings: PrepareSettings, workers: int, bar) -> None:
    """Runs process_video over `todo`; a worker that dies (a decoder crash) costs only its own video."""
    if workers <= 0:
        for item in todo:
            bar.set_postfix_str(process_video(item, data_dir, settings)["status"])
            bar.update(1)
        return
    context = get_context("spawn")  # mediapipe's threads do not survive fork
    retry: list[VideoItem] = []
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_init_worker) as pool:
        futures = {pool.submit(process_video, item, data_dir, settings): item for item in todo}
        for future in as_completed(futures):
            try:
                bar.set_postfix_str(future.result()["status"])
                bar.update(1)
            except BrokenProcessPool:
                retry.append(futures[future])
    # A broken pool fails every video still queued; rerun each alone so only the culprit is marked.
    for item in retry:
        try:
            with ProcessPoolExecutor(1, mp_context=context, initializer=_init_worker) as pool:
                pool.submit(process_video, item, data_dir, settings).result()
        except BrokenProcessPool:
            row = {"status": "error", "frames": 0, "detail": "the video decoder crashed on this file"}
            write_json(skip_path(data_dir, item.key), {**row, "key": item.key, "person": item.person})
        bar.update(1)


def _check_data_dir(data_dir: Path, video_dir: Path, settings: PrepareSettings, force: bool) -> None:
    info_path = data_dir / "dataset.json"
    if force:
        for name in ("shards", "skipped"):
            shutil.rmtree(data_dir / name, ignore_errors=True)
        for name in ("dataset.json", "index.json", "report.json", "split.json"):
            (data_dir / name).unlink(missing_ok=True)
        return
    if info_path.is_file():
        info = read_json(info_path, "rerun prepare with --force")
        if info.get("settings") != settings.comparable():
            raise InputError(
                f"{data_dir} was prepared with other settings ({info.get('settings')}); rerun with the same "
                "settings to resume, or add --force to prepare it again from scratch"
            )
        if info.get("video_dir") != str(video_dir.resolve()):
            raise InputError(
                f"{data_dir} was prepared from {info.get('video_dir')}, not {video_dir.resolve()}; "
                "choose another output folder, or add --force to replace it"
            )
    elif data_dir.is_dir() and any(data_dir.iterdir()):
        raise InputError(
            f"{data_dir} exists, is not empty and is not a LiveAvatar dataset; choose a new folder, or add "
            "--force to write the dataset into it anyway"
        )


def prepare_dataset(
    video_dir: str | Path, data_dir: str | Path, settings: PrepareSettings, workers: int = 0, force: bool = False
) -> dict[str, Any]:
    """Prepares (or resumes preparing) a dataset; returns the report also written to DATA_DIR/report.json.

    Raises InputError for a missing/empty VIDEO_DIR or a DATA_DIR that belongs to something else, and
    NoFaceError (after writing the report) when no video gave a usable shard.
    """
    from tqdm import tqdm

    video_dir, data_dir = Path(video_dir), Path(data_dir)
    items = find_videos(video_dir)
    _check_data_dir(data_dir, video_dir, settings, force)
    started = time.monotonic()
    info = {
        "format": DATASET_FORMAT,
        "version": FORMAT_VERSION,
        "video_dir": str(video_dir.resolve()),
        "settings": settings.comparable(),
    }
    write_json(data_dir / "dataset.json", info)
    todo = [i for i in items if not shard_path(data_dir, i.key).is_file() and not skip_path(data_dir, i.key).is_file()]
    with tqdm(total=len(todo), desc="prepare", unit="video", disable=None) as bar:
        _run_all(todo, data_dir, settings, workers, bar)

    index: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for item in items:
        shard = shard_path(data_dir, item.key)
        if shard.is_file():
            with np.load(shard, allow_pickle=False) as z:
                frames = len(z["offsets"]) - 1
            rel = shard.relative_to(data_dir).as_posix()
            index.append({"key": item.key, "person": item.person, "video": item.video, "frames": frames, "shard": rel})
        else:
            note = read_json(skip_path(data_dir, item.key), "rerun prepare with --force")
            skipped.append({"key": item.key, "reason": note.get("status", "error"), "detail": note.get("detail", "")})
    write_json(data_dir / "index.json", {"videos": index})
    split = make_split([v["person"] for v in index], settings.held_out_fraction, settings.seed)
    write_json(data_dir / "split.json", split)
    report = {
        "video_dir": str(video_dir.resolve()),
        "videos_found": len(items),
        "videos_processed_now": len(todo),
        "videos_used": len(index),
        "persons": len({v["person"] for v in index}),
        "frames_kept": sum(v["frames"] for v in index),
        "skipped_by_reason": dict(Counter(s["reason"] for s in skipped)),
        "skipped": skipped,
        "split": {"train": len(split["train"]), "held_out": len(split["held_out"])},
        "settings": asdict(settings),
        "seconds": round(time.monotonic() - started, 1),
        "size_bytes": sum(p.stat().st_size for p in (data_dir / "shards").rglob("*.npz")) if index else 0,
    }
    write_json(data_dir / "report.json", report)
    if not index:
        raise NoFaceError(
            f"none of the {len(items)} videos in {video_dir} gave usable frames ({format_reasons(report)}); "
            f"see {data_dir / 'report.json'}: use videos where one face is clearly visible"
        )
    return report


def format_reasons(report: dict[str, Any]) -> str:
    reasons = report["skipped_by_reason"]
    return ", ".join(f"{n} {r}" for r, n in sorted(reasons.items())) or "none skipped"


def format_report(report: dict[str, Any]) -> str:
    lines = [
        f"videos found: {report['videos_found']} (processed now: {report['videos_processed_now']})",
        f"videos used: {report['videos_used']} of {report['persons']} persons, frames kept: {report['frames_kept']}"
        f" ({report['size_bytes'] / 1e6:.1f} MB)",
        f"skipped: {len(report['skipped'])} ({format_reasons(report)})",
    ]
    lines += [f"  {s['key']}: {s['reason']} ({s['detail']})" for s in report["skipped"]]
    lines.append(f"split by person: {report['split']['train']} train, {report['split']['held_out']} held out")
    return "\n".join(lines)
