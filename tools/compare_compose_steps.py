"""What one step of the compose thread costs: the compose call with the step and without, interleaved.

    python tools/compare_compose_steps.py --out docs/perf/gaze/eyeballs-compose.json [PORTRAIT ...]
    python tools/compare_compose_steps.py --step creases --out docs/perf/creases/compose.json [PORTRAIT ...]

Per portrait (names in ../shared/data/portraits; default the Mona Lisa, Audrey Hepburn, Barack Obama): a clip
drives the bundled model through the Processor and the frame graph on ONNX Runtime once; then one 1280×720
Composer composes every frame twice, interleaved, with the step and without, three passes. Medians of the
compose call, ms. Steps:
  eyes     the irises drawn where the driven ones are (liveavatar/render/eyeballs.py) against the spline's
           eyes; the glances clip (its gaze moves)
  creases  the driver's creases (liveavatar/render/creases.py) against none, the driver's mouth laid in both;
           a talking clip (lp_d10, as the live runs in docs/PERFORMANCE.md)
  drawn    a smiling portrait's mouth drawn over a soft driver's (liveavatar/render/mouth_inside.py) against
           the driver's mouth laid whatever its softness; the glances clip (its mouth is soft); run it on
           portraits whose mouths are open at rest (Obama, Audrey Hepburn)
  lid-edges  the closing lids' edges drawn from sub-samples (liveavatar/render/lids.py, smooth_lid_edges)
           against once per pixel; the blinking clip (medians over all its frames and over those where an eye
           closes)
  lash-colour  the lashes' colour laid where a shut eye's lids meet (liveavatar/render/lids.py,
           shade_lash_line) against none; the blinking clip (medians over all its frames and over those where
           an eye shuts, closing past lids.LASH_FROM)
  shut-light  a real shut eye's light laid on shut lids (liveavatar/render/shut_lid.py) against none; the
           blinking clip (medians over all its frames and over those where it is laid, closing past
           shut_lid.LIGHT_FROM)
  driver-lid  the driver's own shut lid's light at that frame (liveavatar/render/shut_lid.py, driver_lid_light)
           against the template's; the blinking clip (medians as shut-light's)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
CLIPS = {
    "eyes": "hellomeme_tiktok_young_woman_glances.mp4",
    "creases": "lp_d10_woman_talking.mp4",
    "drawn": "hellomeme_tiktok_young_woman_glances.mp4",
    "lid-edges": "lp_blinkx2_man_hoodie_blinks.mp4",
    "lash-colour": "lp_blinkx2_man_hoodie_blinks.mp4",
    "shut-light": "lp_blinkx2_man_hoodie_blinks.mp4",
    "driver-lid": "lp_blinkx2_man_hoodie_blinks.mp4",
}
PORTRAITS = ("painting_mona_lisa.jpg", "photo_audrey_hepburn.jpg", "photo_barack_obama.jpg")
FRAMES, PASSES = 80, 3


def compare(name: str, checkpoint, engine, step: str) -> dict:
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.pipeline.stages import Composer, Processor
    from liveavatar.render import full_resolution, mouth_inside
    from liveavatar.render.driver_mouth import DriverFrame
    from liveavatar.render.lids import LASH_FROM, MIN_CLOSING, lid_ratios, openness
    from liveavatar.render.shut_lid import LIGHT_FROM, DriverLids

    avatar = build_avatar([DATA / "portraits" / name], checkpoint)
    warp, psi = warp_avatar_of(avatar, checkpoint), avatar.psi[None].astype(np.float32)
    capture, processor = cv2.VideoCapture(str(DATA / "driving" / CLIPS[step])), Processor(TrackingConfig(), 256)
    work = []
    for i in range(FRAMES):
        ok, frame = capture.read()
        if not ok:
            break
        rgb = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        driven, _ = processor.process(rgb, None, i / 30, avatar, "relative")
        layers = engine.infer_layers(driven.landmark_image[None], psi, warp, driven.control[None])
        now = None if driven.driver_now is None else DriverFrame(rgb, driven.driver_now)
        work.append((driven, layers, now))
    processor.close()
    times: dict[str, list[float]] = {step: [], f"no-{step}": []}
    closing: list[bool] = []  # per composed frame: an eye closes (the lids draw something)
    # the closing from which the step draws: the lids from any, the lashes' colour and the light near shut
    threshold = {"lash-colour": LASH_FROM, "shut-light": LIGHT_FROM, "driver-lid": LIGHT_FROM}.get(step, MIN_CLOSING)
    composers = {variant: Composer(1280, 720) for variant in times}  # each keeps its own mouth's choice
    for _ in range(PASSES):
        for i, (driven, layers, now) in enumerate(work):
            if step in ("creases", "drawn", "driver-lid") and (now is None or driven.neutral_frame is None):
                continue  # no camera frame or no neutral yet: nothing to compare
            # each variant first on every other frame: the second composed a frame's same data warm, 0.8 ms
            # faster on Audrey Hepburn's 2048-pixel portrait with nothing to tell the variants apart
            for variant in list(times)[:: 1 if i % 2 else -1]:
                on = variant == step
                irises = driven.control[68:] if on or step != "eyes" else None
                mouth = now if step in ("creases", "drawn") else None
                change = (driven.neutral_frame, now) if on and step == "creases" else None
                lids = None
                if on and step == "driver-lid":
                    lids = DriverLids(now, lid_ratios(driven.neutral_frame.points))
                # the driver's mouth whatever its softness: the drawing's threshold out of reach
                soft, supersample = mouth_inside.SOFT, full_resolution.EDGE_SUPERSAMPLE
                shade, light = full_resolution.shade_lash_line, full_resolution.shade_shut_lid
                known = mouth_inside.KNOWN_READINGS
                if step == "drawn" and not on:
                    mouth_inside.SOFT = (float("inf"), float("inf"))
                    mouth_inside.KNOWN_READINGS = 0  # the driver's mouth from the first frame
                if step == "lid-edges" and not on:
                    full_resolution.EDGE_SUPERSAMPLE = 1  # one sample a pixel: nothing redrawn
                if step == "lash-colour" and not on:
                    full_resolution.shade_lash_line = _nothing
                if step == "shut-light" and not on:
                    full_resolution.shade_shut_lid = _nothing
                start = time.perf_counter()
                composers[variant].compose(
                    layers.frames[0],
                    avatar,
                    Background(),
                    False,
                    False,
                    layers,
                    mouth,
                    driven.points,
                    irises,
                    change,
                    1.0,
                    lids,
                )
                times[variant].append(time.perf_counter() - start)
                mouth_inside.SOFT, full_resolution.EDGE_SUPERSAMPLE = soft, supersample
                mouth_inside.KNOWN_READINGS = known
                full_resolution.shade_lash_line, full_resolution.shade_shut_lid = shade, light
            closing.append(bool((1 - openness(driven.points, avatar.landmarks) >= threshold).any()))
    medians = {k: float(np.median(v) * 1e3) for k, v in times.items()}
    shut = np.array(closing)
    closing_medians = {k: float(np.median(np.array(v)[shut]) * 1e3) for k, v in times.items() if shut.any()}
    return {
        "clip": CLIPS[step],
        "compose_median_ms": medians,
        "extra_ms": medians[step] - medians[f"no-{step}"],
        "frames": len(times[step]),
        # the frames where the step draws (1 − openness ≥ threshold), and the medians over them
        "closing_frames": int(shut.sum()),
        "compose_median_ms_closing": closing_medians,
    }


def _nothing(*args) -> None:
    """shade_lash_line's or shade_shut_lid's stand-in without the step: nothing laid."""


def main() -> int:
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("portraits", nargs="*", default=list(PORTRAITS))
    parser.add_argument("--step", choices=sorted(CLIPS), default="eyes")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    report = {}
    for name in args.portraits:
        report[name] = compare(name, checkpoint, engine, args.step)
        ms = report[name]["compose_median_ms"]
        print(f"{name}: {ms['no-' + args.step]:.2f} → {ms[args.step]:.2f} ms (+{report[name]['extra_ms']:.2f})")
    engine.close()
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
