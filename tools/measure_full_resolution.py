"""How sharp and how faithful the output's face is, against the portrait it comes from (issue 19's measures).

    python tools/measure_full_resolution.py rest   [--portraits DIR] [--out FILE.json]
    python tools/measure_full_resolution.py driven [--portraits DIR] [--clip CLIP] [--frames N] [--out FILE.json]

rest:   `liveavatar pose PORTRAIT -o rest.png --no-ai-mark` on every portrait (nothing moved: the output should
        be the portrait), then inside dlib's face box (found on the portrait resized to the output's size):
        sharpness = variance of the Laplacian of the output's grey face / the portrait's, and face PSNR (dB).
driven: the live path's parts (tracker, retargeting, the engine, the Composer at 1280×720) driven by a clip,
        and the same sharpness ratio over the face outside the mouth (the portrait's mouth box, grown to
        where a talking mouth reaches), median over the frames.
It runs the `liveavatar` it imports, so running it with another checkout's interpreter measures that code
(docs/PERFORMANCE.md, "Full resolution", compares the commit before the change with it, side by side).
Needs dlib (`pip install -e '.[eval]'`) and ../shared/data.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
DRIVEN_PORTRAITS = (
    "painting_mona_lisa.jpg",
    "painting_girl_with_a_pearl_earring.jpg",
    "photo_barack_obama.jpg",
    "photo_audrey_hepburn.jpg",
    "statue_marble_head.jpg",
)
DRIVEN_CLIP = "dreamtalk_mead_w011_woman.mp4"  # held out of training (docs/TRAINING.md)
OUTPUT_SIZE = (1280, 720)
CLI = "import sys; from liveavatar.cli import main; sys.exit(main())"  # this interpreter's liveavatar


def face_box(image_rgb: np.ndarray) -> tuple[int, int, int, int] | None:
    """dlib's frontal face box (x0, y0, x1, y1) of the largest face, clipped to the image, or None."""
    import dlib

    detector = face_box.__dict__.setdefault("detector", dlib.get_frontal_face_detector())
    for upsample in (1, 2):
        faces = detector(image_rgb, upsample)
        if faces:
            f = max(faces, key=lambda r: r.area())
            h, w = image_rgb.shape[:2]
            return max(0, f.left()), max(0, f.top()), min(w, f.right()), min(h, f.bottom())
    return None


def mouth_box(image_rgb: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
    """Where a talking mouth reaches in a face box: its lower middle (dlib's 68 points would need the shape
    model; the box's proportions are the same for every frontal face dlib finds)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    return x0 + int(0.2 * w), y0 + int(0.55 * h), x1 - int(0.2 * w), min(image_rgb.shape[0], y1 + int(0.25 * h))


def sharpness(grey: np.ndarray, keep: np.ndarray | None = None) -> float:
    """Variance of the Laplacian (float64 of a uint8 grey image), over the pixels `keep` marks."""
    lap = cv2.Laplacian(grey.astype(np.float64), cv2.CV_64F)
    return float(lap[keep].var() if keep is not None else lap.var())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255.0**2 / mse)


def read_rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def grey(image_rgb: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image_rgb, cv2.COLOR_RGB2GRAY)


def rest(portraits: list[Path]) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in portraits:
            out = Path(tmp) / f"{path.stem}.png"
            done = subprocess.run(
                [sys.executable, "-c", CLI, "pose", str(path), "-o", str(out), "--no-ai-mark"],
                capture_output=True,
                text=True,
            )
            if done.returncode != 0:
                rows.append({"portrait": path.name, "error": (done.stderr.strip().splitlines() or ["?"])[-1]})
                continue
            output = read_rgb(out)
            h, w = output.shape[:2]
            fitted = _fitted_portrait(read_rgb(path), (w, h))
            box = face_box(fitted)
            if box is None:
                rows.append({"portrait": path.name, "error": "dlib finds no face in the portrait"})
                continue
            bx0, by0, bx1, by1 = box
            a, b = output[by0:by1, bx0:bx1], fitted[by0:by1, bx0:bx1]
            rows.append(
                {
                    "portrait": path.name,
                    "output_size": [w, h],
                    "face_box_px": bx1 - bx0,
                    "sharpness_ratio": sharpness(grey(a)) / max(sharpness(grey(b)), 1e-9),
                    "face_psnr_db": psnr(a, b),
                }
            )
            print(json.dumps(rows[-1]), flush=True)
    return rows


def driven(portraits: list[Path], clip: Path, frames: int) -> list[dict]:
    """The live path's parts, frame by frame, as the inference thread runs them."""
    from liveavatar.avatar import warp_avatar_of

    try:
        from liveavatar.engines.embedder import build_avatar
    except ImportError:  # the code before issue 23 (measured side by side): the core's own
        from liveavatar.avatar import build_avatar
    from liveavatar.capture import VideoFileSource
    from liveavatar.engines.registry import create_engine
    from liveavatar.live.spec import TrackingConfig
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.stages import Composer, Processor

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    engine = create_engine("onnxruntime", checkpoint).engine
    size = checkpoint.config.image_size
    rows = []
    for path in portraits:
        avatar = build_avatar([path], checkpoint)
        warp = warp_avatar_of(avatar, checkpoint)
        psi = avatar.psi[None].astype(np.float32)
        composer = Composer(*OUTPUT_SIZE)
        processor = Processor(TrackingConfig(), size)
        fitted = _fitted_portrait(avatar.portrait, OUTPUT_SIZE)
        box = face_box(fitted)
        if box is None:
            rows.append({"portrait": path.name, "error": "dlib finds no face in the portrait"})
            continue
        bx0, by0, bx1, by1 = box
        mx0, my0, mx1, my1 = mouth_box(fitted, box)
        keep = np.ones((by1 - by0, bx1 - bx0), bool)
        keep[my0 - by0 : my1 - by0, mx0 - bx0 : mx1 - bx0] = False
        reference = sharpness(grey(fitted[by0:by1, bx0:bx1]), keep)
        still = render(engine, composer, avatar, warp, psi, warp.source, size)  # its own rest, this code
        own_rest = sharpness(grey(still[by0:by1, bx0:bx1]), keep)
        ratios, to_rest = [], []
        source = VideoFileSource(clip, realtime=False)
        try:
            for i in range(frames):
                captured = source.read()
                if captured is None:
                    break
                work, _ = processor.process(captured.frame.image, None, i / source.fps, avatar, "relative")
                output = render(engine, composer, avatar, warp, psi, work.control, size)
                if i >= 10:  # past the neutral's capture
                    value = sharpness(grey(output[by0:by1, bx0:bx1]), keep)
                    ratios.append(value / max(reference, 1e-9))
                    to_rest.append(value / max(own_rest, 1e-9))
        finally:
            source.close()
            processor.close()
        rows.append(
            {
                "portrait": path.name,
                "frames": len(ratios),
                "sharpness_outside_mouth_median": float(np.median(ratios)),
                "sharpness_outside_mouth_min": float(np.min(ratios)),
                "sharpness_vs_own_rest_median": float(np.median(to_rest)),
            }
        )
        print(json.dumps(rows[-1]), flush=True)
    engine.close()
    return rows


def render(engine, composer, avatar, warp, psi: np.ndarray, points: np.ndarray, size: int) -> np.ndarray:
    """One output frame (H×W×3 uint8 RGB, no AI mark) for driven control points (70×2 crop pixels: the
    landmark image is drawn from the first 68), as the
    inference thread makes it: through the layers where the engine has them, else (the code before full
    resolution) the crop's composite scaled back into the frame."""
    from liveavatar.live.spec import Background
    from liveavatar.render.rasterize import rasterize_landmarks

    image = rasterize_landmarks(points[:68], size)[None]
    driven = np.asarray(points, np.float32)[None]
    if hasattr(engine, "infer_layers"):
        layers = engine.infer_layers(image, psi, warp, driven)
        return composer.compose(layers.frames[0], avatar, Background(), False, False, layers)
    return composer.compose(engine.infer(image, psi, warp, driven)[0], avatar, Background(), False, False)


def _fitted_portrait(portrait: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The portrait fitted inside an output of `size` (W, H), dark bars where aspects differ, as the Composer
    lays it out."""
    w, h = size
    ph, pw = portrait.shape[:2]
    scale = min(w / pw, h / ph)
    fw, fh = max(1, round(pw * scale)), max(1, round(ph * scale))
    out = np.full((h, w, 3), 20, np.uint8)
    x0, y0 = (w - fw) // 2, (h - fh) // 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y0 : y0 + fh, x0 : x0 + fw] = cv2.resize(portrait, (fw, fh), interpolation=interpolation)
    return out


def summary(rows: list[dict], key: str) -> dict:
    values = [r[key] for r in rows if key in r]
    return {"n": len(values), "median": float(np.median(values)), "min": float(np.min(values))} if values else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("rest", "driven"))
    parser.add_argument("--portraits", type=Path, default=SHARED / "portraits")
    parser.add_argument("--clip", type=Path, default=SHARED / "driving" / DRIVEN_CLIP)
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if not args.portraits.is_dir():
        print(f"no portraits at {args.portraits} (../shared/data is needed)", file=sys.stderr)
        return 2
    if args.what == "rest":
        rows = rest(sorted(p for p in args.portraits.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")))
        report = {"rows": rows, "sharpness": summary(rows, "sharpness_ratio"), "psnr": summary(rows, "face_psnr_db")}
    else:
        rows = driven([args.portraits / name for name in DRIVEN_PORTRAITS], args.clip, args.frames)
        report = {
            "rows": rows,
            "sharpness": summary(rows, "sharpness_outside_mouth_median"),
            "sharpness_vs_own_rest": summary(rows, "sharpness_vs_own_rest_median"),
        }
    print(json.dumps({k: v for k, v in report.items() if k != "rows"}, indent=1))
    if args.out:
        args.out.write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
