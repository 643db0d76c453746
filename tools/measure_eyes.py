"""Gaze and blinks in the pixels: held-out drivers whose eyes move, driving portraits through the live path's parts.

    python tools/measure_eyes.py --out docs/perf/gaze/after.json [--gaze-gain 2]
    PYTHONPATH=/tmp/base python tools/measure_eyes.py --out docs/perf/gaze/before.json   (another checkout's code:
        `git archive main | tar -x -C /tmp/base`, with /tmp/base/liveavatar/engines a link to /tmp/base/engines,
        since the editable install maps liveavatar.engines to this checkout's engines/)

For each portrait and clip: the Processor (mediapipe with irises, retargeting, smoothing) drives the bundled
warp model's frame graph on ONNX Runtime, frame by frame as the inference thread does, and the Composer makes
the 1280×720 output as the compose thread does (the portrait moved at full resolution, the lids closed there:
liveavatar/render/lids.py); the measured frame is that output's face region (the crop's square on it).
`--crop` measures the graph's 256-px composite instead (what this tool measured before the lids were drawn).
Driver frames and output frames are measured alike, by two trackers, with `liveavatar/training/eye_follow.py`
(what `liveavatar eval`'s cross-reenactment reports too): gaze r and range, eye-openness r, and the lid ratio
at the driver's closed frames, per pair after the neutral's capture. Here on 80 consecutive frames of each
clip (eval takes every second one), and with `--crop` on the graph's 256-px composite instead.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from liveavatar.training.eye_follow import MeshEyes, dlib_reading, eye_follow

DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
# Held-out clips (not in the bundled model's training set; split of docs/TRAINING.md) whose gaze moves:
# MANIFEST.tsv's iris_spread 0.44, 0.36. (fomm_vox_man_tuxedo, 0.38, and the blinking clip
# lp_blinkx2_man_hoodie_blinks.mp4 are left out by default for time: 2 CPU cores shared; --clips adds them.)
CLIPS = (
    "pdfgc_vox_id01333_blonde_woman_eyes.mp4",
    "hellomeme_tiktok_young_woman_glances.mp4",
)
PORTRAITS = (
    "photo_audrey_hepburn.jpg",
    "photo_elizabeth_olsen.jpg",
    "painting_van_gogh_self_portrait_1889.jpg",
    "painting_girl_with_a_pearl_earring.jpg",
)
SKIP = 10  # frames of the neutral's capture


OUTPUT_SIZE = (1280, 720)


def run_pair(
    portrait: Path, clip: Path, frames: int, checkpoint, engine, dlib_eyes, gaze_gain: float = 1.0, crop: bool = False
) -> dict:
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.capture import VideoFileSource
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.pipeline.stages import Composer, Processor

    composer = Composer(*OUTPUT_SIZE)
    avatar = build_avatar([portrait], checkpoint)
    warp = warp_avatar_of(avatar, checkpoint)
    psi = avatar.psi[None].astype(np.float32)
    processor = Processor(TrackingConfig(), checkpoint.config.image_size)
    if gaze_gain != 1.0:  # the expression panel's gaze gain (ExpressionControls, 0..2)
        from liveavatar.landmarks.controls import ExpressionControls

        processor.controls = ExpressionControls(gaze=gaze_gain)
    drivers, outputs = {"mediapipe": [], "dlib": []}, {"mediapipe": [], "dlib": []}
    mesh_driver, mesh_output = MeshEyes(), MeshEyes()
    source = VideoFileSource(clip, realtime=False)
    try:
        for i in range(frames):
            captured = source.read()
            if captured is None:
                break
            image = captured.frame.image
            work, _ = processor.process(image, None, i / source.fps, avatar, "relative")
            control = getattr(work, "control", None)  # 70×2 with irises; main before issue 21 had 68×2 points
            driven = (control if control is not None else work.points)[None]
            layers = engine.infer_layers(work.landmark_image[None], psi, warp, driven)
            face = layers.frames[0]
            if not crop:
                output = composer.compose(
                    face, avatar, Background(), False, False, layers, None, work.points, driven[0, 68:]
                )
                x0, y0, x1, y1 = composer.face_square(avatar, checkpoint.config.image_size)
                face = np.ascontiguousarray(output[y0:y1, x0:x1])
            d_mesh, o_mesh = mesh_driver(image), mesh_output(face)
            if i < SKIP:
                continue
            drivers["mediapipe"].append(d_mesh)
            outputs["mediapipe"].append(o_mesh)
            drivers["dlib"].append(dlib_eyes(image))
            outputs["dlib"].append(dlib_eyes(face))
    finally:
        source.close()
        processor.close()
        mesh_driver.close()
        mesh_output.close()
    row = {"portrait": portrait.name, "clip": clip.name, "irises": getattr(avatar, "irises", None) is not None}
    if getattr(avatar, "irises", None) is not None:
        row["irises_found"] = int(np.isfinite(avatar.irises).all(axis=1).sum())
    for tracker in ("mediapipe", "dlib"):
        row[tracker] = eye_follow(drivers[tracker], outputs[tracker])
    return row


def kind(name: str) -> str:
    return name.split("_", 1)[0]


def summary(rows: list[dict]) -> dict:
    """Medians per portrait kind and tracker; gaze over the gaze clips, blinks over pairs with closed frames."""
    out: dict = {}
    for k in sorted({kind(r["portrait"]) for r in rows}):
        for tracker in ("mediapipe", "dlib"):
            mine = [r for r in rows if kind(r["portrait"]) == k and r[tracker].get("frames", 0) >= 10]
            sel = [r[tracker] for r in mine]
            gaze = [r[tracker] for r in mine if "blinks" not in r["clip"]]

            def med(values):
                values = [v for v in values if v is not None]
                return float(np.median(values)) if values else None

            closed = [m for m in sel if m.get("closed_frames", 0) > 0]
            out[f"{k}/{tracker}"] = {
                "pairs": len(sel),
                "gaze_r": med([m["gaze_r"] for m in gaze]),
                "gaze_range": med([m["gaze_range"] for m in gaze]),
                "gaze_r_open": med([m.get("gaze_r_open") for m in gaze]),
                "eyes_r": med([m["eyes_r"] for m in sel]),
                "closed_pairs": len(closed),
                "driver_closed_ratio": med([m["driver_closed_ratio"] for m in closed]),
                "output_closed_ratio": med([m["output_closed_ratio"] for m in closed]),
                "closed_excess": med([m["output_closed_ratio"] - m["driver_closed_ratio"] for m in closed]),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--frames", type=int, default=80)
    parser.add_argument("--portraits", nargs="*", default=list(PORTRAITS))
    parser.add_argument("--clips", nargs="*", default=list(CLIPS))
    parser.add_argument("--gaze-gain", type=float, default=1.0, help="the expression controls' gaze gain (0..2)")
    parser.add_argument("--crop", action="store_true", help="measure the graph's 256-px composite, not the output")
    args = parser.parse_args()

    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    from liveavatar.training.identity import DlibLandmarks

    landmarks = DlibLandmarks()

    def dlib_eyes(image: np.ndarray):
        return dlib_reading(image, landmarks(image))

    rows = []
    for name in args.portraits:
        for clip in args.clips:
            rows.append(
                run_pair(
                    DATA / "portraits" / name,
                    DATA / "driving" / clip,
                    args.frames,
                    checkpoint,
                    engine,
                    dlib_eyes,
                    args.gaze_gain,
                    args.crop,
                )
            )
            print(json.dumps(rows[-1]), flush=True)
    engine.close()
    report = {"rows": rows, "summary": summary(rows)}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1))
    print(json.dumps(report["summary"], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
