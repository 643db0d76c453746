"""Makes docs/soft_mouth.jpg: public-domain smiles driven live by a soft talking clip and a sharp one, the
driver's mouth laid whatever its softness beside what ships (liveavatar/render/mouth_inside.py: over a soft
driver's mouth a smile's own teeth stay and the rest is drawn).

    python tools/soft_mouth_sheet.py [--out docs/soft_mouth.jpg]

Per portrait and clip (rows), the driver's 4 widest-mouth frames after the neutral's capture, each a pair of
strips across the mouth: the driver's mouth laid | as shipped. Through the live path's own parts (mediapipe,
the Processor, the bundled frame graph on ONNX Runtime, a 1280×720 Composer per variant, each over every frame
so the running softness is the live one). The portraits are public domain (MANIFEST.tsv: a NASA photo, a
painting); the driver frames themselves stay out of the sheet.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
PORTRAITS = ("photo_eileen_collins_astronaut.png", "painting_ducreux_self_portrait.jpg")
CLIPS = ("hellomeme_tiktok_young_woman_glances.mp4", "lp_d0_man_greenscreen.mp4")  # soft, sharp
FRAMES, SKIP, WIDEST = 100, 12, 4
TILE = (200, 120)  # one strip, width × height


def rows_for(portrait: str, clip: str, checkpoint, engine) -> tuple[str, np.ndarray]:
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.capture import VideoFileSource
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.pipeline.stages import Composer, Processor, compose_frame, infer_frame
    from liveavatar.render import mouth_inside
    from liveavatar.render.driver_mouth import opening

    avatar = build_avatar([DATA / "portraits" / portrait], checkpoint)
    warp, psi = warp_avatar_of(avatar, checkpoint), avatar.psi[None].astype(np.float32)
    processor = Processor(TrackingConfig(), checkpoint.config.image_size)
    composers = {"laid": Composer(1280, 720), "ships": Composer(1280, 720)}
    source = VideoFileSource(DATA / "driving" / clip, realtime=False)
    seen = []  # (driver's opening, the two strips)
    shipped, known = mouth_inside.SOFT, mouth_inside.KNOWN_READINGS
    try:
        for i in range(FRAMES):
            capture = source.read()
            if capture is None:
                break
            image = capture.frame.image
            driven, _ = processor.process(image, None, i / 30, avatar, "relative")
            face, layers = infer_frame(engine, psi, warp, driven)
            strips = []
            for variant, composer in composers.items():
                mouth_inside.SOFT = (float("inf"),) * 2 if variant == "laid" else shipped
                mouth_inside.KNOWN_READINGS = 0 if variant == "laid" else known  # laid from the first frame
                out = compose_frame(composer, face, avatar, Background(), False, False, layers, driven, image)
                x0, y0, x1, y1 = composer.face_square(avatar, checkpoint.config.image_size)
                side = x1 - x0
                crop = out[y0 + int(0.58 * side) : y0 + int(0.85 * side), x0 + int(0.3 * side) : x1 - int(0.3 * side)]
                strips.append(cv2.resize(crop, TILE, interpolation=cv2.INTER_AREA))
            if i >= SKIP and driven.driver_now is not None:
                seen.append((opening(driven.driver_now), i, strips))
    finally:
        mouth_inside.SOFT, mouth_inside.KNOWN_READINGS = shipped, known
        source.close()
        processor.close()
    widest = sorted(sorted(seen, key=lambda item: -item[0])[:WIDEST], key=lambda item: item[1])
    row = np.hstack([np.hstack([*strips, np.full((TILE[1], 6, 3), 255, np.uint8)]) for _, _, strips in widest])
    return f"{portrait} driven by {clip}: the driver's mouth laid | as shipped, at its {WIDEST} widest", row


def main() -> int:
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "soft_mouth.jpg")
    args = parser.parse_args()
    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    parts = []
    for portrait in PORTRAITS:
        for clip in CLIPS:
            label, row = rows_for(portrait, clip, checkpoint, engine)
            caption = np.full((20, row.shape[1], 3), 255, np.uint8)
            cv2.putText(caption, label, (8, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
            parts += [caption, row]
    engine.close()
    width = max(part.shape[1] for part in parts)
    sheet = np.vstack([np.pad(p, ((0, 0), (0, width - p.shape[1]), (0, 0)), constant_values=255) for p in parts])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({sheet.shape[1]}×{sheet.shape[0]})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
