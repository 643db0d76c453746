"""A session that starts in a blink: how open the avatar's eyes are afterwards (the eye rest, docs/EXPRESSION.md).

    python tools/measure_blink_start.py [--starts 0 16 18 32 34] [--portrait painting_mona_lisa.jpg]
    PYTHONPATH=/tmp/base python tools/measure_blink_start.py   (another checkout's code, as tools/measure_eyes.py)

The blink clip (lp_blinkx2_man_hoodie_blinks) is started at each given frame, as if the user opened the app
there: the real Processor (mediapipe, the neutral's capture, retargeting, smoothing) drives the portrait. Per
start it prints the capture's lid gaps (each frame's over the clip's median open gap), the avatar's lid gap
over the portrait's at the driver's open frames FROM..TO frames after the start (median; 1 = the portrait's
own eyes), and at the driver's shut frames there (max; 0 = the lids meet). With --creases, also how much the
driver's creases change the output around the eyes at the window's last frame (mean absolute difference,
8-bit levels, of the 1280×720 output with and without them, over a box about the eyes): the creases are the
change from the capture's neutral frame, so a shut one lays the lids' fold around every open eye after it.
"""

from __future__ import annotations

import argparse
import sys

import measure_mouth as mm  # tools/ is on the path when run as a script
import numpy as np

from liveavatar.landmarks.tracker import FaceTracker
from liveavatar.render.lids import lid_ratios

CLIP = "lp_blinkx2_man_hoodie_blinks.mp4"
OPEN, SHUT = 0.9, 0.3  # a driver frame whose lid gap is at least / at most this share of the clip's median


def creases_around_eyes(model, avatar, warp, driven, image: np.ndarray) -> float:
    """Mean absolute difference (8-bit levels) the driver's creases make to the output over a box about the
    eyes (1.5 eye-line widths across, from 0.45 above the eyes' centre to 0.3 below)."""
    from liveavatar.pipeline.stages import Composer

    outputs = []
    for variant in ("mouth", "creases"):  # the same frame without and with the creases
        composer = Composer(*mm.OUTPUT_SIZE)
        outputs.append(model.render(composer, avatar, warp, driven, image, variant).astype(np.float32))
        to_output = mm.crop_to_output(composer)
    eyes = (driven.points @ to_output[:, :2].T + to_output[:, 2])[36:48]
    (cx, cy), width = eyes.mean(0), float(np.ptp(eyes[:, 0]))
    box = np.s_[int(cy - 0.45 * width) : int(cy + 0.3 * width), int(cx - 0.75 * width) : int(cx + 0.75 * width)]
    return float(np.abs(outputs[1][box] - outputs[0][box]).mean())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, nargs="*", default=[0, 16, 18, 32, 34])
    parser.add_argument("--portrait", default="painting_mona_lisa.jpg")
    parser.add_argument("--from", dest="first", type=int, default=40, help="frames after the start measured")
    parser.add_argument("--to", type=int, default=100)
    parser.add_argument("--creases", action="store_true", help="also the creases' change around the eyes")
    args = parser.parse_args()
    clip = mm.SHARED / "driving" / CLIP
    portrait = mm.SHARED / "portraits" / args.portrait
    for path in (clip, portrait):
        if not path.is_file():
            print(f"{path} is not there: this tool reads the shared data (../shared/data)", file=sys.stderr)
            return 2
    frames = mm.read_frames(clip, 10_000)
    tracker = FaceTracker("video", max_faces=1, irises=True)
    try:
        gaps = []
        for frame in frames:
            landmarks = tracker.track(frame).landmarks
            gaps.append(np.nan if landmarks is None else float(lid_ratios(landmarks.points68).mean()))
    finally:
        tracker.close()
    driver = np.array(gaps) / np.nanmedian(gaps)
    model = mm.Model()
    avatar, warp = model.avatar(portrait)
    rest = float(lid_ratios(avatar.landmarks).mean())
    neutral_frames = 5  # TrackingConfig's
    print(f"{CLIP}, {len(frames)} frames; {args.portrait}; frames {args.first}..{args.to} after each start")
    for start in args.starts:
        drives = model.drive(avatar, frames[start : start + args.to])
        avatar_open = np.array([lid_ratios(d.points).mean() / rest for d in drives])
        seen = driver[start : start + len(drives)]
        window = np.arange(len(drives)) >= args.first
        opened, shut = window & (seen >= OPEN), window & (seen <= SHUT)
        open_median = f"{np.median(avatar_open[opened]):.2f}" if opened.any() else "n/a"
        shut_max = f"{avatar_open[shut].max():.2f}" if shut.any() else "n/a (no shut frame)"
        capture = " ".join(f"{g:.2f}" for g in seen[:neutral_frames])
        line = f"start {start:3d}: capture {capture} | avatar at open frames {open_median}, at shut frames {shut_max}"
        if args.creases:
            change = creases_around_eyes(model, avatar, warp, drives[-1], frames[start + len(drives) - 1])
            line += f" | creases around the eyes {change:.2f}"
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
