"""Builds liveavatar/assets/shut_lid.npz: how a real shut eye is shaded, from the blinks of talking-head clips.

    python tools/build_shut_lid.py [--clips ../shared/data/driving] [--out liveavatar/assets/shut_lid.npz]

A portrait holds no closed lid, and the lids drawn shut from its own skin (liveavatar/render/lids.py) read as
half open to both trackers: what they read as shut is a real lid's shading, its lit bulge over the eyeball and
the shadow under its lash line (docs/EXPRESSION.md, "A shut lid's light"). This tool measures that shading
on real blinks and keeps only its shape, as a gain, so any portrait's own colours and grain stay its own.

Per clip (every clip of --clips but the held-out ones of the bundled model's evaluation, HELD_OUT): every
frame up to MAX_FRAMES is tracked with mediapipe's refined mesh in video mode; the frames whose lid gap (over
the eye's width, both eyes' mean) falls under SHUT of the clip's median are blinks, and each blink's most shut
frame, up to PER_CLIP per clip (the most shut), is kept. Per eye of such a frame, its log-lightness
(log(CIE L + 8), OpenCV's 8-bit L) is taken to a canonical patch (H×W, its first corner of EYE_CORNERS at
CORNER_A, its second at CORNER_B: 63 px an eye width) and high-passed (less its Gaussian blur, BLUR px, taken
at a quarter of the patch's size since 2026-12-08, within 0.006 in log of the full blur the asset was built
with): the lid's shading across the eye, not the face's light (liveavatar.render.shut_lid.eye_light, which
live reads the driver's own shut lid with too). The patches are not moved to line their lash lines up:
so lined up, the median's line was sharper and darker (a gain of 0.47 at its middle against 0.58), and dlib
read 8 portraits posed shut a little more open with it (0.88 of their open gap, mean; 0.83 as built, 0.90
with no shading; mediapipe 0.32, 0.34 and 0.38): a shut eye's lashes lie at different heights below its
corners, and the soft band they make in the median is closer to what the trackers read as shut.

The median over all patches, times a soft ellipse around the eye (MASK_*), averaged with its mirror image (a
shut eye is about symmetric along itself, so one template serves both eyes), is the asset's `shading` (H×W
float16, log gain: a pixel is multiplied by exp(shading)); `about` (JSON) names the clips and counts.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tools")]

from measure_mouth import HELD_OUT as MODEL_HELD_OUT  # noqa: E402

from liveavatar.landmarks.irises import EYE_CORNERS  # noqa: E402
from liveavatar.render.shut_lid import BLUR, ellipse_mask, eye_light  # noqa: E402
from liveavatar.training.discover import VIDEO_SUFFIXES  # noqa: E402

# The 14 held-out clips of the bundled model's split (measure_mouth's, after liveavatar/assets/MODEL_CARD.md)
# and the three clips docs/EXPRESSION.md measures eyes on: none of them shapes the template the measures judge.
HELD_OUT = frozenset(MODEL_HELD_OUT) | {
    "lp_blinkx2_man_hoodie_blinks",
    "pdfgc_vox_id01333_blonde_woman_eyes",
    "hellomeme_tiktok_young_woman_glances",
}
MAX_FRAMES = 400
SHUT = 0.2  # of the clip's median lid gap: a blink's most shut frames (the refined mesh reads a shut eye ~0.1–0.2)
PER_CLIP = 3


def eye_patches(rgb: np.ndarray, points: np.ndarray) -> list[np.ndarray]:
    """An RGB frame and its 68 points → per eye wide enough, its high-passed log-lightness patch (H×W float32)."""
    patches = (eye_light(rgb, points, eye) for eye in range(len(EYE_CORNERS)))
    return [p for p in patches if p is not None]


def gap(points: np.ndarray) -> float:
    from liveavatar.render.lids import lid_ratios

    return float(np.mean(lid_ratios(points)))


def clip_blinks(path: Path) -> tuple[list[np.ndarray], int]:
    """One clip → the eye patches of its PER_CLIP most shut blinks, and how many blinks it has."""
    from liveavatar.landmarks.tracker import FaceTracker

    capture = cv2.VideoCapture(str(path))
    gaps, patches = [], []
    with FaceTracker("video", irises=True) as tracker:
        for _ in range(MAX_FRAMES):
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            found = tracker.track(rgb).landmarks
            gaps.append(np.nan if found is None else gap(found.points68))
            # every frame's patches are kept until the clip's median is known (~100 KB a frame)
            patches.append(None if found is None else eye_patches(rgb, found.points68))
    capture.release()
    g = np.array(gaps, np.float64)
    if len(g) < 30 or np.isnan(g).mean() > 0.3:
        return [], 0
    shut = np.flatnonzero(g < SHUT * np.nanmedian(g))
    if not len(shut):
        return [], 0
    blinks = np.split(shut, np.flatnonzero(np.diff(shut) > 3) + 1)
    deepest = sorted((int(b[np.argmin(g[b])]) for b in blinks), key=lambda i: g[i])[:PER_CLIP]
    return [p for i in deepest for p in patches[i]], len(blinks)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clips", type=Path, default=ROOT.parent / "shared" / "data" / "driving")
    parser.add_argument("--out", type=Path, default=ROOT / "liveavatar" / "assets" / "shut_lid.npz")
    args = parser.parse_args()
    if not args.clips.is_dir():
        print(f"{args.clips}: no such folder; give the talking-head clips with --clips", file=sys.stderr)
        return 2
    clips = sorted(p for p in args.clips.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.stem not in HELD_OUT)
    patches, used = [], {}
    for path in tqdm(clips, desc="clips", unit="clip"):
        found, blinks = clip_blinks(path)
        if found:
            patches += found
            used[path.name] = blinks
    if len(patches) < 20:
        print(f"only {len(patches)} shut eyes found in {args.clips}: too few for a template", file=sys.stderr)
        return 1
    median = np.median(np.stack(patches), axis=0)
    shading = median * ellipse_mask()
    shading = (shading + shading[:, ::-1]) / 2  # after the mask: its anti-aliased edge is not quite symmetric
    about = {"eyes": len(patches), "clips": used, "blur": BLUR, "shut": SHUT, "per_clip": PER_CLIP}
    np.savez_compressed(args.out, shading=shading.astype(np.float16), about=json.dumps(about))
    span = f"{shading.min():+.3f} … {shading.max():+.3f}"
    print(f"{args.out}: {len(patches)} shut eyes from {len(used)} clips; shading {span}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
