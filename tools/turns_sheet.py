"""Remakes docs/turns.jpg: public-domain portraits driven by a driver who turns his head far, without and with
the turn limit (liveavatar/landmarks/turns.py; docs/EXPRESSION.md, "Head turns a photo can show").

    python tools/turns_sheet.py [--out docs/turns.jpg]

The live path's own parts (mediapipe, the Processor, the frame graph on ONNX Runtime, the Composer at 1280×720)
drive each portrait with metrical_tracker_wojtek; per portrait two rows of the output's face square at the
frames in FRAMES: the turn unlimited (the retargeter's limit_turn replaced by no limit), then as shipped. Only
the portraits' pixels are in the sheet, never the driver's (his mouth is laid into the portraits' own colours).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import measure_mouth as mm  # tools/ is on the path when run as a script
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CLIP = "metrical_tracker_wojtek"
# the neutral; turned 21 and 44 degrees one way; 17 the other way; nodding down 17 degrees while turned 12
FRAMES = (4, 124, 172, 280, 352)
LABELS = ("at rest", "yaw -21", "yaw -44", "yaw +17", "pitch 17")
PORTRAITS = (  # public-domain artworks, and Grace Hopper's photo that matplotlib ships (facing the camera)
    "photo_grace_hopper.jpg",
    "painting_mona_lisa.jpg",
    "painting_girl_with_a_pearl_earring.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
)
TILE = 180


def faces(model: mm.Model, portrait: Path, frames: list[np.ndarray], fps: float, limited: bool) -> list[np.ndarray]:
    """The output's face square (TILE px) at FRAMES, the live path driving `portrait` with `frames`."""
    import liveavatar.landmarks.retarget as retarget
    from liveavatar.pipeline.stages import Composer

    avatar, warp = model.avatar(portrait)
    keep = retarget.limit_turn
    if not limited:
        retarget.limit_turn = lambda rotation, *_: rotation  # type: ignore[assignment]
    try:
        driven = model.drive(avatar, frames, fps)
    finally:
        retarget.limit_turn = keep
    composer = Composer(*mm.OUTPUT_SIZE)
    x0, y0, x1, y1 = composer.face_square(avatar, model.size)
    out = []
    for i in FRAMES:
        image = model.render(composer, avatar, warp, driven[i], frames[i], "mouth")
        out.append(cv2.resize(image[y0:y1, x0:x1], (TILE, TILE), interpolation=cv2.INTER_AREA))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "turns.jpg")
    args = ap.parse_args()
    path = mm.find_clip(CLIP)
    frames = mm.read_frames(path, max(FRAMES) + 1)
    fps = mm.clip_fps(path)
    model = mm.Model()
    header = np.full((28, TILE * (len(FRAMES) + 1), 3), 255, np.uint8)
    for k, label in enumerate(LABELS):
        cv2.putText(header, label, ((k + 1) * TILE + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header]
    for name in PORTRAITS:
        for limited in (False, True):
            caption = np.full((TILE, TILE, 3), 255, np.uint8)
            texts = (Path(name).stem[:20], "shipped: limited" if limited else "before: unlimited")
            for line, text in enumerate(texts):
                at = (6, TILE // 2 - 10 + 22 * line)
                cv2.putText(caption, text, at, cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
            rows.append(np.hstack([caption, *faces(model, mm.SHARED / "portraits" / name, frames, fps, limited)]))
    sheet = np.vstack(rows)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}×{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
