"""Makes docs/teeth.jpg: the driver's teeth laid in public-domain portraits, cut off at white (the colour move
alone) above and bent under it (liveavatar.render.driver_mouth.bend_into_range) below, issue 20.

    python tools/teeth_sheet.py [--out docs/teeth.jpg] [--frame 100]

Each portrait is driven by a held-out clip that bares its teeth (eamm_mead_man_disgusted_teeth) through
`liveavatar run` (every frame, 1280×720), once with the bend turned off and once as shipped; the sheet shows the
mouth at one frame of each. The driver's own frames stay out of the sheet (a real person's face); only
portraits whose artwork is public domain and the NASA and US Navy photos (MANIFEST.tsv) are used. Also prints
the share of the laid mouth (alpha over 0.5) at flat white (255 in a channel), averaged over the clip.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
CLIP = "eamm_mead_man_disgusted_teeth.mp4"
PUBLIC_DOMAIN = (
    "photo_grace_hopper.jpg",
    "photo_eileen_collins_astronaut.png",
    "painting_girl_with_a_pearl_earring.jpg",
    "painting_ducreux_self_portrait.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
)
TILE_W, TILE_H = 300, 200  # each mouth, scaled to this (3:2)


def drive(avatar: Path, out: Path, bend: bool) -> float:
    """Records `avatar` driven by CLIP to `out` (bend on or off); returns the mean share of the laid mouth's
    pixels at flat white."""
    from liveavatar import cli
    from liveavatar.render import driver_mouth, mouth_inside

    white = []
    lay, bend_into_range = driver_mouth.lay_cut, driver_mouth.bend_into_range

    def measured(frame: np.ndarray, cut: driver_mouth.MouthCut, share: float = 1.0) -> None:
        laid = cut.alpha > 0.5
        if laid.sum() > 20:
            white.append(float((cut.patch[laid] == 255).any(1).mean()))
        lay(frame, cut, share)

    mouth_inside.lay_cut = measured
    if not bend:
        driver_mouth.bend_into_range = lambda image, inside: None
    try:
        argv = ["run", "--avatar", str(avatar), "--source", str(DATA / "driving" / CLIP), "--every-frame"]
        cli.main([*argv, "--sink", f"record:{out}", "--quiet", "--no-ai-mark"])
    finally:
        mouth_inside.lay_cut, driver_mouth.bend_into_range = lay, bend_into_range
    return float(np.mean(white)) if white else 0.0


def mouth_tile(video: Path, frame: int) -> np.ndarray:
    """The mouth of `video`'s frame `frame` (found by mediapipe), TILE_W×TILE_H BGR."""
    from liveavatar.landmarks.tracker import FaceTracker

    capture = cv2.VideoCapture(str(video))
    capture.set(cv2.CAP_PROP_POS_FRAMES, frame)
    ok, bgr = capture.read()
    capture.release()
    if not ok:
        raise SystemExit(f"{video} has no frame {frame}")
    with FaceTracker("image", max_faces=1) as tracker:
        found = tracker.track(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)).landmarks
    if found is None:
        raise SystemExit(f"no face in frame {frame} of {video}")
    lips = found.points68[48:68]
    centre, width = lips.mean(0), float(np.ptp(lips[:, 0]))
    x0, y0 = int(max(centre[0] - 0.9 * width, 0)), int(max(centre[1] - 0.6 * width, 0))
    crop = bgr[y0 : y0 + int(1.2 * width), x0 : x0 + int(1.8 * width)]
    return cv2.resize(crop, (TILE_W, TILE_H), interpolation=cv2.INTER_CUBIC)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "teeth.jpg")
    parser.add_argument("--frame", type=int, default=100, help="the clip's frame shown (default 100: teeth bared)")
    args = parser.parse_args()
    if not (DATA / "driving" / CLIP).exists():
        print(f"needs {DATA / 'driving' / CLIP} (../shared/data)", file=sys.stderr)
        return 2
    from liveavatar import cli

    rows: list[list[np.ndarray]] = [[], []]
    with tempfile.TemporaryDirectory() as scratch:
        for name in PUBLIC_DOMAIN:
            avatar = Path(scratch) / f"{Path(name).stem}.avatar"
            cli.main(["avatar", str(DATA / "portraits" / name), "-o", str(avatar)])
            for row, bend in enumerate((False, True)):
                video = Path(scratch) / f"{avatar.stem}-{bend}.mp4"
                white = drive(avatar, video, bend)
                print(f"{avatar.stem}: bend {'on' if bend else 'off'}: {white:.1%} of the laid mouth at flat white")
                rows[row].append(mouth_tile(video, args.frame))
    sheet = np.vstack([np.hstack(row) for row in rows])
    cv2.imwrite(str(args.out), sheet, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.out}: top row cut off at white, bottom row bent under it")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
