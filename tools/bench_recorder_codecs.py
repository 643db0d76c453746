"""Encoder choice for the recorder, by measurement (docs/RELIABILITY.md, "Recordings").

    python tools/bench_recorder_codecs.py [--clip VIDEO] [--frames 150]

Encodes the same real frames (a talking-head clip from ../shared/data by default) into a fragmented MP4
at 256², 512² and 1280×720 with PyAV (libx264 at several presets, MPEG-4 Part 2), with imageio-ffmpeg's
ffmpeg binary through a pipe when that package is installed (it is not a dependency), and with OpenCV's
"mp4v" writer (the recorder before PyAV). Prints wall and CPU milliseconds per frame (this process and its
children) and the bitrate in KiB per second of video at 30 fps.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

FRAGMENTED = "frag_keyframe+empty_moov+default_base_moof"


def cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def pyav(path: str, images: list[np.ndarray], codec: str, options: dict[str, str]) -> None:
    import av

    container = av.open(path, "w", options={"movflags": FRAGMENTED})
    stream = container.add_stream(codec, rate=30, options=options)
    stream.width, stream.height, stream.pix_fmt = images[0].shape[1], images[0].shape[0], "yuv420p"
    for image in images:
        for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


def imageio_ffmpeg(path: str, images: list[np.ndarray], codec: str, options: dict[str, str]) -> None:
    import imageio_ffmpeg as iio

    h, w = images[0].shape[:2]
    args = [iio.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    args += ["-s", f"{w}x{h}", "-r", "30", "-i", "-", "-c:v", codec]
    args += [a for k, v in options.items() for a in (f"-{k}", v)]
    args += ["-pix_fmt", "yuv420p", "-movflags", FRAGMENTED, path]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE)
    for image in images:
        proc.stdin.write(image.tobytes())
    proc.stdin.close()
    proc.wait()


def opencv(path: str, images: list[np.ndarray], codec: str, options: dict[str, str]) -> None:
    h, w = images[0].shape[:2]
    writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"mp4v"), 30, (w, h))
    for image in images:
        writer.write(cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    writer.release()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(__file__).resolve().parents[1].parent / "shared/data/driving/lp_d10_woman_talking.mp4"
    parser.add_argument("--clip", type=Path, default=default)
    parser.add_argument("--frames", type=int, default=150)
    args = parser.parse_args()
    capture = cv2.VideoCapture(str(args.clip))
    frames = []
    while len(frames) < args.frames:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    if not frames:
        raise SystemExit(f"cannot read frames from {args.clip}")
    writers = [
        ("PyAV", pyav, "libx264", {"preset": "ultrafast", "crf": "23", "g": "30"}),
        ("PyAV", pyav, "libx264", {"preset": "superfast", "crf": "23", "g": "30"}),
        ("PyAV", pyav, "libx264", {"preset": "veryfast", "crf": "23", "g": "30"}),
        ("PyAV", pyav, "mpeg4", {"qscale": "4", "g": "30"}),
        ("OpenCV", opencv, "mp4v", {}),
    ]
    try:
        import imageio_ffmpeg  # noqa: F401

        writers.insert(3, ("imageio-ffmpeg", imageio_ffmpeg, "libx264", {"preset": "veryfast", "crf": "23", "g": "30"}))
    except ImportError:
        print("imageio-ffmpeg is not installed: its rows are left out")
    print(f"{len(frames)} frames of {args.clip.name}")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.mp4")
        for w, h in ((256, 256), (512, 512), (1280, 720)):
            images = [cv2.resize(f, (w, h), interpolation=cv2.INTER_AREA) for f in frames]
            for name, write, codec, options in writers:
                c0, t0 = cpu_s(), time.perf_counter()
                write(path, images, codec, options)
                wall, cpu = time.perf_counter() - t0, cpu_s() - c0
                rate = os.path.getsize(path) / 1024 * 30 / len(images)
                preset = options.get("preset", "")
                print(
                    f"{w}x{h:<4} {name:14s} {codec:8s} {preset:9s} wall {1000 * wall / len(images):6.2f} ms/frame  "
                    f"cpu {1000 * cpu / len(images):6.2f} ms/frame  {rate:6.0f} KiB/s"
                )


if __name__ == "__main__":
    main()
