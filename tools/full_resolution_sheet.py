"""Remakes docs/full_resolution.jpg: public-domain portraits' faces at 1:1 pixels, before and after the
full-resolution output (issue 19), with the bundled model.

    python tools/full_resolution_sheet.py [--out docs/full_resolution.jpg]

Per portrait (rows), the face at the portrait's own size: the portrait | the 256-px crop's composite scaled
back up (the chain before) | now, at rest | now, posed by hand (mouth open, head turned; no driver's frames,
so no real person's face enters the sheet). Only portraits whose artwork is public domain (MANIFEST.tsv) and
Grace Hopper's photo that matplotlib ships are used.
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
TILE = 300  # px of each face tile (the face box at 1:1, cut or padded to this)


def portraits() -> list[Path]:
    import matplotlib.cbook

    return [PORTRAITS / name for name in PUBLIC_DOMAIN] + [
        Path(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    ]


def tiles(path: Path, checkpoint, engine) -> list[np.ndarray]:
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.live.spec import Background
    from liveavatar.pipeline.posing import PoseRenderer

    avatar = build_avatar([path], checkpoint)
    h, w = avatar.portrait.shape[:2]
    renderer = PoseRenderer(avatar, engine, w, h, ai_mark=False, warp=warp_avatar_of(avatar, checkpoint))
    rest = renderer.render(PoseSettings())
    posed = renderer.render(PoseSettings(yaw=8.0, mouth=0.6, smile=0.3))
    composer = renderer._composer
    before = composer.compose(rest.face, avatar, Background(), False, False)  # no layers: the crop scaled up
    _, transform, _ = composer._portrait_layout(avatar, avatar.crop.shape[0])
    centre = transform.points_to_frame(avatar.landmarks[27:36]).mean(0)  # the nose, at the portrait's size
    x0 = int(np.clip(centre[0] - TILE / 2, 0, max(0, w - TILE)))
    y0 = int(np.clip(centre[1] - TILE / 2, 0, max(0, h - TILE)))

    def cut(image: np.ndarray) -> np.ndarray:
        tile = np.full((TILE, TILE, 3), 255, np.uint8)
        part = image[y0 : y0 + TILE, x0 : x0 + TILE]
        tile[: part.shape[0], : part.shape[1]] = part
        return tile

    return [cut(avatar.portrait), cut(before), cut(rest.output), cut(posed.output)]


def main() -> int:
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "full_resolution.jpg")
    args = parser.parse_args()
    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    head = ["portrait", "before: crop scaled up", "now, at rest", "now, posed"]
    rows = [tiles(p, checkpoint, engine) for p in portraits() if p.is_file()]
    engine.close()
    header = np.full((28, TILE * len(head), 3), 255, np.uint8)
    for i, text in enumerate(head):
        cv2.putText(header, text, (i * TILE + 8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
    sheet = np.vstack([header] + [np.hstack(row) for row in rows])
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    print(f"wrote {args.out} ({len(rows)} portraits)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
