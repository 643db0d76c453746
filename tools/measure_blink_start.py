"""A session that starts in a blink: how open the avatar's eyes are afterwards (the eye rest, docs/EXPRESSION.md).

    python tools/measure_blink_start.py [--starts 0 16 18 32 34] [--portrait painting_mona_lisa.jpg]
    PYTHONPATH=/tmp/base python tools/measure_blink_start.py   (another checkout's code, as tools/measure_eyes.py)

The blink clip (lp_blinkx2_man_hoodie_blinks) is started at each given frame, as if the user opened the app
there: the real Processor (mediapipe, the neutral's capture, retargeting, smoothing) drives the portrait. Per
start it prints the capture's lid gaps (each frame's over the clip's median open gap), the avatar's lid gap
over the portrait's at the driver's open frames FROM..TO frames after the start (median; 1 = the portrait's
own eyes), and at the driver's shut frames there (max; 0 = the lids meet).
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--starts", type=int, nargs="*", default=[0, 16, 18, 32, 34])
    parser.add_argument("--portrait", default="painting_mona_lisa.jpg")
    parser.add_argument("--from", dest="first", type=int, default=40, help="frames after the start measured")
    parser.add_argument("--to", type=int, default=100)
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
    avatar, _ = model.avatar(portrait)
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
        print(f"start {start:3d}: capture {capture} | avatar at open frames {open_median}, at shut frames {shut_max}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
