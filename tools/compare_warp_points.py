#!/usr/bin/env python
"""Which points should drive the portrait warp? Self-reenactment on held-out people, training-free.

python tools/compare_warp_points.py --out /tmp/warp_points [--clips ../shared/data/driving]
    [--split ../data/driving_prepared/split.json] [--targets 16] [--max-frames 300] [--sheet-clips 6]

Per clip: mediapipe (video mode, the project's FaceTracker) on up to --max-frames frames; the first tracked
frame is the source; ~--targets frames spread over the rest are the targets, always including the one with
the widest mouth and the one with the most closed eyes (where the variants differ). Source and targets are
cropped with the SOURCE frame's face crop (256 px), so head motion is part of what the warp must do and the
target crop is comparable pixel for pixel. The source crop is warped to each target's own tracked points
(same person: no retargeting, so only the warp is measured) by each variant:
  68            TPS on the 68 points: the bundled `warp` model's spline (anchors, λ, grid, Newton steps)
  68+lips       TPS on the 68 + mediapipe's lip contours (40 points, 20 not among the 68)
  68+lips+eyes  the above + mediapipe's eye contours (16 a side, 10 of them new)
  mesh468       TPS on all 468 mesh points
  pwa           piecewise affine: Delaunay triangles over the source's 468 points + the 8 border anchors,
                one affine per triangle (OpenCV), the backward map rasterized triangle by triangle
and two reference rows: `none` (the source crop unwarped: what warping gains at all) and `target` (the real
target crop re-tracked: the floor the tracker itself sets on the re-tracking measures).
Measured against the real target crop: SSIM in the face region (inside the convex hull of the target's 68
points, dilated by FACE_DILATE px) and over the whole crop; mouth and eye opening of mediapipe re-tracked on
the output (image mode) against the target's tracked points (Pearson r over the clip's targets, and the
output's 5-95 % spread over the target's); the normalised landmark error of the re-tracked output (all 68,
lips 48-67, eyes 36-47); how far the warp carries each of the 68 points from where it should (px); the
folded area (pwa); and the per-frame warp time (all variants timed frame by frame in the same run, CPU, torch
threads as default; wall clock and the process's CPU time. On cores another job shares, both are inflated: the
wall clock by preemption, the CPU time by torch's threads spinning while a sibling is preempted).
Prints a table of medians over clips and writes report.json and sheet.png to --out (source | target | each
variant, at the widest-mouth and the most-closed-eye frame of the first --sheet-clips clips, and at the frame
where the triangles fold most). The sheet shows real people's faces: look at it, never commit it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from liveavatar.config import preset
from liveavatar.landmarks.mesh68 import MESH_POINTS, MESH_TO_68
from liveavatar.models.tensors import to_images, to_tensor, unit_from_uint8
from liveavatar.models.tps_system import border_anchors
from liveavatar.models.warp import TpsWarp, tps_inverse
from liveavatar.render.align import face_crop
from liveavatar.training.cross_eval import VIDEO_SUFFIXES, read_clip, retrack, track_driver
from liveavatar.training.expression import expression_signals, follow_measures, mouth_opening, pearson, spread
from liveavatar.training.losses import ssim_map
from liveavatar.training.metrics import image_metrics, inter_ocular

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CLIPS = ROOT.parent / "shared" / "data" / "driving"
DEFAULT_SPLIT = ROOT.parent / "data" / "driving_prepared" / "split.json"
SIZE = 256
FACE_DILATE = 8  # px at 256: the face hull of the 68 points stops at the brows; a little forehead and jaw edge
TPS_VARIANTS = ("68", "68+lips", "68+lips+eyes", "mesh468")
VARIANTS = (*TPS_VARIANTS, "pwa")
REFERENCES = ("none", "target")
LIPS = tuple(range(48, 68))
EYES = tuple(range(36, 48))

# Render: target points (P×2 crop px, the variant's own selection of the 468) → (S×S×3 uint8 RGB output,
# S×S×2 float32 backward map in crop px: where each output pixel was read from in the source crop).
Render = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]


def contour_indices(part: str) -> tuple[int, ...]:
    """Mesh indices of mediapipe's contour `part` ("lips", "left_eye", "right_eye"), sorted."""
    from mediapipe.python.solutions import face_mesh_connections as conn

    edges = {"lips": conn.FACEMESH_LIPS, "left_eye": conn.FACEMESH_LEFT_EYE, "right_eye": conn.FACEMESH_RIGHT_EYE}
    return tuple(sorted({i for edge in edges[part] for i in edge}))


def driving_indices(variant: str) -> np.ndarray:
    """The mesh indices a TPS variant drives: the 68's (in the 68's order, so the first 68 rows ARE the 68
    points), then each added contour's points that the 68 do not already have (a repeated centre would make
    the spline's system singular), ascending."""
    extra: list[int] = []
    if variant == "mesh468":
        extra = list(range(MESH_POINTS))
    else:
        parts = {"68": (), "68+lips": ("lips",), "68+lips+eyes": ("lips", "left_eye", "right_eye")}[variant]
        for part in parts:
            extra += contour_indices(part)
    have = set(MESH_TO_68)
    return np.asarray(list(MESH_TO_68) + sorted(set(extra) - have), dtype=np.intp)


def tps_renderer(crop: np.ndarray, source: np.ndarray, coarse: int, steps: int) -> Render:
    """The bundled `warp` model's spline (its WarpConfig's anchors and λ) on `source` points; the grid side and
    Newton steps are the caller's (WarpConfig's by default: a denser set of points may need a finer grid)."""
    cfg = preset("warp").warp
    warp = TpsWarp(SIZE, anchors=cfg.anchors, coarse=coarse, steps=steps)
    texture = to_tensor(crop[None])
    src = torch.from_numpy(np.asarray(source, np.float32))[None]
    inverse = torch.from_numpy(tps_inverse(source, SIZE, cfg.anchors, cfg.regularization))[None]

    def render(driven: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        with torch.inference_mode():
            warped, grid = warp(texture, src, inverse, torch.from_numpy(np.asarray(driven, np.float32))[None])
            image = to_images(warped)[0]
        return image, ((grid[0].numpy() + 1) * SIZE - 1) / 2  # normalised (align_corners=False) → crop px

    return render


def anchor_pixels() -> np.ndarray:
    """The TPS's 8 border anchors in crop px (unit 0 and 1 are the crop's outer pixel edges)."""
    return (border_anchors() * SIZE - 0.5).astype(np.float64)


def pwa_triangles(source: np.ndarray) -> np.ndarray:
    """Delaunay triangles (T×3 indices) over the source's 468 points + the border anchors (their last 8 rows)."""
    from scipy.spatial import Delaunay

    return Delaunay(np.concatenate([source, anchor_pixels()])).simplices.astype(np.intp)


def pwa_renderer(crop: np.ndarray, source: np.ndarray) -> tuple[Render, Callable[[np.ndarray], float]]:
    """Piecewise affine on the source's Delaunay triangles: each target triangle is rasterized into an index
    image (later triangles win where the target's triangles overlap, i.e. fold), each pixel is mapped back by
    its triangle's affine, and the crop is resampled with cv2.remap. Also returns the folded area of a target (px²)."""
    vertices_src = np.concatenate([source, anchor_pixels()])
    triangles = pwa_triangles(source)
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float32)
    ones = np.ones_like(xs)

    def signed_area(v: np.ndarray) -> np.ndarray:
        a, b, c = v[triangles[:, 0]], v[triangles[:, 1]], v[triangles[:, 2]]
        return (b[:, 0] - a[:, 0]) * (c[:, 1] - a[:, 1]) - (b[:, 1] - a[:, 1]) * (c[:, 0] - a[:, 0])

    src_area = signed_area(vertices_src)

    def folds(driven: np.ndarray) -> float:
        """Area (px², target side) of the triangles whose orientation flips from source to target: a fold,
        where the flipped triangle lies over its neighbours. An area, not a count: slivers (a closed mouth's
        inner lips coincide) flip on tracker noise alone and cover nothing."""
        dst_area = signed_area(np.concatenate([driven, anchor_pixels()]))
        flipped = np.sign(dst_area) != np.sign(src_area)
        return float(np.abs(dst_area[flipped]).sum() / 2)

    def render(driven: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        vertices_dst = np.concatenate([np.asarray(driven, np.float64), anchor_pixels()])
        index = np.full((SIZE, SIZE), -1, np.int32)
        affines = np.zeros((len(triangles), 2, 3), np.float32)
        for t, tri in enumerate(triangles):
            affines[t] = cv2.getAffineTransform(
                vertices_dst[tri].astype(np.float32), vertices_src[tri].astype(np.float32)
            )
            # 4 fractional bits: the vertices are sub-pixel, and a rounded edge would leave seams between triangles
            corners = np.round(vertices_dst[tri] * 16).astype(np.int32)
            cv2.fillConvexPoly(index, corners, int(t), lineType=cv2.LINE_8, shift=4)
        # Uncovered pixels (none expected: the anchors span the crop) read from where they are.
        m = affines[np.maximum(index, 0)]  # S×S×2×3
        map_x = m[..., 0, 0] * xs + m[..., 0, 1] * ys + m[..., 0, 2] * ones
        map_y = m[..., 1, 0] * xs + m[..., 1, 1] * ys + m[..., 1, 2] * ones
        map_x, map_y = np.where(index >= 0, map_x, xs), np.where(index >= 0, map_y, ys)
        image = cv2.remap(crop, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        return image, np.stack([map_x, map_y], axis=-1)

    return render, folds


def transfer_error(backward: np.ndarray, driven68: np.ndarray, source68: np.ndarray) -> float:
    """Mean px distance between where the backward map reads each driven 68 point from and the source point
    it should read (0 for a warp that carries the points exactly; the grid and λ make a TPS miss a little)."""
    grid = torch.from_numpy(np.ascontiguousarray(backward.transpose(2, 0, 1)))[None]  # 1×2×S×S crop px
    at = torch.from_numpy(((np.asarray(driven68, np.float32) + 0.5) / SIZE) * 2 - 1)[None, None]  # 1×1×68×2
    read = F.grid_sample(grid, at, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0].T
    return float(np.linalg.norm(read.numpy() - source68, axis=1).mean())


def face_mask(points68: np.ndarray) -> np.ndarray:
    """S×S bool: inside the convex hull of the 68 points (crop px), dilated by FACE_DILATE px."""
    mask = np.zeros((SIZE, SIZE), np.uint8)
    cv2.fillConvexPoly(mask, cv2.convexHull(np.round(points68).astype(np.int32)), 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * FACE_DILATE + 1,) * 2)
    return cv2.dilate(mask, kernel).astype(bool)


def ssim_pair(output: np.ndarray, target: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(SSIM inside `mask`, SSIM over the crop) of two S×S×3 uint8 RGB images, with image_metrics' SSIM
    (Gaussian 11 px, σ 1.5, valid region, channel mean): its map is S−10 square, so the mask is cut by 5."""
    a, b = (unit_from_uint8(torch.from_numpy(x).permute(2, 0, 1)[None]) for x in (output, target))
    smap = ssim_map(a, b)[0].mean(0).double().numpy()
    half = (SIZE - smap.shape[0]) // 2
    inside = mask[half : SIZE - half, half : SIZE - half]
    overall = float(image_metrics(output[None], target[None])["ssim"][0])
    return float(smap[inside].mean()), overall


def range_ratio(target: Sequence[float], output: Sequence[float]) -> float | None:
    """The output's 5-95 % spread over the target's (1: the output opens as far as the target does)."""
    if len(target) < 3:
        return None
    spread_t = spread(target)
    return spread(output) / spread_t if spread_t > 1e-6 else None


def landmark_errors(found: Sequence[np.ndarray | None], targets68: Sequence[np.ndarray]) -> dict[str, float | None]:
    """Mean normalised error (per point px / the target's inter-ocular distance) over frames with a face."""
    out: dict[str, float | None] = {}
    for name, idx in (("err68", tuple(range(68))), ("err_lips", LIPS), ("err_eyes", EYES)):
        values = [
            np.linalg.norm(f[list(idx)] - t[list(idx)], axis=1).mean() / max(inter_ocular(t), 1e-6)
            for f, t in zip(found, targets68, strict=True)
            if f is not None
        ]
        out[name] = float(np.mean(values)) if values else None
    return out


def pick_targets(marks: Sequence[Any], count: int) -> tuple[list[int], int, int]:
    """Target frame indices into `marks` (never 0, the source): `count` spread over the clip, always including
    the widest mouth and the most closed eyes; returns (sorted indices, widest, most closed)."""
    mouth = [float(mouth_opening(m.points68)) for m in marks]
    eyes = [expression_signals(m.points68)["eyes"] for m in marks]
    widest = 1 + int(np.argmax(mouth[1:]))
    closed = 1 + int(np.argmin(eyes[1:]))
    spread = np.linspace(1, len(marks) - 1, max(count - 2, 1)).round().astype(int)
    return sorted({widest, closed, *spread.tolist()}), widest, closed


def measure_clip(
    path: Path,
    frames_cap: int,
    count: int,
    tracker,
    coarse: int,
    steps: int,
    variants: Sequence[str] = VARIANTS,
) -> tuple[dict[str, Any] | None, list[np.ndarray], str | None]:
    """One clip: (per-variant measures and timings, sheet rows, why skipped); `tracker` re-tracks outputs."""
    frames = read_clip(path, frames_cap, 1)
    tracked = [(f, m) for f, m in zip(frames, track_driver(frames), strict=True) if m is not None]
    if len(tracked) < 4:
        return None, [], f"mediapipe found a face in {len(tracked)} of {len(frames)} frames"
    marks = [m for _, m in tracked]
    chosen, widest, closed = pick_targets(marks, count)
    crop_of = face_crop(marks[0].points68, SIZE)  # the SOURCE frame's crop, for source and targets alike
    source_crop = crop_of.warp(tracked[0][0])
    source_mesh = crop_of.points_to_crop(marks[0].mesh[:, :2]).astype(np.float64)  # 468×2 crop px
    target_crops = [crop_of.warp(tracked[i][0]) for i in chosen]
    target_meshes = [crop_of.points_to_crop(marks[i].mesh[:, :2]).astype(np.float64) for i in chosen]
    targets68 = [t[list(MESH_TO_68)] for t in target_meshes]
    source68 = source_mesh[list(MESH_TO_68)]

    renderers: dict[str, tuple[Render, np.ndarray]] = {}
    for v in variants:
        if v == "pwa":
            pwa, count_folds = pwa_renderer(source_crop, source_mesh)
            renderers["pwa"] = (pwa, np.arange(MESH_POINTS))
        else:
            idx = driving_indices(v)
            renderers[v] = (tps_renderer(source_crop, source_mesh[idx], coarse, steps), idx)
    for render, idx in renderers.values():  # warm-up: first calls allocate, and must not count as a frame's time
        render(target_meshes[0][idx])

    outputs: dict[str, list[np.ndarray]] = {v: [] for v in variants}
    times: dict[str, list[float]] = {v: [] for v in variants}
    cpu: dict[str, list[float]] = {v: [] for v in variants}
    transfer: dict[str, list[float]] = {v: [] for v in variants}
    order = list(renderers)
    for k, (target, t68) in enumerate(zip(target_meshes, targets68, strict=True)):
        # Frame by frame, variants side by side (the same load for all), starting with a different one each
        # frame so none is always first after the cache-cold gap between frames.
        for v in order[k % len(order) :] + order[: k % len(order)]:
            render, idx = renderers[v]
            start, start_cpu = time.perf_counter(), time.process_time()
            image, backward = render(target[idx])
            times[v].append(time.perf_counter() - start)
            cpu[v].append(time.process_time() - start_cpu)
            outputs[v].append(image)
            transfer[v].append(transfer_error(backward, t68, source68))
    outputs["none"] = [source_crop] * len(target_crops)
    outputs["target"] = target_crops

    driver = [marks[i].points68 for i in chosen]  # frame px; the signals are ratios, so crop px would agree
    result: dict[str, Any] = {"clip": path.name, "frames_tracked": len(marks), "targets": chosen, "variants": {}}
    for v in (*variants, *REFERENCES):
        found = retrack(tracker, np.stack(outputs[v]))
        entry: dict[str, Any] = {"face_found": sum(f is not None for f in found) / len(found)}
        if v != "target":
            ssims = [ssim_pair(o, t, face_mask(p)) for o, t, p in zip(outputs[v], target_crops, targets68, strict=True)]
            entry["ssim_face"] = float(np.mean([s[0] for s in ssims]))
            entry["ssim_all"] = float(np.mean([s[1] for s in ssims]))
        follow = follow_measures(driver, found)
        both = [
            (expression_signals(d), expression_signals(f)) for d, f in zip(driver, found, strict=True) if f is not None
        ]
        entry["r_mouth"], entry["mouth_range_ratio"] = follow["r_mouth"], follow["mouth_range_ratio"]
        entry["r_eyes"] = pearson([d["eyes"] for d, _ in both], [o["eyes"] for _, o in both])
        entry["eyes_range_ratio"] = range_ratio([d["eyes"] for d, _ in both], [o["eyes"] for _, o in both])
        entry.update(landmark_errors(found, targets68))
        if v in variants:
            entry["ms_per_frame"] = [1000 * t for t in times[v]]
            entry["cpu_ms_per_frame"] = [1000 * t for t in cpu[v]]
            entry["transfer_px"] = float(np.mean(transfer[v]))
            entry["points"] = int(len(renderers[v][1]))
        if v == "pwa":
            entry["folded_px2"] = [count_folds(t) for t in target_meshes]
            entry["triangles"] = int(len(pwa_triangles(source_mesh)))
        result["variants"][v] = entry
    sheet = []
    shown = [widest, closed]
    if "pwa" in variants:  # and where the triangles fold most, if they fold at all: what a turn does to the outline
        folds = result["variants"]["pwa"]["folded_px2"]
        if max(folds) > 1:
            shown.append(chosen[int(np.argmax(folds))])
    for frame in dict.fromkeys(shown):  # each frame once, where the extremes coincide
        k = chosen.index(frame)
        sheet.append(np.concatenate([source_crop, target_crops[k], *(outputs[v][k] for v in variants)], axis=1))
    return result, sheet, None


def summarize(clips: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Medians over clips per variant; times are the median over every timed frame of every clip (wall clock,
    and the process's CPU time over all its threads; both inflated on shared cores, see the module docstring)."""
    keys = ("ssim_face", "ssim_all", "r_mouth", "mouth_range_ratio", "r_eyes", "eyes_range_ratio", "err68")
    keys += ("err_lips", "err_eyes", "face_found", "transfer_px")
    summary: dict[str, dict[str, Any]] = {}
    for v in clips[0]["variants"]:
        entries = [c["variants"][v] for c in clips]
        row: dict[str, Any] = {}
        for key in keys:
            values = [e[key] for e in entries if e.get(key) is not None]
            row[key] = float(np.median(values)) if values else None
        if "ms_per_frame" in entries[0]:
            for key in ("ms_per_frame", "cpu_ms_per_frame"):
                row[key] = float(np.median([t for e in entries for t in e[key]]))
            row["points"] = entries[0]["points"]
        if v == "pwa":
            folds = [f for e in entries for f in e["folded_px2"]]
            row["frames_with_fold_over_1px2"] = float(np.mean([f > 1 for f in folds]))
            row["folded_px2_median"] = float(np.median(folds))
            row["folded_px2_max"] = float(np.max(folds))
        summary[v] = row
    return summary


def format_table(summary: dict[str, dict[str, Any]], clips: int) -> str:
    def f(v: float | None, fmt: str) -> str:
        return "n/a" if v is None else format(v, fmt)

    cols = (
        ("points", "points", "d"),
        ("ssim_face", "SSIM face", ".3f"),
        ("ssim_all", "SSIM all", ".3f"),
        ("r_mouth", "r mouth", ".2f"),
        ("mouth_range_ratio", "mouth×", ".2f"),
        ("r_eyes", "r eyes", ".2f"),
        ("eyes_range_ratio", "eyes×", ".2f"),
        ("err68", "err 68", ".3f"),
        ("err_lips", "err lips", ".3f"),
        ("err_eyes", "err eyes", ".3f"),
        ("transfer_px", "carry px", ".2f"),
        ("ms_per_frame", "ms/frame", ".1f"),
        ("cpu_ms_per_frame", "CPU ms", ".1f"),
    )
    lines = [f"medians over {clips} clips", "| variant | " + " | ".join(c[1] for c in cols) + " |"]
    lines.append("|" + "---|" * (len(cols) + 1))
    for v, row in summary.items():
        lines.append(f"| {v} | " + " | ".join(f(row.get(k), fmt) for k, _, fmt in cols) + " |")
    if "pwa" in summary:
        p = summary["pwa"]
        lines.append(
            f"pwa: {p['frames_with_fold_over_1px2']:.0%} of target frames fold more than 1 px² (folded area median "
            f"{p['folded_px2_median']:.1f} px², max {p['folded_px2_max']:.1f} px² of {SIZE * SIZE})"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for report.json and sheet.png")
    parser.add_argument("--clips", type=Path, default=DEFAULT_CLIPS, help=f"clip folder (default {DEFAULT_CLIPS})")
    parser.add_argument(
        "--split", type=Path, default=DEFAULT_SPLIT, help=f'JSON with the "held_out" names (default {DEFAULT_SPLIT})'
    )
    parser.add_argument("--variants", nargs="+", choices=VARIANTS, default=VARIANTS, help="warps to compare (all)")
    parser.add_argument("--names", nargs="*", help="clip names (file stems) instead of the split's held_out list")
    parser.add_argument("--targets", type=int, default=16, help="target frames per clip (default 16)")
    parser.add_argument("--max-frames", type=int, default=300, help="frames read from each clip's start (300)")
    parser.add_argument("--sheet-clips", type=int, default=6, help="clips shown on the contact sheet (6)")
    cfg = preset("warp").warp
    parser.add_argument("--coarse", type=int, default=cfg.coarse, help=f"TPS grid side (the model's: {cfg.coarse})")
    parser.add_argument("--steps", type=int, default=cfg.newton_steps, help=f"Newton steps ({cfg.newton_steps})")
    args = parser.parse_args(argv)
    if not args.clips.is_dir():
        print(f"no clip folder at {args.clips}", file=sys.stderr)
        return 2
    names = args.names if args.names else json.loads(args.split.read_text())["held_out"]
    paths = []
    for name in names:
        found = sorted(p for p in args.clips.glob(f"{name}.*") if p.suffix.lower() in VIDEO_SUFFIXES)
        if not found:
            print(f"no clip named {name} in {args.clips}", file=sys.stderr)
            return 2
        paths.append(found[0])

    from liveavatar.landmarks.tracker import FaceTracker

    args.out.mkdir(parents=True, exist_ok=True)
    clips, skipped, sheet = [], [], []
    with FaceTracker("image", max_faces=1) as tracker:
        for path in paths:
            result, rows, why = measure_clip(
                path, args.max_frames, args.targets, tracker, args.coarse, args.steps, args.variants
            )
            if result is None:
                skipped.append({"clip": path.name, "skipped": why})
                print(f"{path.name}: skipped, {why}", flush=True)
                continue
            clips.append(result)
            if len(clips) <= args.sheet_clips:
                sheet += rows
            print(f"{path.name}: {len(result['targets'])} targets of {result['frames_tracked']} frames", flush=True)
    if not clips:
        print("no clip could be measured", file=sys.stderr)
        return 1
    summary = summarize(clips)
    report = {
        "settings": {
            "size": SIZE,
            "targets": args.targets,
            "max_frames": args.max_frames,
            "tps": {
                "anchors": cfg.anchors,
                "coarse": args.coarse,
                "newton_steps": args.steps,
                "λ": cfg.regularization,
            },
            "face_region": f"convex hull of the target's 68 points dilated by {FACE_DILATE} px",
            "torch_threads": torch.get_num_threads(),
            "sheet_columns": "source | target | " + " | ".join(args.variants),
        },
        "summary": summary,
        "clips": clips,
        "skipped": skipped,
    }
    (args.out / "report.json").write_text(json.dumps(report, indent=1, ensure_ascii=False))
    from liveavatar.files.imageio import write_image

    write_image(args.out / "sheet.png", np.concatenate(sheet, axis=0))
    print(format_table(summary, len(clips)))
    print(f"wrote {args.out / 'report.json'} and {args.out / 'sheet.png'} (real faces: do not commit)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
