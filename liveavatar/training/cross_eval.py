"""Cross-reenactment of portraits by driving clips: identity kept, expression followed (`eval --portraits --drivers`).

Every portrait in a folder becomes an avatar of the checkpoint; every clip in a folder drives it the way the
live path does (mediapipe in video mode on the clip's frames, the first tracked frame as the neutral,
relative-motion retargeting onto the portrait's landmarks). Each pair is rendered by two rows:
  model   the checkpoint's generator, G(rasterized landmarks, ψ)
  warp    the training-free baseline: the portrait's crop moved along the retargeted landmarks by the
          thin-plate spline (liveavatar/models/warp.py), no network at all
  live    what `run` shows (liveavatar/training/live_eval.py): the Processor on the clip's frames, the frame
          graph on the command's engine, the Composer at 1280×720 with the driver's own mouth, the lids and
          the irises; measured on the output's face square, past the neutral's capture
and measured: identity distance of each output frame to the portrait's crop (liveavatar/training/identity.py),
and how the output follows the driver, re-tracked on the output by mediapipe and, where dlib is installed, by
dlib's 68 points too ("dlib_" figures; liveavatar/training/expression.py).
Portraits are grouped by the kind their file name starts with (photo_, painting_, statue_, …), so photos
and paintings are reported separately. A contact sheet (portrait | driver | model | warp | live, at the frame
where the driver's mouth is widest) is written next to the report, for looking at; it shows real people's
faces and stays out of the repository.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from liveavatar.config import WarpConfig
from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.training.expression import SIGNALS, STILL_MOUTH_SPREAD, follow_measures
from liveavatar.training.eye_follow import eye_follow
from liveavatar.training.identity import FaceDescriber, identity_distances, summarize_identity, unavailable_reason

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}
VIDEO_SUFFIXES = {".mp4", ".mpg", ".mpeg", ".mov", ".webm", ".avi", ".mkv"}
CROSS_SHEET_FILE = "cross_sheet.png"
ROWS = ("model", "warp", "live")
DLIB_FIGURES = ("r_mouth", "r_eyes", "mouth_range_ratio")  # the follow measures also read with dlib
# gaze and blinks (liveavatar/training/eye_follow.py), by mediapipe's refined mesh and by dlib
EYE_FIGURES = ("gaze_r", "gaze_r_open", "gaze_range", "driver_closed_ratio", "output_closed_ratio", "eyes_r")

Render = Callable[[np.ndarray], np.ndarray]  # driven points (T×68×2 crop pixels) → T×S×S×3 uint8 RGB


@dataclass(frozen=True)
class CrossSettings:
    frames_per_clip: int = 48  # consecutive-ish frames (every `stride`-th), enough for r over time
    stride: int = 2
    max_portraits: int | None = None
    max_drivers: int | None = None
    rows: tuple[str, ...] = ROWS  # which renderers run (warp alone: comparing warp variants)


def kind_of(path: Path) -> str:
    """'photo', 'painting', 'statue', … from the file name's first word; 'other' without one."""
    head = path.stem.split("_", 1)[0].lower()
    return head if head.isalpha() and "_" in path.stem else "other"


def _files(folder: Path, suffixes: set[str], what: str, limit: int | None) -> list[Path]:
    if not folder.is_dir():
        raise InputError(f"--{what}: {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    if not files:
        raise InputError(f"--{what}: {folder} has no {'images' if what == 'portraits' else 'video clips'}")
    return files[:limit] if limit else files


def read_clip(path: Path, frames: int, stride: int) -> list[np.ndarray]:
    """Up to `frames` RGB frames of a clip, every `stride`-th from the start (bounded: never the whole clip)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    out: list[np.ndarray] = []
    index = 0
    try:
        while len(out) < frames and index < frames * stride:
            ok, bgr = capture.read()
            if not ok:
                break
            if index % stride == 0:
                out.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
            index += 1
    finally:
        capture.release()
    return out


def clip_fps(path: Path) -> float:
    """The clip's frame rate as its container gives it (30 where it gives none or nonsense)."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    capture.release()
    return fps if 1 <= fps <= 240 else 30.0


def track_driver(frames: Sequence[np.ndarray]) -> list[Any]:
    """mediapipe (video mode) landmarks of each driver frame; None where no face is found."""
    from liveavatar.landmarks.tracker import FaceTracker

    with FaceTracker("video", max_faces=1) as tracker:
        return [tracker.track(np.ascontiguousarray(f)).landmarks for f in frames]


def retrack(tracker, images: Sequence[np.ndarray]) -> list[np.ndarray | None]:
    """68×2 points mediapipe finds on each output image (enlarged when small), None where it finds none."""
    import cv2

    from liveavatar.training.metrics import MIN_TRACKING_SIZE

    out: list[np.ndarray | None] = []
    for image in images:
        scale = max(1.0, MIN_TRACKING_SIZE / image.shape[0])
        big = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC) if scale > 1 else image
        found = tracker.track(np.ascontiguousarray(big)).landmarks
        out.append(None if found is None else (found.points68 + 0.5) / scale - 0.5)
    return out


def warp_renderer(crop: np.ndarray, points: np.ndarray, spline: WarpConfig | None = None) -> Render:
    """The training-free baseline: the crop (S×S×3 uint8) moved from `points` to the driven points by the TPS.

    spline: the evaluated checkpoint's warp settings (anchors, grid, Newton steps, λ), so the baseline moves
    pixels exactly as the model's own warp does; None (the paper's presets) takes WarpConfig's defaults."""
    from liveavatar.models.tensors import to_images, to_tensor
    from liveavatar.models.warp import TpsWarp, tps_inverse

    size = crop.shape[0]
    s = spline or WarpConfig()
    warp = TpsWarp(size, anchors=s.anchors, coarse=s.coarse, steps=s.newton_steps)
    texture = to_tensor(crop[None])
    source = torch.from_numpy(np.asarray(points, np.float32))[None]
    inverse = torch.from_numpy(tps_inverse(points, size, s.anchors, s.regularization))[None]

    def render(driven: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for d in driven:
                warped, _ = warp(texture, source, inverse, torch.from_numpy(np.asarray(d, np.float32))[None])
                out.append(to_images(warped)[0])
        return np.stack(out)

    return render


def generator_renderer(model, psi: np.ndarray, size: int, device: torch.device) -> Render:
    """The paper's G(y, ψ): rasterized driven landmarks through the checkpoint's generator."""
    from liveavatar.models.tensors import to_images, to_tensor
    from liveavatar.training.data import landmark_images

    def render(driven: np.ndarray) -> np.ndarray:
        marks = landmark_images(np.asarray(driven, np.float32), size)
        out = []
        with torch.inference_mode():
            for start in range(0, len(marks), 16):
                y = to_tensor(marks[start : start + 16], device)
                out.append(to_images(model.generator(y, torch.from_numpy(psi)[None].to(device).expand(len(y), -1))))
        return np.concatenate(out)

    return render


def model_renderer(model, psi: np.ndarray, crop: np.ndarray, points: np.ndarray, device: torch.device) -> Render:
    """The checkpoint's model: G(y, ψ) for the paper's presets; warp + G + composite for the `warp` presets,
    with the crop (S×S×3 uint8) as texture and its 68 landmarks (crop pixels) as the spline's source."""
    from liveavatar.models.tensors import to_images, to_tensor
    from liveavatar.models.warp import tps_inverse
    from liveavatar.models.warp_head import render_frame
    from liveavatar.training.data import landmark_images

    size = model.config.image_size
    if model.warp is None:
        return generator_renderer(model, psi, size, device)
    w = model.config.warp
    texture = to_tensor(crop[None], device)
    source = torch.from_numpy(np.asarray(points, np.float32))[None].to(device)
    inverse = torch.from_numpy(tps_inverse(points, size, w.anchors, w.regularization))[None].to(device)
    psi_t = torch.from_numpy(np.asarray(psi, np.float32))[None].to(device)

    def render(driven: np.ndarray) -> np.ndarray:
        driven = np.asarray(driven, np.float32)
        marks = landmark_images(driven, size)
        out = []
        with torch.inference_mode():
            for start in range(0, len(marks), 16):
                y = to_tensor(marks[start : start + 16], device)
                d = torch.from_numpy(driven[start : start + 16]).to(device)
                frame, _, _ = render_frame(
                    model.generator, model.warp, y, psi_t.expand(len(y), -1), texture, source, inverse, d
                )
                out.append(to_images(frame))
        return np.concatenate(out)

    return render


def mesh_eyes(frames: Sequence[np.ndarray]) -> list[Any]:
    """Each frame's eye Reading by mediapipe's refined mesh over the sequence (video mode), or None."""
    from liveavatar.training.eye_follow import MeshEyes

    reader = MeshEyes()
    try:
        return [reader(f) for f in frames]
    finally:
        reader.close()


def _kept(values: Sequence[Any], left_out: list[bool] | None) -> list[Any]:
    """The values of the frames a row is measured on: all, or those not left out (the live row's neutral)."""
    return list(values) if left_out is None else [v for v, out in zip(values, left_out, strict=True) if not out]


def _at(image: np.ndarray, size: int) -> np.ndarray:
    """An output image at the crop's size (S×S×3): the live row's face square is the output's own pixels."""
    import cv2

    if image.shape[:2] == (size, size):
        return image
    shrink = image.shape[0] > size
    return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ["identity_median", "identity_same_share", "identity_face_found", "face_found"]
    keys += [f"r_{s}" for s in SIGNALS] + ["mouth_range_ratio"] + [f"dlib_{k}" for k in DLIB_FIGURES]
    keys += [*EYE_FIGURES, *(f"dlib_{k}" for k in EYE_FIGURES)]
    summary: dict[str, Any] = {"pairs": len(rows)}
    for key in keys:
        values = [r[key] for r in rows if r.get(key) is not None]
        summary[key] = float(np.median(values)) if values else None
    summary["mouth_still_pairs"] = sum(bool(r.get("driver_mouth_still")) for r in rows)
    return summary


def cross_reenact(
    checkpoint,
    portraits: Path,
    drivers: Path,
    settings: CrossSettings,
    out: Path,
    device: torch.device,
    make_embedder: Callable[[Any], Any],
    make_engine: Callable[[Any], Any] | None = None,
) -> dict[str, Any]:
    """Every portrait × every clip, a row per renderer in settings.rows; returns the report's "cross_portraits"
    section. make_embedder: builds each portrait's avatar (liveavatar.engines.embedder.create_embedder);
    make_engine: checkpoint → its frame engine, for the live row (without it that row is skipped, and the
    report says so). The core is handed both, it never reaches the engines layer."""
    from tqdm import tqdm

    from liveavatar.avatar import build_avatar
    from liveavatar.landmarks.retarget import Retargeter, driver_points
    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.render.align import face_crop
    from liveavatar.training.eye_follow import dlib_reading
    from liveavatar.training.identity import DlibLandmarks
    from liveavatar.training.live_eval import live_renderer

    portrait_files = _files(portraits, IMAGE_SUFFIXES, "portraits", settings.max_portraits)
    driver_files = _files(drivers, VIDEO_SUFFIXES, "drivers", settings.max_drivers)
    size = checkpoint.config.image_size
    skip_identity = unavailable_reason()
    describer = None if skip_identity else FaceDescriber()
    dlib_points = None if skip_identity else DlibLandmarks()  # the same install as identity's
    clips: list[tuple[Path, list[tuple[np.ndarray, Any]] | None, str | None]] = []
    by_dlib: dict[Path, list[np.ndarray | None]] = {}  # each clip's kept frames, dlib's 68 points
    eyes_of: dict[tuple[Path, str], list[Any]] = {}  # each clip's kept frames, eye Readings per tracker
    for path in tqdm(driver_files, desc="tracking drivers", unit="clip", disable=None):
        frames = read_clip(path, settings.frames_per_clip, settings.stride)
        marks = track_driver(frames)
        tracked = [(f, m) for f, m in zip(frames, marks, strict=True) if m is not None]
        if len(tracked) < 3:
            clips.append((path, None, f"mediapipe found a face in {len(tracked)} of {len(frames)} frames"))
            continue
        clips.append((path, tracked, None))
        eyes_of[(path, "mediapipe")] = mesh_eyes([f for f, _ in tracked])
        if dlib_points is not None:
            by_dlib[path] = [dlib_points(f) for f, _ in tracked]
            eyes_of[(path, "dlib")] = [dlib_reading(f, p) for (f, _), p in zip(tracked, by_dlib[path], strict=True)]
    skipped = [{"driver": p.name, "skipped": why} for p, k, why in clips if k is None]
    live = live_renderer(checkpoint, make_engine) if "live" in settings.rows else None
    if "live" in settings.rows and live is None:
        skipped.append({"row": "live", "skipped": "no engine was given to run the shipping path with"})
    pairs: list[dict[str, Any]] = []
    sheet: list[list[np.ndarray]] = []
    with FaceTracker("image", max_faces=1) as tracker:
        for portrait in tqdm(portrait_files, desc="cross-reenactment", unit="portrait", disable=None):
            try:
                avatar = build_avatar([portrait], checkpoint, make_embedder=make_embedder)
            except LiveAvatarError as exc:
                skipped.append({"portrait": portrait.name, "skipped": str(exc)})
                continue
            reference = describer.describe(avatar.crop) if describer else None
            renderers = {}
            if "model" in settings.rows:
                renderers["model"] = model_renderer(checkpoint.model, avatar.psi, avatar.crop, avatar.landmarks, device)
            if "warp" in settings.rows:
                renderers["warp"] = warp_renderer(avatar.crop, avatar.landmarks, checkpoint.config.warp)
            for path, kept, _ in clips:
                if kept is None:
                    continue
                retarget = Retargeter(avatar.landmarks, size)
                retarget.set_neutral(driver_points(kept[0][1]))
                driven = np.stack([retarget(driver_points(m)) for _, m in kept])
                driver_pts = [m.points68 for _, m in kept]
                widest = int(np.argmax([m.points68[66, 1] - m.points68[62, 1] for _, m in kept]))
                row_images = [avatar.crop, face_crop(kept[widest][1].points68, size).warp(kept[widest][0])]
                outputs: dict[str, tuple[list[np.ndarray], list[bool] | None]] = {
                    row: (list(render(driven)), None) for row, render in renderers.items()
                }
                if live is not None:  # the kept frames, as many a second as the clip's every stride-th frame
                    fps = clip_fps(path) / settings.stride
                    faces, capturing = live.render(avatar, [f for f, _ in kept], fps)
                    outputs["live"] = (faces, capturing)
                for row, (images, left_out) in outputs.items():
                    measured, driver_kept = _kept(images, left_out), _kept(driver_pts, left_out)
                    found = retrack(tracker, measured)
                    entry: dict[str, Any] = {
                        "row": row,
                        "portrait": portrait.name,
                        "kind": kind_of(portrait),
                        "driver": path.name,
                        "frames": len(measured),
                        "face_found": sum(f is not None for f in found) / max(len(found), 1),
                        **follow_measures(driver_kept, found),
                    }
                    # identity at the crop's size, as the other rows (dlib's descriptor reads a 150-px chip)
                    small = [_at(im, size) for im in measured]
                    eyes = eye_follow(_kept(eyes_of[(path, "mediapipe")], left_out), mesh_eyes(measured))
                    entry.update({k: eyes.get(k) for k in EYE_FIGURES})
                    if dlib_points is not None:
                        driver_dlib = _kept(by_dlib[path], left_out)
                        points = [dlib_points(im) for im in measured]
                        follow = follow_measures(driver_dlib, points)
                        entry.update({f"dlib_{k}": follow[k] for k in DLIB_FIGURES})
                        read = [dlib_reading(im, p) for im, p in zip(measured, points, strict=True)]
                        eyes = eye_follow(_kept(eyes_of[(path, "dlib")], left_out), read)
                        entry.update({f"dlib_{k}": eyes.get(k) for k in EYE_FIGURES})
                    if describer is not None:
                        entry.update(summarize_identity(identity_distances(describer, reference, small)))
                        if reference is None:  # the portrait itself defeats dlib: no distance, and say why
                            entry["identity_note"] = "dlib finds no face on the portrait's crop"
                    pairs.append(entry)
                    row_images.append(_at(images[widest], size))
                sheet.append(row_images)
    used = {p["row"] for p in pairs}
    by_group: dict[str, dict[str, Any]] = {}
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for p in pairs:
        groups[(p["row"], p["kind"])].append(p)
        groups[(p["row"], "all")].append(p)
    for (row, kind), rows in sorted(groups.items()):
        by_group.setdefault(row, {})[kind] = _summarize(rows)
    if sheet:
        from liveavatar.files.imageio import write_image

        write_image(out / CROSS_SHEET_FILE, np.concatenate([np.concatenate(r, axis=1) for r in sheet[:16]], axis=0))
    return {
        "portraits": str(portraits),
        "drivers": str(drivers),
        "settings": settings.__dict__,
        "identity": skip_identity or "dlib ResNet face descriptor, distance to the portrait's aligned crop",
        "summary": by_group,
        "pairs": pairs,
        "skipped": skipped,
        "columns_of_sheet": "portrait crop | driver (widest mouth) | " + " | ".join(r for r in ROWS if r in used),
    }


def format_cross(report: dict[str, Any]) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    head = f"{'row':<6} {'kind':<9} {'pairs':>5} {'id med':>6} {'<0.6':>5} {'face':>5} "
    head += " ".join(f"{'r ' + s:>7}" for s in SIGNALS) + f" {'mouth×':>6}"
    head += " | dlib: " + " ".join(f"{k.replace('_range_ratio', '×').replace('_', ' '):>7}" for k in DLIB_FIGURES)
    lines = [head]
    for row, kinds in report["summary"].items():
        for kind, s in kinds.items():
            lines.append(
                f"{row:<6} {kind:<9} {s['pairs']:>5} {f(s['identity_median'], '.3f'):>6} "
                f"{f(s['identity_same_share'], '.0%'):>5} {f(s['face_found'], '.0%'):>5} "
                + " ".join(f"{f(s['r_' + sig], '.2f'):>7}" for sig in SIGNALS)
                + f" {f(s['mouth_range_ratio'], '.2f'):>6}"
                + " |       "
                + " ".join(f"{f(s.get('dlib_' + k), '.2f'):>7}" for k in DLIB_FIGURES)
            )
    lines.append("eyes (gaze r over every frame / with both eyes open, gaze range; lid ratio at the driver's closed")
    lines.append("frames, output (driver); eye-openness r), by mediapipe's refined mesh | by dlib; gaze only where")
    lines.append("the driver's gaze moves, eye-openness only where the driver blinks:")
    for row, kinds in report["summary"].items():
        for kind, s in kinds.items():
            cells = []
            for tracker in ("", "dlib_"):
                g = [f(s.get(tracker + k), ".2f") for k in ("gaze_r", "gaze_r_open", "gaze_range")]
                lids = (f(s.get(tracker + k), ".2f") for k in ("output_closed_ratio", "driver_closed_ratio"))
                closed = "{} ({})".format(*lids)
                cells.append(f"{g[0]:>5} / {g[1]:>5} {g[2]:>5}  {closed:>12} {f(s.get(tracker + 'eyes_r'), '.2f'):>5}")
            lines.append(f"{row:<6} {kind:<9} " + " | ".join(cells))
    still = sorted({p["driver"] for p in report["pairs"] if p.get("driver_mouth_still")})
    if still:
        lines.append(
            f"r mouth and mouth× leave out {', '.join(still)}: the driver's mouth does not open "
            f"(5–95 % spread under {STILL_MOUTH_SPREAD} eye distances), so they would measure tracker noise"
        )
    if not report["identity"].startswith("dlib"):
        lines.append(report["identity"])
    return "\n".join(lines)
