"""The pose filter's beta against how the head follows and how still it holds (docs/EXPRESSION.md, "Stability").

    python tools/sweep_pose_smoothing.py [--betas 0.05 0.15 0.3] [--frames 150]

The Mona Lisa's retargeted points (Retargeter.measure → MotionSmoother → apply, as the Processor runs them),
driven by 6 talking clips at their own frame rate: r of the yaw, pitch and roll proxies
(liveavatar/training/expression.py) against the driver's, past the neutral's frames, and the output's yaw
spread over the driver's; the still-face jitter of 5 clips' first frames repeated with camera noise, the
stillest second of each clip, and a scripted 10° turn's lag (tools/measure_expression.py's measures).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure_expression as me  # noqa: E402  (the measures this sweep shares)

from liveavatar.landmarks.smoothing import OneEuroParams  # noqa: E402
from liveavatar.landmarks.tracker import detect_portrait  # noqa: E402
from liveavatar.render.align import face_crop  # noqa: E402
from liveavatar.training.expression import expression_signals  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
CLIPS = (
    "aniportrait_theresa_may.mp4",
    "dreamtalk_mead_w011_woman.mp4",
    "lp_d0_man_greenscreen.mp4",
    "styletalk_happy_woman_2.mp4",
    "lp_d6_woman_expressions.mp4",
    "sadtalker_aoc.mp4",
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--betas", type=float, nargs="+", default=[0.05, 0.15, 0.3])
    parser.add_argument("--min-cutoff", type=float, default=0.3)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    image = cv2.cvtColor(cv2.imread(str(DATA / "portraits" / "painting_mona_lisa.jpg")), cv2.COLOR_BGR2RGB)
    face, _ = detect_portrait(image, "painting_mona_lisa.jpg")
    target = face_crop(face.points68, me.SIZE).points_to_crop(face.points68).astype(np.float64)
    clips = {c: me.track_clip(DATA / "driving" / c, args.frames, irises=True) for c in CLIPS}
    stills = [me.still_image(DATA / "driving" / c, True) for c in CLIPS[:5]]
    baseline = me.load_baseline("6a21479")
    neutral = np.asarray(clips["lp_d0_man_greenscreen.mp4"]["points"][0], np.float64)
    print("| pose beta | yaw r / pitch r / roll r | yaw range | still-face jitter | stillest second | turn lag |")
    for beta in args.betas:
        me.POSE_SMOOTHING = OneEuroParams(min_cutoff=args.min_cutoff, beta=beta)
        r: dict[str, list[float]] = {"yaw": [], "pitch": [], "roll": []}
        yaw_range, stillest = [], []
        for clip in clips.values():
            out, _ = me.after(clip, target)
            driver = [expression_signals(p[:, :2]) for p in clip["points"]][me.NEUTRAL_FRAMES :]
            output = [expression_signals(p[:, :2]) for p in out][me.NEUTRAL_FRAMES :]
            for signal, values in r.items():
                a, b = (np.array([x[signal] for x in side]) for side in (driver, output))
                values.append(float(np.corrcoef(a, b)[0, 1]))
                if signal == "yaw":
                    yaw_range.append(float(b.std() / a.std()))
            length = round(clip["fps"])
            stillest.append(me.jitter(out, me.still_window(clip["points"], length), length))
        jitter = np.mean([me.jitter(me.after(s, target)[0], 10, 60) for s in stills])
        lag = me.step_lag(baseline, neutral, target)["after"]["pose_frames_to_90"]
        rs = " / ".join(f"{np.median(v):.2f}" for v in r.values())
        print(f"| {beta:g} | {rs} | {np.median(yaw_range):.2f} | {jitter:.3f} | {np.mean(stillest):.2f} | {lag} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
