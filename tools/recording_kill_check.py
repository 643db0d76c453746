"""How much of a recording survives when `liveavatar run` is stopped by a signal: the figures in
docs/RELIABILITY.md ("Recordings").

    python tools/recording_kill_check.py --signal KILL --after 14 --repeat 3 [--size 1280x720] [--avatar A]

Each try starts `liveavatar run --source scripted --loop --sink record:OUT.mp4` (the bundled model; an avatar
of the demo portrait is built once unless --avatar is given), waits until the recorder reports it is
running, sends the signal `--after` seconds later, and decodes whatever file is left (OUT.mp4, or its
partial file after SIGKILL) with PyAV. It prints, per try, the seconds recorded before the signal, the
seconds that decode, and the difference.
"""

from __future__ import annotations

import argparse
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from liveavatar.sinks.record import playable_frames


def one_try(avatar: Path, folder: Path, sig: signal.Signals, after: float, size: str) -> tuple[float, int, float]:
    out = folder / f"try-{time.monotonic_ns()}.mp4"
    cmd = [sys.executable, "-m", "liveavatar.cli", "run", "--avatar", str(avatar), "--source", "scripted", "--loop"]
    cmd += ["--size", size, "--sink", f"record:{out}", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    running = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            if re.match(r"^record:.*\((H\.264|MPEG-4)", line):
                running.set()

    threading.Thread(target=read, daemon=True).start()
    if not running.wait(300):
        proc.kill()
        raise SystemExit("the run did not start recording within 300 s")
    started = time.monotonic()
    time.sleep(after)
    proc.send_signal(sig)
    recorded = time.monotonic() - started
    proc.wait(120)
    left = [p for p in folder.iterdir() if p.name.startswith(out.stem)]
    if not left:
        return recorded, 0, 0.0
    frames, seconds = playable_frames(left[0])
    for p in left:
        p.unlink()
    return recorded, frames, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--signal", default="KILL", help="KILL, TERM or HUP (default KILL)")
    parser.add_argument("--after", type=float, default=14.0, help="seconds of recording before the signal")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--size", default="1280x720", help="output size (default 1280x720, run's default)")
    parser.add_argument("--avatar", type=Path, help="avatar to drive (default: built from the demo portrait)")
    args = parser.parse_args()
    sig = signal.Signals[f"SIG{args.signal.upper()}"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        avatar = args.avatar
        if avatar is None:
            avatar = folder / "demo.avatar"
            from liveavatar.commands.demo import default_portrait

            subprocess.run(
                [sys.executable, "-m", "liveavatar.cli", "avatar", str(default_portrait()), "-o", str(avatar)],
                check=True,
            )
        print(f"signal {sig.name} after {args.after:g} s, output {args.size}")
        for i in range(args.repeat):
            recorded, frames, seconds = one_try(avatar, folder, sig, args.after, args.size)
            print(
                f"try {i + 1}: recorded {recorded:.1f} s before the signal; {frames} frames decode = {seconds:.1f} s "
                f"(lost {recorded - seconds:.1f} s)"
            )


if __name__ == "__main__":
    main()
