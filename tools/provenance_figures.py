"""The watermark's figures in docs/PROVENANCE.md: detection after what a call or an upload does to a video,
false positives on real footage, invisibility (PSNR) and cost.

    python tools/provenance_figures.py detect [--portraits 5] [--seconds 12] [--json out.json]
    python tools/provenance_figures.py false-positives [--windows 3] [--reencode-seconds 3] [--json out.json]
    python tools/provenance_figures.py cost [--frames 200]
    python tools/provenance_figures.py limits [--seconds 4]

detect: renders each portrait (../shared/data/portraits, every 7th file name) driven by the built-in
scripted performance through the live runner (bundled model, ONNX Runtime, 1280×720, every frame), takes
each output frame before and after the watermark (the tool marks the Composer's unmarked frame with the
same embed_watermark), and counts the 1-second windows in which the mark is found after:
  h264-360p    downscale to 640×360, H.264 (libx264 veryfast) at 500 kbit/s
  face-crop    a centre crop of the face region (the centre H/2×H/2 square), H.264 at 500 kbit/s
  360p+crop    the h264-360p video cropped again to its centre 180×180 (no second encode)
  360p+colour  the h264-360p video with gamma 0.8, contrast ×1.15, brightness +12, saturation ×1.3
and the same paths on the unmarked frames (which must score below the threshold), plus PSNR marked vs
unmarked. false-positives: every clip in ../shared/data/driving (its first --windows 1-second windows,
crops searched) and a re-encode of its first --reencode-seconds (640×360-fitted, H.264 500
kbit/s), and every portrait (as is, as JPEG q70, fitted in 640×360). cost: embed_watermark on 1280×720
output frames: the Composer with and without it, interleaved frame by frame, medians. limits: what
the mark does not survive (lower bitrates and sizes, VP8, small crops, stretch, mirror, rotation, blur).
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from liveavatar.provenance.detect import THRESHOLD, WindowDetector, detect_image
from liveavatar.provenance.watermark import embed_watermark

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SIZE = (1280, 720)
RATE = 500_000


class H264:
    """An in-memory H.264 MP4 (or codec="libvpx": VP8 in WebM) at rate bit/s, size (w, h); frames H×W×3
    uint8 RGB."""

    def __init__(self, size: tuple[int, int], fps: int, rate: int = RATE, codec: str = "libx264") -> None:
        import av

        self.buf = io.BytesIO()
        self.container = av.open(self.buf, "w", format="mp4" if codec == "libx264" else "webm")
        self.stream = self.container.add_stream(codec, rate=fps)
        self.stream.width, self.stream.height = size
        self.stream.pix_fmt = "yuv420p"
        self.stream.bit_rate = rate
        self.stream.options = (
            {"preset": "veryfast"} if codec == "libx264" else {"deadline": "realtime", "cpu-used": "8"}
        )

    def add(self, image: np.ndarray) -> None:
        import av

        for packet in self.stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")):
            self.container.mux(packet)

    def frames(self) -> list[np.ndarray]:
        import av

        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()
        self.buf.seek(0)
        with av.open(self.buf) as c:
            return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


def centre(image: np.ndarray, side: int) -> np.ndarray:
    h, w = image.shape[:2]
    return image[(h - side) // 2 : (h - side) // 2 + side, (w - side) // 2 : (w - side) // 2 + side]


def colour(image: np.ndarray) -> np.ndarray:
    x = (image.astype(np.float32) / 255.0) ** 0.8 * 255.0
    x = (x - 128) * 1.15 + 128 + 12
    grey = x.mean(axis=2, keepdims=True)
    x = grey + (x - grey) * 1.3
    return np.clip(x, 0, 255).astype(np.uint8)


def windows(frames: list[np.ndarray], fps: int) -> list[float]:
    scores = []
    for start in range(0, len(frames) - fps + 1, fps):
        detector = WindowDetector()
        for f in frames[start : start + fps]:
            detector.add(f)
        scores.append(detector.result().score)
    return scores


def render_unmarked(portrait: Path, seconds: float, on_frame=None) -> tuple[list[np.ndarray], int]:
    """The Composer's output frames of a scripted run, before the watermark (RGB, 1280×720): handed to
    on_frame one by one as they come (nothing kept), or returned as a list when on_frame is None."""
    import liveavatar.pipeline.stages as stages
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline import CollectingObserver, Runner, RunnerConfig, parse_source

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portrait], checkpoint)
    source = parse_source("scripted", realtime=False, loop=True)
    fps = round(source.fps or 25)
    frames: list[np.ndarray] = []
    take = on_frame or (lambda image: frames.append(image.copy()))

    class Keep(CollectingObserver):
        def on_frame(self, report) -> None:
            super().on_frame(report)
            take(report.output)

    config = RunnerConfig(source=source, output_size=SIZE, lossless=True, duration_s=seconds)
    original = stages.embed_watermark
    stages.embed_watermark = lambda image: image  # the tool marks them itself, to keep both versions
    try:
        runner = Runner(config, checkpoint, avatar, Keep(), engine_factory=create_engine)
        runner.start()
        runner.wait()
    finally:
        stages.embed_watermark = original
    return frames, fps


def detect_figures(args: argparse.Namespace) -> dict:
    portraits = sorted((DATA / "portraits").iterdir())[::7][: args.portraits]
    totals: dict[str, list[float]] = {}
    sums = {"mse": 0.0, "pixels": 0}
    fps = 25  # the scripted performance's rate (checked below)
    for portrait in portraits:
        t0 = time.time()
        encoders = {
            label: (H264((640, 360), fps), H264((SIZE[1] // 2, SIZE[1] // 2), fps)) for label in ("marked", "unmarked")
        }

        def take(unmarked: np.ndarray, encoders=encoders) -> None:
            marked = embed_watermark(unmarked.copy())
            sums["mse"] += float(((marked.astype(np.float32) - unmarked) ** 2).sum())
            sums["pixels"] += marked.size
            for label, frame in (("marked", marked), ("unmarked", unmarked)):
                small, crop = encoders[label]
                small.add(cv2.resize(frame, (640, 360), interpolation=cv2.INTER_AREA))
                crop.add(centre(frame, SIZE[1] // 2))

        _, source_fps = render_unmarked(portrait, args.seconds, take)
        assert source_fps == fps, source_fps
        for label, (small, crop) in encoders.items():
            small_frames, crop_frames = small.frames(), crop.frames()
            paths = {
                "h264-360p": small_frames,
                "face-crop": crop_frames,
                "360p+crop": [centre(f, 180) for f in small_frames],
                "360p+colour": [colour(f) for f in small_frames],
            }
            for name, fr in paths.items():
                scores = windows(fr, fps)
                totals.setdefault(f"{label} {name}", []).extend(scores)
                print(
                    f"{portrait.name[:28]:28s} {label:8s} {name:12s} windows {len(scores):3d} "
                    f"found {sum(s >= THRESHOLD for s in scores):3d} min {min(scores):5.1f} max {max(scores):5.1f}"
                )
        print(f"  ({time.time() - t0:.0f} s)", flush=True)
    mse_sum, pixels = sums["mse"], sums["pixels"]
    psnr = 10 * np.log10(255.0**2 / (mse_sum / pixels))
    summary = {
        k: {
            "windows": len(v),
            "found": int(sum(s >= THRESHOLD for s in v)),
            "min": round(min(v), 2),
            "median": round(statistics.median(v), 2),
            "max": round(max(v), 2),
        }
        for k, v in totals.items()
    }
    result = {
        "portraits": [p.name for p in portraits],
        "seconds_each": args.seconds,
        "psnr_db": round(psnr, 2),
        "threshold": THRESHOLD,
        "paths": summary,
    }
    print(json.dumps(result, indent=1))
    return result


def first_frames(path: Path, seconds: float) -> tuple[list[np.ndarray], int]:
    """The first `seconds` of a video, decoded (RGB), and its frame rate."""
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        frames = []
        for frame in c.decode(video=0):
            if len(frames) >= seconds * fps:
                break
            frames.append(frame.to_ndarray(format="rgb24"))
    return frames, fps


def reencode(path: Path, seconds: float) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        fps = round(float(stream.average_rate or 25))
        enc = None
        for i, frame in enumerate(c.decode(video=0)):
            if i >= seconds * fps:
                break
            image = frame.to_ndarray(format="rgb24")
            h, w = image.shape[:2]
            s = min(640 / w, 360 / h)
            size = (max(2, int(w * s) // 2 * 2), max(2, int(h * s) // 2 * 2))
            if enc is None:
                enc = H264(size, fps)
            enc.add(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
    assert enc is not None
    frames = enc.frames()
    return frames, fps


def false_positive_figures(args: argparse.Namespace) -> dict:
    worst: list[tuple[float, str]] = []
    count = {"clip windows": 0, "re-encode windows": 0, "portrait pictures": 0}
    for clip in sorted((DATA / "driving").iterdir()):
        t0 = time.time()
        frames, fps = first_frames(clip, args.windows)
        scores = windows(frames, fps) or [WindowDetectorResult(frames)]
        frames, fps = reencode(clip, args.reencode_seconds)
        re_scores = windows(frames, fps) or [WindowDetectorResult(frames)]
        count["clip windows"] += len(scores)
        count["re-encode windows"] += len(re_scores)
        worst += [(max(scores), clip.name), (max(re_scores), clip.name + " (re-encoded)")]
        print(
            f"{clip.name[:40]:40s} max {max(scores):5.2f} re-encoded max {max(re_scores):5.2f} "
            f"({time.time() - t0:.0f} s)",
            flush=True,
        )
    for portrait in sorted((DATA / "portraits").iterdir()):
        from liveavatar.files.imageio import read_image

        image = read_image(portrait)
        ok, jpeg = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 70])
        as_jpeg = cv2.cvtColor(cv2.imdecode(jpeg, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
        h, w = image.shape[:2]
        s = min(640 / w, 360 / h)
        small = cv2.resize(image, (max(1, int(w * s)), max(1, int(h * s))), interpolation=cv2.INTER_AREA)
        for label, picture in (("", image), (" (JPEG q70)", as_jpeg), (" (640x360)", small)):
            worst.append((detect_image(picture).score, portrait.name + label))
            count["portrait pictures"] += 1
        print(f"{portrait.name[:40]:40s} max {max(x[0] for x in worst[-3:]):5.2f}", flush=True)
    worst.sort(reverse=True)
    result = {
        "threshold": THRESHOLD,
        "false_positives": sum(s >= THRESHOLD for s, _ in worst),
        **count,
        "highest": [[round(s, 2), n] for s, n in worst[:10]],
    }
    print(json.dumps(result, indent=1))
    return result


def WindowDetectorResult(frames: list[np.ndarray]) -> float:  # a clip shorter than a second: one window
    detector = WindowDetector()
    for f in frames:
        detector.add(f)
    return detector.result().score


def cost_figures(args: argparse.Namespace) -> dict:
    """The Composer's compose() on 1280×720 with and without the watermark, interleaved frame by frame (so
    both see the same machine load); faces are portrait crops (real texture for the busy mask)."""
    import liveavatar.pipeline.stages as stages
    from liveavatar.files.imageio import read_image
    from liveavatar.live.spec import Background

    faces = [
        cv2.resize(read_image(p), (256, 256), interpolation=cv2.INTER_AREA)
        for p in sorted((DATA / "portraits").iterdir())[:8]
    ]
    composer = stages.Composer(*SIZE)
    background = Background(kind="colour")
    real = stages.embed_watermark
    plain_ms, marked_ms = [], []
    for i in range(args.frames):
        face = faces[i % len(faces)]
        stages.embed_watermark = lambda image: image
        t = time.perf_counter()
        composer.compose(face, None, background, False, True)  # type: ignore[arg-type]
        plain_ms.append((time.perf_counter() - t) * 1e3)
        stages.embed_watermark = real
        t = time.perf_counter()
        composer.compose(face, None, background, False, True)  # type: ignore[arg-type]
        marked_ms.append((time.perf_counter() - t) * 1e3)
    stages.embed_watermark = real
    plain, marked = statistics.median(plain_ms), statistics.median(marked_ms)
    result = {
        "frames": args.frames,
        "size": SIZE,
        "compose_unmarked_median_ms": round(plain, 3),
        "compose_marked_median_ms": round(marked, 3),
        "watermark_cost_median_ms": round(marked - plain, 3),
        "compose_marked_p90_ms": round(float(np.percentile(marked_ms, 90)), 3),
    }
    print(json.dumps(result, indent=1))
    return result


def limits_figures(args: argparse.Namespace) -> dict:
    """What the mark does and does not survive: one portrait, --seconds of output, one score per path (the
    lowest over its 1-second windows)."""
    portrait = sorted((DATA / "portraits").iterdir())[::7][1]
    unmarked, fps = render_unmarked(portrait, args.seconds)
    marked = [embed_watermark(f.copy()) for f in unmarked]

    def enc(frames, size, rate=RATE, codec="libx264"):
        e = H264(size, fps, rate, codec)
        for f in frames:
            e.add(cv2.resize(f, size, interpolation=cv2.INTER_AREA))
        return e.frames()

    s360 = enc(marked, (640, 360))

    def rotate(f: np.ndarray, degrees: float) -> np.ndarray:
        matrix = cv2.getRotationMatrix2D((f.shape[1] / 2, f.shape[0] / 2), degrees, 1.0)
        return cv2.warpAffine(f, matrix, (f.shape[1], f.shape[0]), borderMode=cv2.BORDER_REFLECT)

    paths = {
        "VP8 500 kbit/s 640x360": enc(marked, (640, 360), codec="libvpx"),
        "VP8 250 kbit/s 640x360": enc(marked, (640, 360), 250_000, "libvpx"),
        "H.264 250 kbit/s 640x360": enc(marked, (640, 360), 250_000),
        "H.264 150 kbit/s 640x360": enc(marked, (640, 360), 150_000),
        "H.264 250 kbit/s 426x240": enc(marked, (426, 240), 250_000),
        "H.264 150 kbit/s 320x180": enc(marked, (320, 180), 150_000),
        "360p, crop 120x120": [centre(f, 120) for f in s360],
        "360p, crop 64x64": [centre(f, 64) for f in s360],
        "360p, stretched to 640x480": [cv2.resize(f, (640, 480)) for f in s360],
        "360p, mirrored": [f[:, ::-1] for f in s360],
        "360p, rotated 1 degree": [rotate(f, 1.0) for f in s360],
        "360p, rotated 3 degrees": [rotate(f, 3.0) for f in s360],
        "360p, one frame (no window)": s360[:1],
        "360p, blur sigma 1.5": [cv2.GaussianBlur(f, (0, 0), 1.5) for f in s360],
        "360p, noise sigma 8": [
            np.clip(f + np.random.default_rng(0).normal(0, 8, f.shape), 0, 255).astype(np.uint8) for f in s360
        ],
    }
    result = {"portrait": portrait.name, "seconds": args.seconds, "threshold": THRESHOLD, "paths": {}}
    for name, frames in paths.items():
        scores = windows(frames, fps) if len(frames) >= fps else [WindowDetectorResult(frames)]
        result["paths"][name] = {
            "windows": len(scores),
            "found": int(sum(s >= THRESHOLD for s in scores)),
            "min": round(min(scores), 2),
        }
        print(f"{name:32s} found {result['paths'][name]['found']}/{len(scores)} min {min(scores):5.1f}", flush=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    d = sub.add_parser("detect")
    d.add_argument("--portraits", type=int, default=5)
    d.add_argument("--seconds", type=float, default=12.0)
    f = sub.add_parser("false-positives")
    f.add_argument("--windows", type=int, default=3)
    f.add_argument("--reencode-seconds", type=float, default=3.0)
    c = sub.add_parser("cost")
    c.add_argument("--frames", type=int, default=200)
    lim = sub.add_parser("limits")
    lim.add_argument("--seconds", type=float, default=4.0)
    for p in (d, f, c, lim):
        p.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f"no test data at {DATA}", file=sys.stderr)
        return 2
    figures = {"detect": detect_figures, "false-positives": false_positive_figures, "cost": cost_figures}
    result = {**figures, "limits": limits_figures}[args.what](args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
