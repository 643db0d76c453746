"""`liveavatar eval`: self- and cross-reenactment of held-out people, as in the paper's evaluation.

Self-reenactment, per held-out video and per K in `shots`: the first K frames make the avatar (ψ = P·ê,
or ψ′ and a fine-tuned G with `finetune_steps`); up to `frames_per_video` later frames, spread evenly,
drive it with their own landmark images; the generated frames are compared with the real ones (SSIM,
PSNR, L1) and mediapipe's landmarks on them with the driving landmarks (normalised landmark error).
Cross-reenactment: each held-out video's avatar (largest K) is driven by the next video's landmarks;
only the landmark error applies (there is no real frame of person A making B's face).
Everything is deterministic (fixed frames, no sampling, mediapipe in image mode), so a re-run on the
same checkpoint and dataset reproduces metrics.json.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liveavatar.errors import InputError
from liveavatar.models.checkpoint import load_checkpoint
from liveavatar.models.tensors import to_images, to_tensor
from liveavatar.models.warp import tps_inverse
from liveavatar.models.warp_head import render_frame
from liveavatar.training.cross_eval import retrack, warp_renderer
from liveavatar.training.data import VideoRecord, decode_video, landmark_images, open_dataset
from liveavatar.training.expression import SIGNALS, follow_measures
from liveavatar.training.finetune import FinetuneSettings, find_discriminator, finetune
from liveavatar.training.identity import FaceDescriber, identity_distances, summarize_identity, unavailable_reason
from liveavatar.training.metrics import image_metrics, inter_ocular, landmark_error, mean_or_none

METRICS_FILE = "metrics.json"
FOLLOW_KEYS = (*(f"r_{s}" for s in SIGNALS), "mouth_range_ratio")
IDENTITY_KEYS = ("identity_median", "identity_same_share", "identity_face_found")
SHEET_FILE = "sheet.png"


@dataclass(frozen=True)
class EvalSettings:
    shots: tuple[int, ...] = (1, 8)
    finetune_steps: int = 0
    max_videos: int | None = None
    frames_per_video: int = 16
    part: str = "held_out"
    device: str = "cpu"


@dataclass
class _Video:
    record: VideoRecord
    frames: np.ndarray  # N×S×S×3 uint8
    marks: np.ndarray  # N×S×S×3 uint8 landmark images
    points: np.ndarray  # N×68×2


def normalized_error(found: np.ndarray, target: np.ndarray) -> float:
    """Mean distance of found to target 68 points over the target's inter-ocular distance."""
    return float(np.linalg.norm(found - target, axis=1).mean() / max(inter_ocular(target), 1e-6))


def _drivers(count: int, k: int, wanted: int) -> np.ndarray:
    """Frame numbers after the K shots, spread evenly (the avatar never sees them)."""
    rest = np.arange(k, count)
    if len(rest) <= wanted:
        return rest
    return rest[np.unique(np.round(np.linspace(0, len(rest) - 1, wanted)).astype(int))]


def evaluate(
    checkpoint_path: str | Path, data: str | Path, out: str | Path, settings: EvalSettings, force: bool = False
) -> dict[str, Any]:
    """Self- and cross-reenactment of the dataset's `settings.part` videos (module docstring); writes
    metrics.json (atomically) and sheet.png into `out` and returns the metrics."""
    from tqdm import tqdm

    from liveavatar.landmarks.tracker import FaceTracker

    out = Path(out)
    if (out / METRICS_FILE).exists() and not force:
        raise InputError(f"{out / METRICS_FILE} already exists; choose another --out or add --force to replace it")
    if not settings.shots or min(settings.shots) < 1:
        raise InputError(f"--shots must be positive numbers, got {settings.shots}")
    device = torch.device(settings.device)
    checkpoint = load_checkpoint(checkpoint_path, discriminator=False, device=device)
    dataset = open_dataset(data)
    records = sorted(dataset.select(settings.part), key=lambda v: v.key)  # type: ignore[arg-type]
    if not records:
        raise InputError(f"{data}: the split has no {settings.part} persons; prepare with --held-out-fraction > 0")
    records = records[: settings.max_videos] if settings.max_videos else records
    evaluator = _Evaluator(checkpoint, checkpoint_path, settings, device)
    started = time.monotonic()
    videos = [_decode(record, checkpoint.config.image_size) for record in records]

    with FaceTracker("image", max_faces=1) as tracker:
        evaluator.tracker = tracker
        per_video: list[dict[str, Any]] = []
        sheet_rows: list[list[np.ndarray]] = []
        avatars: dict[str, Any] = {}  # video key → (generator, ψ) of the largest K, for cross-reenactment
        for video in tqdm(videos, desc="eval", unit="video", disable=None):
            per_video += _self_reenact(evaluator, video, avatars, sheet_rows)
        cross = _cross_reenact(evaluator, videos, avatars, sheet_rows)

    metrics = {
        "checkpoint": str(checkpoint_path),
        "checkpoint_sha256": checkpoint.sha256,
        "preset": checkpoint.config.preset,
        "training": checkpoint.training,
        "data": dataset.describe(settings.part),  # type: ignore[arg-type]
        "settings": {**settings.__dict__, "shots": list(settings.shots)},
        "self_reenactment": _summarize(per_video, settings.shots),
        "identity": evaluator.skip_identity or "dlib ResNet face descriptor, distance to the video's first frame",
        "cross_reenactment": {
            "pairs": len(cross),
            "landmark_error": mean_or_none([c["landmark_error"] for c in cross]),
            "face_found": mean_or_none([c["face_found"] for c in cross]),
        },
        "per_video": per_video,
        "cross_pairs": cross,
        "seconds": round(time.monotonic() - started, 1),
        "columns_of_sheet": "first shot | driving landmarks | real frame | generated"
        + (" | cross-reenacted (next person's avatar)" if cross else ""),
    }
    _write_results(out, metrics, sheet_rows)
    return metrics


def _decode(record: VideoRecord, size: int) -> _Video:
    frames, points = decode_video(record, size)
    return _Video(record, frames, landmark_images(points, size), points)


class _Evaluator:
    """The checkpoint's avatars, their generated frames and the measures of those frames, for one run of
    `evaluate`. `tracker` (mediapipe, image mode) is set while the run's FaceTracker is open."""

    def __init__(self, checkpoint: Any, checkpoint_path: str | Path, settings: EvalSettings, device: torch.device):
        self.checkpoint = checkpoint
        self.model = checkpoint.model
        self.size = checkpoint.config.image_size
        self.settings = settings
        self.device = device
        self.tuning = self.tuned_disc = None
        if settings.finetune_steps:
            self.tuning = load_checkpoint(checkpoint_path, spectral=True, device=device)
            self.tuned_disc = find_discriminator(self.tuning, None)
        self.skip_identity = unavailable_reason()
        self.describer = None if self.skip_identity else FaceDescriber()
        self.references: dict[str, Any] = {}  # video key → identity descriptor of its first frame
        self.tracker: Any = None

    def generate(self, generator, psi: torch.Tensor, source: _Video, driver: _Video, drivers: np.ndarray) -> np.ndarray:
        """Frames of `source`'s avatar driven by `driver`'s frames `drivers` (warp presets: frame 0 is the texture)."""
        model, device, size = self.model, self.device, self.size
        with torch.inference_mode():
            y = to_tensor(driver.marks[drivers], device)
            if model.warp is None:
                return to_images(generator(y, psi.expand(len(y), -1)))
            w = self.checkpoint.config.warp
            points = source.points[0]
            frame, _, _ = render_frame(
                generator,
                model.warp,
                y,
                psi.expand(len(y), -1),
                to_tensor(source.frames[:1], device),
                torch.from_numpy(points)[None].to(device),
                torch.from_numpy(tps_inverse(points, size, w.anchors, w.regularization))[None].to(device),
                torch.from_numpy(driver.points[drivers]).to(device),
            )
            return to_images(frame)

    def avatar(self, video: _Video, k: int):
        """(generator, ψ) made from the first k frames: meta-learned, or fine-tuned on them."""
        if self.tuning is None:
            with torch.inference_mode():
                x = to_tensor(video.frames[:k], self.device)[None]
                y = to_tensor(video.marks[:k], self.device)[None]
                return self.model.generator, self.model.psi(x, y)
        disc = None if self.tuned_disc is None else copy.deepcopy(self.tuned_disc)
        result = finetune(
            self.tuning,
            video.frames[:k],
            video.marks[:k],
            FinetuneSettings(steps=self.settings.finetune_steps),
            disc,
            device=self.device,
            points=video.points[:k],
        )
        generator = copy.deepcopy(self.model.generator)
        generator.load_state_dict(result.generator_weights)
        return generator.eval(), torch.from_numpy(result.psi)[None].to(self.device)

    def measure(self, video: _Video, k: int, drivers: np.ndarray, fake: np.ndarray) -> dict[str, Any]:
        """Image, landmark, identity and expression-following measures of one video's generated frames."""
        real = video.frames[drivers]
        scores = image_metrics(fake, real)
        found = retrack(self.tracker, fake)
        errors = [
            None if f is None else normalized_error(f, video.points[d]) for f, d in zip(found, drivers, strict=True)
        ]
        row = {
            "video": video.record.key,
            "person": video.record.person,
            "shots": k,
            "frames": len(drivers),
            "ssim": float(scores["ssim"].mean()),
            "psnr": float(scores["psnr"].mean()),
            "l1": float(scores["l1"].mean()),
            "landmark_error": mean_or_none(errors),
            "face_found": sum(e is not None for e in errors) / len(errors),
            **follow_measures([video.points[d] for d in drivers], found),
        }
        if self.describer is not None:
            key = video.record.key
            if key not in self.references:
                self.references[key] = self.describer.describe(video.frames[0])
            row.update(summarize_identity(identity_distances(self.describer, self.references[key], fake)))
        return row


def _self_reenact(
    ev: _Evaluator, video: _Video, avatars: dict[str, Any], sheet_rows: list[list[np.ndarray]]
) -> list[dict[str, Any]]:
    """Rows of one video driven by its own later frames, per K (and the warp baseline at the smallest K).
    Keeps the largest K's avatar in `avatars` and adds a row to the sheet (at most six)."""
    shots = ev.settings.shots
    rows: list[dict[str, Any]] = []
    for k in sorted(shots):
        drivers = _drivers(len(video.frames), k, ev.settings.frames_per_video)
        if len(drivers) == 0:
            rows.append({"video": video.record.key, "shots": k, "row": "model", "skipped": "too few frames"})
            continue
        generator, psi = ev.avatar(video, k)
        if k == max(shots):
            avatars[video.record.key] = (generator, psi)
        fake = ev.generate(generator, psi, video, video, drivers)
        rows.append({"row": "model", **ev.measure(video, k, drivers, fake)})
        if k == min(shots):
            # the training-free baseline: the first frame's pixels moved to each driving frame's landmarks
            spline = ev.model.config.warp  # the model's own spline (None: WarpConfig's defaults)
            warped = warp_renderer(video.frames[0], video.points[0], spline)(video.points[drivers])
            rows.append({"row": "warp", **ev.measure(video, k, drivers, warped)})
        if k == max(shots) and len(sheet_rows) < 6:
            d = drivers[len(drivers) // 2]
            sheet_rows.append([video.frames[0], video.marks[d], video.frames[d], fake[len(drivers) // 2]])
    return rows


def _cross_reenact(
    ev: _Evaluator, videos: list[_Video], avatars: dict[str, Any], sheet_rows: list[list[np.ndarray]]
) -> list[dict[str, Any]]:
    """Each video's avatar driven by the next video's landmarks (landmark error only); one sheet column."""
    cross = []
    keys = [v.record.key for v in videos if v.record.key in avatars]
    by_key = {v.record.key: v for v in videos}
    for i, key in enumerate(keys if len(keys) >= 2 else []):
        driver = by_key[keys[(i + 1) % len(keys)]]
        drivers = _drivers(len(driver.frames), 0, ev.settings.frames_per_video)
        generator, psi = avatars[key]
        fake = ev.generate(generator, psi, by_key[key], driver, drivers)
        errors = [landmark_error(ev.tracker, f, driver.points[d]) for f, d in zip(fake, drivers, strict=True)]
        cross.append(
            {
                "source": key,
                "driver": driver.record.key,
                "frames": len(drivers),
                "landmark_error": mean_or_none(errors),
                "face_found": sum(e is not None for e in errors) / len(errors),
            }
        )
        if i < len(sheet_rows):
            sheet_rows[i].append(fake[len(drivers) // 2])
    return cross


def _summarize(per_video: list[dict[str, Any]], shots: Sequence[int]) -> dict[str, Any]:
    """Means of every measure over the videos, per K and for the warp baseline."""
    measures = ("ssim", "psnr", "l1", "landmark_error", "face_found", *FOLLOW_KEYS, *IDENTITY_KEYS)
    summary: dict[str, Any] = {}
    for k in sorted(shots):
        rows = [r for r in per_video if r["shots"] == k and r.get("row") == "model" and "skipped" not in r]
        summary[str(k)] = {
            "videos": len(rows),
            "frames": sum(r["frames"] for r in rows),
            **{m: mean_or_none([r.get(m) for r in rows]) for m in measures},
        }
    baseline = [r for r in per_video if r.get("row") == "warp"]
    summary["warp"] = {
        "videos": len(baseline),
        "frames": sum(r["frames"] for r in baseline),
        **{m: mean_or_none([r.get(m) for r in baseline]) for m in measures},
    }
    return summary


def _write_results(out: Path, metrics: dict[str, Any], sheet_rows: list[list[np.ndarray]]) -> None:
    """sheet.png (rows padded with black to the widest) and metrics.json, written last and atomically."""
    from liveavatar.files.imageio import write_image
    from liveavatar.training.runlog import image_grid

    out.mkdir(parents=True, exist_ok=True)
    if sheet_rows:
        width = max(len(r) for r in sheet_rows)
        rows = [r + [np.zeros_like(r[0])] * (width - len(r)) for r in sheet_rows]
        columns = [to_tensor(np.stack([r[c] for r in rows])) for c in range(width)]
        write_image(out / SHEET_FILE, image_grid(columns, rows=len(rows)))
    tmp = out / (METRICS_FILE + ".partial")
    tmp.write_text(json.dumps(metrics, indent=2) + "\n")
    tmp.replace(out / METRICS_FILE)


def parse_shots(text: str) -> tuple[int, ...]:
    try:
        shots = tuple(sorted({int(s) for s in text.split(",") if s.strip()}))
    except ValueError:
        raise InputError(f"--shots: expected comma-separated numbers such as 1,8, got {text!r}") from None
    if not shots or min(shots) < 1:
        raise InputError(f"--shots: expected positive numbers such as 1,8, got {text!r}")
    return shots


def format_metrics(metrics: dict[str, Any], shots: Sequence[int]) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    lines = [f"{'K':>3} {'videos':>6} {'SSIM':>6} {'PSNR':>6} {'L1':>6} {'LM err':>7} {'face':>5}"]
    lines[0] += f" {'id med':>6} {'<0.6':>5} {'r mouth':>7} {'r eyes':>6} {'r yaw':>5} {'mouth×':>6}"
    for k in [*shots, "warp"]:
        s = metrics["self_reenactment"][str(k)]
        lines.append(
            f"{k:>3} {s['videos']:>6} {f(s['ssim'], '.3f'):>6} {f(s['psnr'], '.2f'):>6} {f(s['l1'], '.3f'):>6} "
            f"{f(s['landmark_error'], '.3f'):>7} {f(s['face_found'], '.0%'):>5} "
            f"{f(s.get('identity_median'), '.3f'):>6} {f(s.get('identity_same_share'), '.0%'):>5} "
            f"{f(s.get('r_mouth'), '.2f'):>7} {f(s.get('r_eyes'), '.2f'):>6} {f(s.get('r_yaw'), '.2f'):>5} "
            f"{f(s.get('mouth_range_ratio'), '.2f'):>6}"
        )
    lines[-1] += "  (training-free baseline: the first frame moved by the TPS)"
    if not metrics.get("identity", "dlib").startswith("dlib"):
        lines.append(metrics["identity"])
    c = metrics["cross_reenactment"]
    lines.append(
        f"cross-reenactment: {c['pairs']} pairs, landmark error {f(c['landmark_error'], '.3f')}, "
        f"face found {f(c['face_found'], '.0%')}"
    )
    return "\n".join(lines)
