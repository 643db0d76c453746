"""Makes docs/drawn_mouth.jpg: public-domain portraits posed with the mouth opened by hand (`pose --mouth`), with
the bundled model through `pose`'s renderer at the portrait's own size. With no camera there is no driver's
mouth to lay inside the lips, so what shows there is the drawn one (liveavatar/render/drawn_mouth.py) where
the warp would stretch the portrait's own open mouth, and the portrait's own inside where it would not
(docs/ARCHITECTURE.md, "A drawn mouth where there is no camera's").

    python tools/mouth_sheet.py [--out docs/drawn_mouth.jpg]

Per portrait (rows), a strip across the mouth: at rest | mouth 0.3 | mouth 0.6 | mouth 1 | smile 1 and mouth
0.6. The portraits are measure_mouth.py's sheet: public-domain works and photos (MANIFEST.tsv), Grace
Hopper's from matplotlib where the shared folder lacks it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from eyes_sheet import PORTRAITS, ROOT, write_sheet
from measure_mouth import SHEET

POSES = (
    ("at rest", {}),
    ("mouth 0.3", {"mouth": 0.3}),
    ("mouth 0.6", {"mouth": 0.6}),
    ("mouth 1", {"mouth": 1.0}),
    ("smile 1, mouth 0.6", {"smile": 1.0, "mouth": 0.6}),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "drawn_mouth.jpg")
    args = parser.parse_args()
    write_sheet([PORTRAITS / name for name in SHEET], args.out, slice(48, 68), POSES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
