"""Remakes docs/forehead.jpg: the driver's creases above the brows (liveavatar/render/creases.py), a frown's
lines and a raised brow's furrows, on public-domain portraits, through the live path's own parts.

    python tools/forehead_sheet.py [--out docs/forehead.jpg]

Per portrait (columns), the upper face at two drivers' frames whose brows moved most since the neutral's
capture (brow_motion): lp_d8 frowning, Conan O'Brien raising his brows. Rows: each frame without the creases
(`--no-creases`), then with them. Only the outputs are shown: driver frames of real people stay out of the repo.
Needs ../shared/data.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from measure_mouth import OUTPUT_SIZE, ROOT, SHARED, SHEET, Model, crop_to_output, find_clip, read_frames
from tqdm import tqdm

CLIPS = (("lp_d8_bearded_man_expressions", "a frown"), ("fsgan_conan_obrien", "raised brows"))
FRAMES = 150
TILE = (240, 150)  # each crop, brows to the nose's tip and the forehead above, scaled to this


def upper_face(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """The output's forehead, brows and eyes around the driven 68 points (output pixels), at TILE's aspect:
    1.1 face widths across, over half of it above the brows."""
    width = 1.1 * float(np.ptp(points[:, 0]))
    height = width * TILE[1] / TILE[0]
    x0, y0 = int(points[:, 0].mean() - width / 2), int(points[17:27, 1].mean() - 0.55 * height)
    h, w = image.shape[:2]
    crop = image[max(0, y0) : min(h, y0 + int(height)), max(0, x0) : min(w, x0 + int(width))]
    return cv2.resize(crop, TILE, interpolation=cv2.INTER_AREA)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "forehead.jpg")
    args = parser.parse_args()
    if not (SHARED / "MANIFEST.tsv").is_file():
        print(f"{SHARED} is absent: the sheet needs the shared clips and portraits", file=sys.stderr)
        return 2
    from liveavatar.pipeline.stages import Composer
    from liveavatar.render.creases import brow_motion

    model = Model()
    clips = [(read_frames(find_clip(stem), FRAMES), what) for stem, what in CLIPS]
    columns = []
    for name in tqdm(SHEET, desc="portraits", unit="portrait"):
        avatar, warp = model.avatar(SHARED / "portraits" / name)
        column = []
        for frames, _ in clips:
            drives = model.drive(avatar, frames)
            moved = [
                brow_motion(d.driver_now, d.neutral_frame.points)
                if d.driver_now is not None and d.neutral_frame is not None
                else -1.0
                for d in drives
            ]
            k = int(np.argmax(moved))
            for variant in ("mouth", "creases"):  # the driver's mouth in both; the creases in the second
                composer = Composer(*OUTPUT_SIZE)
                image = model.render(composer, avatar, warp, drives[k], frames[k], variant)
                grid = crop_to_output(composer)
                column.append(upper_face(image, drives[k].points @ grid[:, :2].T + grid[:, 2]))
        columns.append(np.vstack(column))
    model.engine.close()
    sheet = np.hstack(columns)
    cv2.imwrite(str(args.out), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 88])
    rows = ", ".join(f"{what} without, with the creases" for _, what in clips)
    print(f"wrote {args.out}: rows {rows}; columns {', '.join(SHEET)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
