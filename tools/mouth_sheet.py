"""Makes docs/drawn_mouth.jpg: public-domain portraits posed with the mouth opened by hand (`pose --mouth`), with
the bundled model through `pose`'s renderer at the portrait's own size. With no camera there is no driver's
mouth to lay inside the lips, so what shows there is the drawn one (liveavatar/render/drawn_mouth.py) where
the warp would stretch the portrait's own open mouth, the portrait's own inside where it would not, and a
smile's own teeth carried by its lips (docs/ARCHITECTURE.md, "A drawn mouth where there is no camera's").

    python tools/mouth_sheet.py [--out docs/drawn_mouth.jpg]
    python tools/mouth_sheet.py --cost docs/perf/drawn-mouth/cost.json   (what drawing costs, 1280×720)
    python tools/mouth_sheet.py --demo-fps docs/perf/drawn-mouth/demo-fps.json   (`demo` with and without it)

Per portrait (rows), a strip across the mouth: at rest | mouth 0.3 | mouth 0.6 | mouth 1 | smile 1 and mouth
0.6. The portraits are measure_mouth.py's sheet: public-domain works and photos (MANIFEST.tsv), Grace
Hopper's from matplotlib where the shared folder lacks it.
"""

from __future__ import annotations

import argparse
import json
import time
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


# small to close-up mouths; Audrey Hepburn and Obama smile with their teeth, which their lips then carry
COST_PORTRAITS = (
    "painting_mona_lisa.jpg",
    "photo_grace_hopper.jpg",
    "photo_audrey_hepburn.jpg",
    "photo_barack_obama.jpg",
)


def cost(out: Path, frames: int = 80) -> None:
    """Times draw_mouth in the Composer, `pose` at 1280×720 opening the mouth from 0.4 to 1 over `frames`
    frames, per portrait: median and max milliseconds, written to `out`; and, on every second frame, without
    the portrait's own teeth (drawn ones only), so the two medians come from the same run."""
    import numpy as np

    import liveavatar.pipeline.stages as stages
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    draw, times, plain = stages.draw_mouth, [], []

    def timed(*args):
        without = len(times) > len(plain)  # alternate: as shipped, then without the own teeth
        start = time.perf_counter()
        drawn = draw(*args[:4]) if without else draw(*args)
        (plain if without else times).append((time.perf_counter() - start) * 1000)
        return drawn

    stages.draw_mouth = timed
    report = {}
    for name in COST_PORTRAITS:
        avatar = build_avatar([PORTRAITS / name], checkpoint)
        renderer = PoseRenderer(avatar, engine, 1280, 720, ai_mark=False, warp=warp_avatar_of(avatar, checkpoint))
        times.clear()
        plain.clear()
        for i in range(frames):
            renderer.render(PoseSettings(mouth=0.4 + 0.6 * i / (frames - 1)))
        report[name] = {
            "frames": len(times),
            "median_ms": float(np.median(times)),
            "max_ms": float(np.max(times)),
            "without_own_teeth_median_ms": float(np.median(plain)),
        }
        print(name, report[name], flush=True)
    engine.close()
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


def demo_fps(out: Path, rounds: int = 3) -> None:
    """`liveavatar demo`'s throughput (its own "fps overall": every frame rendered offline, 200 of them) with
    the drawing and with it replaced by nothing, alternating, in one process; written to `out`."""
    import re

    import liveavatar.pipeline.stages as stages
    from liveavatar.commands.demo import default_portrait, render_demo
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    draw = stages.draw_mouth
    report: dict[str, list[float]] = {"without": [], "with": []}
    for round_ in range(rounds):
        for mode in report:
            stages.draw_mouth = draw if mode == "with" else (lambda *args, **kwargs: False)
            video = out.parent / f"demo-{mode}-{round_}.mp4"
            video.unlink(missing_ok=True)
            line = render_demo(checkpoint, default_portrait(), None, 200, video, "onnxruntime")
            video.unlink()
            report[mode].append(float(re.search(r"([\d.]+) fps overall", line).group(1)))  # type: ignore[union-attr]
            print(mode, line, flush=True)
    stages.draw_mouth = draw
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "drawn_mouth.jpg")
    parser.add_argument("--cost", type=Path, help="time the drawing instead and write this JSON report")
    parser.add_argument("--demo-fps", type=Path, help="time `demo` with and without it; write this JSON report")
    args = parser.parse_args()
    if args.cost is not None:
        cost(args.cost)
    elif args.demo_fps is not None:
        demo_fps(args.demo_fps)
    else:
        write_sheet([PORTRAITS / name for name in SHEET], args.out, slice(48, 68), POSES)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
