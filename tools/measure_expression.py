#!/usr/bin/env python
"""Measures how expressions reach the portrait, before and after the expression-control work, on real
clips: blinks (eye openness), mouth opening, gaze, jitter on a still face, and the lag of a step.

python tools/measure_expression.py [--data ../shared/data] [--baseline 6a21479] [--frames 250]
    [--render-frames 100] [--json docs/expression_measures.json]

"before": the retargeting module as it was at --baseline (git show), fed by the tracker without iris
refinement and the single One-Euro filter over the driver's points, as `run` did then. "after": this
checkout's tracker (irises), Retargeter.measure → MotionSmoother (pose and expression apart) → apply.
Both take the first 5 tracked frames as the neutral, as auto-calibration does. Landmark-level measures
compare the driver's landmarks with the retargeted portrait's; "rendered" measures run the bundled model
and re-track its frames with mediapipe. Prints Markdown tables (for docs/EXPRESSION.md) and writes JSON.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from liveavatar.landmarks.calibration import mouth_gap
from liveavatar.landmarks.retarget import Retargeter, driver_irises, driver_points, gaze_angles
from liveavatar.landmarks.smoothing import OneEuroFilter, OneEuroParams
from liveavatar.landmarks.stability import MotionSmoother
from liveavatar.landmarks.tracker import FaceTracker, detect_portrait
from liveavatar.live.spec import EXPRESSION_SMOOTHING, POSE_SMOOTHING
from liveavatar.render.align import face_crop

CLIPS = (
    "lp_d6_woman_expressions.mp4",
    "lp_d3_woman_frown.mp4",
    "lp_d18_man_mouth_open.mp4",
    "lp_d0_man_greenscreen.mp4",
    "sadtalker_aoc.mp4",
    "edtalk_obama.mp4",
    "styletalk_kristi_noem.mp4",
    "tpsmm_jackie_chan.mp4",
)
PORTRAITS = (
    "painting_courbet_desperate_man.jpg",  # wide-open eyes
    "painting_mona_lisa.jpg",  # closed mouth
    "photo_woman_surprised.jpg",  # wide eyes, open mouth
    "painting_girl_with_a_pearl_earring.jpg",  # parted lips, turned head
)
NEUTRAL_FRAMES = 5
SIZE = 256


def ear(p: np.ndarray) -> float:
    """Eye aspect ratio (Soukupová & Čech 2016), mean of both eyes: lid gaps over eye width."""
    out = []
    for a, b, (u1, l1), (u2, l2) in ((36, 39, (37, 41), (38, 40)), (42, 45, (43, 47), (44, 46))):
        gaps = np.linalg.norm(p[l1, :2] - p[u1, :2]) + np.linalg.norm(p[l2, :2] - p[u2, :2])
        out.append(gaps / (2 * max(np.linalg.norm(p[b, :2] - p[a, :2]), 1e-6)))
    return float(np.mean(out))


def spread(x: np.ndarray) -> float:
    """Robust range: 98th minus 2nd percentile."""
    return float(np.percentile(x, 98) - np.percentile(x, 2))


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    if np.std(a) < 1e-9 or np.std(b) < 1e-9:
        return float("nan")
    return float(np.corrcoef(a, b)[0, 1])


def load_baseline(rev: str):
    source = subprocess.run(
        ["git", "show", f"{rev}:liveavatar/landmarks/retarget.py"], capture_output=True, text=True, check=True
    ).stdout
    path = Path(tempfile.mkdtemp()) / "retarget_baseline.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("retarget_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def track_clip(path: Path, frames: int, irises: bool) -> dict:
    """Tracked frames of a clip: 68×3 points, 2×3 irises (or None), times (s), and the tracking cost."""
    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS) or 25.0
    points, iris, times = [], [], []
    cost = 0.0
    with FaceTracker("video", max_faces=1, irises=irises) as tracker:
        i = 0
        while len(points) < frames:
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            start = time.perf_counter()
            result = tracker.track(rgb)
            cost += time.perf_counter() - start
            if result.landmarks is not None:
                points.append(driver_points(result.landmarks))
                iris.append(driver_irises(result.landmarks))
                times.append(i / fps)
            i += 1
    capture.release()
    return {
        "points": np.array(points),
        "irises": iris,
        "times": np.array(times),
        "fps": fps,
        "ms": 1000 * cost / max(i, 1),
    }


def before(baseline, clip: dict, target: np.ndarray) -> np.ndarray:
    filt = OneEuroFilter(OneEuroParams())
    smoothed = np.array([filt(p, t) for p, t in zip(clip["points"], clip["times"], strict=True)])
    rt = baseline.Retargeter(target, SIZE)
    rt.set_neutral(smoothed[:NEUTRAL_FRAMES].mean(0))
    return np.array([rt(p) for p in smoothed])


def after(clip: dict, target: np.ndarray, smooth: bool = True, controls=None):
    rt = Retargeter(target, SIZE)
    irises = clip["irises"]
    neutral_irises = np.mean(irises[:NEUTRAL_FRAMES], axis=0) if irises[0] is not None else None
    rt.set_neutral(clip["points"][:NEUTRAL_FRAMES].mean(0), neutral_irises)
    smoother = MotionSmoother(POSE_SMOOTHING, EXPRESSION_SMOOTHING)
    points, out_irises = [], []
    for p, i, t in zip(clip["points"], irises, clip["times"], strict=True):
        motion = rt.measure(p, i)
        if smooth:
            motion = smoother(motion, t, rt.face_radius)
        result = rt.apply(motion, controls)
        points.append(result.points)
        out_irises.append(result.irises)
    return np.array(points), out_irises


def driver_gaze(clip: dict) -> np.ndarray:
    """T×2×2 degrees relative to the neutral (mean of the first frames)."""
    angles = np.array([gaze_angles(p, i) for p, i in zip(clip["points"], clip["irises"], strict=True)])
    return angles - angles[:NEUTRAL_FRAMES].mean(0)


def transfer_measures(driver: np.ndarray, out: np.ndarray, target: np.ndarray) -> dict:
    d_open = np.array([ear(p) for p in driver]) / ear(driver[:NEUTRAL_FRAMES].mean(0))
    o_open = np.array([ear(p) for p in out]) / ear(target)
    d_mouth = np.array([mouth_gap(p) for p in driver])
    o_mouth = np.array([mouth_gap(p) for p in out])
    deepest = int(np.argmin(d_open))
    return {
        "eye_r": pearson(d_open, o_open),
        "eye_range_ratio": spread(o_open) / max(spread(d_open), 1e-9),
        "driver_min_openness": float(d_open[deepest]),
        "output_openness_at_deepest_blink": float(o_open[deepest]),
        "mouth_r": pearson(d_mouth, o_mouth),
        "mouth_range_ratio": spread(o_mouth) / max(spread(d_mouth), 1e-9),
    }


def still_window(points: np.ndarray, length: int) -> int:
    """Start of the `length`-frame window where the driver's points move least."""
    scores = [points[s : s + length, :, :2].std(0).mean() for s in range(0, len(points) - length)]
    return int(np.argmin(scores))


def jitter(out: np.ndarray, start: int, length: int) -> float:
    """Mean over points and axes of the std of output landmarks (crop px) over the window."""
    return float(out[start : start + length].std(0).mean())


def still_image(path: Path, irises: bool, frames: int = 75, sigma: float = 4.0) -> dict:
    """A clip's first frame repeated with fresh camera-like noise (Gaussian, sigma grey levels) on each
    copy: a face that truly holds still, so any motion of the output is jitter."""
    capture = cv2.VideoCapture(str(path))
    ok, bgr = capture.read()
    capture.release()
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB).astype(np.float32)
    rng = np.random.default_rng(0)
    points, iris = [], []
    with FaceTracker("video", max_faces=1, irises=irises) as tracker:
        for _ in range(frames):
            noisy = np.clip(rgb + rng.normal(0, sigma, rgb.shape), 0, 255).astype(np.uint8)
            landmarks = tracker.track(noisy).landmarks
            points.append(driver_points(landmarks))
            iris.append(driver_irises(landmarks))
    return {"points": np.array(points), "irises": iris, "times": np.arange(frames) / 30.0, "fps": 30.0}


def step_lag(baseline, neutral: np.ndarray, target: np.ndarray, fps: float = 30.0) -> dict:
    """Scripted step: the head turns 10° (about the vertical) and the mouth opens 0.3 eye distances at once;
    frames until the output covers 90% of the step, for pose and mouth, before and after."""
    import math

    c = neutral.mean(0)
    a = math.radians(10)
    rot = np.array([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
    stepped = neutral.copy()
    iod = np.linalg.norm(neutral[36:42, :2].mean(0) - neutral[42:48, :2].mean(0))
    stepped[[55, 56, 57, 58, 59, 65, 66, 67], 1] += 0.3 * iod
    stepped[5:12, 1] += 0.2 * iod
    stepped = c + (stepped - c) @ rot.T
    seq = np.array([neutral] * 30 + [stepped] * 60)
    times = np.arange(len(seq)) / fps
    clip = {"points": seq, "irises": [None] * len(seq), "times": times}
    results = {}
    for name, out in (("before", before(baseline, clip, target)), ("after", after(clip, target)[0])):
        final_pose = out[-1, 30] - out[0, 30]  # the nose tip moves with the turn
        pose = (out[:, 30] - out[0, 30]) @ final_pose / (final_pose @ final_pose)
        mouth = np.array([mouth_gap(p) for p in out])
        mouth = (mouth - mouth[0]) / (mouth[-1] - mouth[0])
        results[name] = {
            "pose_frames_to_90": int(np.argmax(pose[30:] >= 0.9)),
            "mouth_frames_to_90": int(np.argmax(mouth[30:] >= 0.9)),
        }
    return results


def rendered_measures(clip: dict, outs: dict, target_avatar, engine, warp=None) -> dict:
    """Generated frames re-tracked with mediapipe: eye openness, mouth gap and gaze vs the driver's.
    warp: the avatar's WarpAvatar when the model is a `warp` preset (liveavatar.avatar.warp_avatar_of)."""
    from liveavatar.landmarks.irises import spline_driven
    from liveavatar.render.rasterize import rasterize_landmarks

    psi = np.ascontiguousarray(target_avatar.psi, np.float32).reshape(1, -1)

    def render(points: np.ndarray) -> np.ndarray:
        driven = None  # 1×70×2 crop pixels: the landmarks and the irises carried by their eyes (no gaze here)
        if warp is not None:
            driven = spline_driven(points, None, target_avatar.landmarks, target_avatar.irises)[None]
        return engine.infer(rasterize_landmarks(points, SIZE)[None], psi, warp, driven)[0]

    def track_generated(points_seq):
        opens, mouths, gazes, ok = [], [], [], []
        with FaceTracker("video", max_faces=1, irises=True) as tracker:
            rest = render(target_avatar.landmarks)
            r = tracker.track(rest).landmarks
            for p in points_seq:
                face = render(p)
                lm = tracker.track(face).landmarks
                ok.append(lm is not None)
                if lm is None:
                    continue
                pts = driver_points(lm)
                opens.append(ear(pts))
                mouths.append(mouth_gap(pts))
                gazes.append(gaze_angles(pts, driver_irises(lm)))
        rest_pts = driver_points(r) if r is not None else None
        rest_ear = ear(rest_pts) if rest_pts is not None else np.median(opens)
        rest_gaze = gaze_angles(rest_pts, driver_irises(r)) if r is not None else 0
        return np.array(ok), np.array(opens) / rest_ear, np.array(mouths), np.array(gazes) - rest_gaze

    n = len(outs["after"])
    d_open = np.array([ear(p) for p in clip["points"][:n]]) / ear(clip["points"][:NEUTRAL_FRAMES].mean(0))
    d_mouth = np.array([mouth_gap(p) for p in clip["points"][:n]])
    d_gaze = driver_gaze(clip)[:n]
    result = {}
    for name, seq in outs.items():
        ok, opens, mouths, gazes = track_generated(seq)
        result[name] = {
            "tracked": float(ok.mean()),
            "eye_r": pearson(d_open[ok], opens),
            "eye_range_ratio": spread(opens) / max(spread(d_open[ok]), 1e-9),
            "eye_min_openness": float(opens.min()),
            "mouth_r": pearson(d_mouth[ok], mouths),
            "mouth_range_ratio": spread(mouths) / max(spread(d_mouth[ok]), 1e-9),
            "gaze_r_horizontal": pearson(d_gaze[ok, :, 0].mean(1), gazes[:, :, 0].mean(1)),
        }
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--baseline", default="6a21479")
    ap.add_argument("--frames", type=int, default=250)
    ap.add_argument("--render-frames", type=int, default=100)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    if not (args.data / "MANIFEST.tsv").is_file():
        sys.exit(f"no shared data at {args.data}; pass --data")
    baseline = load_baseline(args.baseline)

    targets = {}
    for name in PORTRAITS:
        image = cv2.cvtColor(cv2.imread(str(args.data / "portraits" / name)), cv2.COLOR_BGR2RGB)
        face, _ = detect_portrait(image, name)
        targets[name] = face_crop(face.points68, SIZE).points_to_crop(face.points68).astype(np.float64)

    report: dict = {"clips": {}, "cost_ms": {}}
    plain_ms, iris_ms = [], []
    for clip_name in tqdm(CLIPS, desc="clips", file=sys.stderr):
        path = args.data / "driving" / clip_name
        old = track_clip(path, args.frames, irises=False)
        new = track_clip(path, args.frames, irises=True)
        plain_ms.append(old["ms"])
        iris_ms.append(new["ms"])
        entry: dict = {"frames": len(new["points"])}
        g = driver_gaze(new)
        for name, target in targets.items():
            out_before = before(baseline, old, target)
            out_after, irises_after = after(new, target)
            out_gaze = np.array([gaze_angles(p, i) for p, i in zip(out_after, irises_after, strict=True)])
            rest = gaze_angles(target, np.array([target[36:42].mean(0), target[42:48].mean(0)]))
            out_gaze -= rest
            entry[name] = {
                "before": transfer_measures(old["points"], out_before, target),
                "after": transfer_measures(new["points"], out_after, target),
                # Before this work the output had no gaze at all: its error is the driver's own angle.
                "gaze_error_deg_before": float(np.abs(g).mean()),
                "gaze_error_deg_after": float(np.abs(out_gaze - g).mean()),
                "gaze_r_after": pearson(g[:, :, 0].ravel(), out_gaze[:, :, 0].ravel()),
            }
        # Jitter on the stillest second of the clip, onto the first portrait.
        target = targets[PORTRAITS[1]]
        length = round(new["fps"])
        start = still_window(new["points"], length)
        raw_after, _ = after(new, target, smooth=False)
        entry["jitter_px"] = {
            "window_start_s": float(new["times"][start]),
            "unsmoothed": jitter(raw_after, start, length),
            "before": jitter(before(baseline, old, target), still_window(old["points"], length), length),
            "after": jitter(after(new, target)[0], start, length),
        }
        # Jitter on a truly still face: the first frame repeated with camera noise (after the filters settle).
        still_old, still_new = still_image(path, False), still_image(path, True)
        settle = 30
        entry["still_jitter_px"] = {
            "unsmoothed": float(after(still_new, target, smooth=False)[0][settle:].std(0).mean()),
            "before": float(before(baseline, still_old, target)[settle:].std(0).mean()),
            "after": float(after(still_new, target)[0][settle:].std(0).mean()),
        }
        report["clips"][clip_name] = entry
    report["cost_ms"] = {"tracker_plain": float(np.mean(plain_ms)), "tracker_irises": float(np.mean(iris_ms))}
    neutral = new["points"][:NEUTRAL_FRAMES].mean(0)
    report["step_lag_frames_at_30fps"] = step_lag(baseline, neutral, targets[PORTRAITS[1]])

    if args.render_frames:
        from liveavatar.avatar import warp_avatar_of
        from liveavatar.engines.embedder import build_avatar
        from liveavatar.engines.registry import create_engine
        from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint

        checkpoint = load_checkpoint(resolve_checkpoint(None), discriminator=False)
        engine = create_engine("auto", checkpoint).engine
        report["rendered"] = {}
        for clip_name, portrait in (("lp_d6_woman_expressions.mp4", PORTRAITS[1]), ("sadtalker_aoc.mp4", PORTRAITS[0])):
            avatar = build_avatar([args.data / "portraits" / portrait], checkpoint)
            path = args.data / "driving" / clip_name
            old = track_clip(path, args.render_frames, irises=False)
            new = track_clip(path, args.render_frames, irises=True)
            target = np.asarray(avatar.landmarks, np.float64)
            outs = {"before": before(baseline, old, target), "after": after(new, target)[0]}
            warp = warp_avatar_of(avatar, checkpoint)
            report["rendered"][f"{clip_name} → {portrait}"] = rendered_measures(new, outs, avatar, engine, warp)
        engine.close()

    print_tables(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def print_tables(report: dict) -> None:
    rows = []
    for clip, entry in report["clips"].items():
        for portrait in PORTRAITS:
            e = entry[portrait]
            b, a = e["before"], e["after"]
            rows.append(
                f"| {clip} | {portrait} | {b['eye_r']:.2f} → {a['eye_r']:.2f} | {b['eye_range_ratio']:.2f} → "
                f"{a['eye_range_ratio']:.2f} | {a['driver_min_openness']:.2f} | "
                f"{b['output_openness_at_deepest_blink']:.2f} → {a['output_openness_at_deepest_blink']:.2f} | "
                f"{b['mouth_r']:.2f} → {a['mouth_r']:.2f} | "
                f"{b['mouth_range_ratio']:.2f} → {a['mouth_range_ratio']:.2f} | "
                f"{e['gaze_error_deg_before']:.1f} → {e['gaze_error_deg_after']:.1f} |"
            )
    print(
        "| clip | portrait | eye r | eye range ratio | driver's deepest blink | output openness there | "
        "mouth r | mouth range ratio | gaze error ° |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print()
    print("| clip | still image + noise: unsmoothed / before / after px | stillest second from | same, px |")
    print("| --- | --- | --- | --- |")
    for clip, entry in report["clips"].items():
        j, k = entry["jitter_px"], entry["still_jitter_px"]
        print(
            f"| {clip} | {k['unsmoothed']:.3f} / {k['before']:.3f} / {k['after']:.3f} | {j['window_start_s']:.1f} s | "
            f"{j['unsmoothed']:.3f} / {j['before']:.3f} / {j['after']:.3f} |"
        )
    print()
    print("step lag (frames at 30 fps):", json.dumps(report["step_lag_frames_at_30fps"]))
    print("tracker cost ms/frame:", json.dumps(report["cost_ms"]))
    for name, r in report.get("rendered", {}).items():
        print(f"rendered {name}: {json.dumps(r)}")


if __name__ == "__main__":
    sys.exit(main())
