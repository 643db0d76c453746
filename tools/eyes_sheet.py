"""Remakes docs/eyes.jpg: public-domain portraits posed by hand looking left, right, up, down and with the
eyes closed (issue 21), with the bundled model, through `pose`'s renderer at the portrait's own size. The
gaze columns show the portrait's own irises drawn where they are turned (liveavatar/render/eyeballs.py), the
closed column the lids drawn shut (liveavatar/render/lids.py), both at full resolution (docs/EXPRESSION.md).

    python tools/eyes_sheet.py [--out docs/eyes.jpg]

Per portrait (rows), a strip across both eyes: at rest | gaze-x −1 | gaze-x 1 | gaze-y −1 | gaze-y 1 | eyes 1.
No driver's frames, so no real person's face enters the sheet. Only portraits whose artwork is public domain
(MANIFEST.tsv) and Grace Hopper's photo that matplotlib ships are used.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PORTRAITS = ROOT.parent / "shared" / "data" / "portraits"
PUBLIC_DOMAIN = (
    "painting_van_gogh_self_portrait_1889.jpg",
    "painting_ducreux_self_portrait.jpg",
    "painting_courbet_desperate_man.jpg",
)
POSES = (
    ("at rest", {}),
    ("look left", {"gaze_x": -1.0}),
    ("look right", {"gaze_x": 1.0}),
    ("look up", {"gaze_y": -1.0}),
    ("look down", {"gaze_y": 1.0}),
    ("eyes closed", {"eyes": 1.0}),
)
EYES = slice(36, 48)  # of the 68 landmarks
TILE_W, TILE_H = 260, 110  # each strip, scaled to this


def portraits() -> list[Path]:
    import matplotlib.cbook

    return [PORTRAITS / name for name in PUBLIC_DOMAIN] + [
        Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    ]


def strips(path: Path, checkpoint, engine, part: slice = EYES, poses=POSES) -> tuple[list[np.ndarray], str]:
    """Per pose, the portrait posed so, cut around its landmarks `part` (the eyes; the mouth for
    tools/mouth_sheet.py) at the portrait's own size, scaled to a tile; and the row's label."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.pipeline.posing import PoseRenderer

    avatar = build_avatar([path], checkpoint)
    h, w = avatar.portrait.shape[:2]
    renderer = PoseRenderer(avatar, engine, w, h, ai_mark=False, warp=warp_avatar_of(avatar, checkpoint))
    _, transform, _ = renderer._composer._portrait_layout(avatar, avatar.crop.shape[0])
    around = transform.points_to_frame(avatar.landmarks[part])
    (x0, y0), (x1, y1) = around.min(0), around.max(0)
    pad = (x1 - x0) * 0.25
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half_w = (x1 - x0) / 2 + pad
    half_h = half_w * TILE_H / TILE_W
    box = (int(max(0, cx - half_w)), int(max(0, cy - half_h)), int(min(w, cx + half_w)), int(min(h, cy + half_h)))
    out = []
    for _, settings in poses:
        image = renderer.render(PoseSettings(**settings)).output
        cut = image[box[1] : box[3], box[0] : box[2]]
        out.append(cv2.resize(cut, (TILE_W, TILE_H), interpolation=cv2.INTER_AREA))
    if part != EYES:
        return out, path.stem[:34]
    found = int(np.isfinite(avatar.irises).all(axis=1).sum()) if avatar.irises is not None else 0
    return out, f"{path.stem[:34]} (irises found: {found}/2)"


def write_sheet(paths: list[Path], out: Path, part: slice = EYES, poses=POSES) -> None:
    """The sheet: a header naming the poses, then per portrait found a caption and its row of tiles."""
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    width = TILE_W * len(poses)
    header = np.full((24, width, 3), 255, np.uint8)
    for i, (text, _) in enumerate(poses):
        cv2.putText(header, text, (i * TILE_W + 8, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [header]
    for path in paths:
        if not path.is_file():
            continue
        tiles, label = strips(path, checkpoint, engine, part, poses)
        caption = np.full((20, width, 3), 255, np.uint8)
        cv2.putText(caption, label, (8, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
        rows += [caption, np.hstack(tiles)]
    engine.close()
    sheet = np.vstack(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {out} ({sheet.shape[1]}×{sheet.shape[0]})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "eyes.jpg")
    args = parser.parse_args()
    write_sheet(portraits(), args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
