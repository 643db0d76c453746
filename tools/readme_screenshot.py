#!/usr/bin/env python
"""Renders docs/screenshot.png, the README's picture of the app: the real window offscreen, its gallery six
avatars built with the bundled model from ../shared/data/portraits (public-domain paintings and a statue),
Girl with a Pearl Earring chosen and driven by the scripted performance (synthetic: no frame of a real
person from the test clips can appear). Everything happens in a temporary data folder, so the user's own
gallery and settings are neither read nor touched. Rerun it after the bundled model changes.

python tools/readme_screenshot.py [--out docs/screenshot.png] [--portraits DIR] [--checkpoint CKPT]
                                  [--engine auto] [--after-frames 60] [--avatars 6]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from liveavatar.errors import InputError, LiveAvatarError
from liveavatar.files.checks import require_file

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("LIVEAVATAR_SHARED_DATA", ROOT.parent / "shared" / "data"))

# (name shown in the gallery, file in the portraits folder), in gallery order; the first one is chosen.
GALLERY: tuple[tuple[str, str], ...] = (
    ("Girl with a Pearl Earring", "painting_girl_with_a_pearl_earring.jpg"),
    ("Mona Lisa", "painting_mona_lisa.jpg"),
    ("Van Gogh", "painting_van_gogh_self_portrait_1889.jpg"),
    ("Lady Agnew", "painting_sargent_lady_agnew.jpg"),
    ("Ducreux", "painting_ducreux_self_portrait.jpg"),
    ("Apollo", "statue_apollo_bust.png"),
)


def require_portraits(folder: Path, gallery: Sequence[tuple[str, str]]) -> list[Path]:
    """The gallery's portrait files, or one InputError naming what is missing and where to point the tool."""
    if not folder.is_dir():
        raise InputError(
            f"portraits folder {folder} is absent: the README's gallery is built from the project's real media "
            "(../shared/data/portraits); pass --portraits DIR or set LIVEAVATAR_SHARED_DATA"
        )
    missing = [file for _, file in gallery if not (folder / file).is_file()]
    if missing:
        raise InputError(f"portraits folder {folder} lacks {', '.join(missing)}; pass --portraits DIR with them")
    return [folder / file for _, file in gallery]


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """os.environ with `values` set, as it was afterwards (the tests call make_screenshot in-process)."""
    before = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def build_gallery(files: Sequence[Path], names: Sequence[str], checkpoint, avatars: Path) -> list[str]:
    """Builds one avatar per portrait into the app's avatar folder, as "Add portrait…" does (build_avatar,
    then AvatarStore.add, here without the app's worker thread); returns the gallery ids in order."""
    from tqdm import tqdm

    from liveavatar.engines.embedder import build_avatar
    from liveavatar.ui.store import AvatarStore

    store = AvatarStore(avatars)
    ids = []
    with tqdm(total=len(files), desc="building avatars", unit="avatar", file=sys.stderr) as bar:
        for path, name in zip(files, names, strict=True):
            bar.set_postfix_str(name)
            avatar = build_avatar([path], checkpoint, name=name, progress=lambda what, _: bar.set_postfix_str(what))
            ids.append(store.add(avatar).id)
            bar.update(1)
    return ids


def make_screenshot(
    out: Path,
    portraits: Path,
    gallery: Sequence[tuple[str, str]] = GALLERY,
    checkpoint: Path | None = None,
    engine: str = "auto",
    after_frames: int = 60,
) -> None:
    """Builds the gallery in a temporary data folder and saves the window (1280×720 PNG) after `after_frames`
    avatar frames have been shown (the app's `--screenshot` mode). Raises LiveAvatarError subclasses."""
    files = require_portraits(portraits, gallery)
    if after_frames < 1:
        raise InputError("--after-frames must be at least 1")
    if checkpoint is not None:
        require_file(checkpoint, "checkpoint", "pass a .safetensors checkpoint")
    out = Path(out)
    if not out.parent.is_dir():
        raise InputError(f"cannot save the screenshot to {out}: folder {out.parent} does not exist")
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    model = open_checkpoint(resolve_checkpoint(checkpoint))  # the bundled model unless one is given
    with tempfile.TemporaryDirectory(prefix="liveavatar-readme-") as tmp:
        data = Path(tmp)
        # Offscreen whatever the desktop: the picture must not depend on the machine that makes it.
        with _environment(LIVEAVATAR_DATA_DIR=str(data), QT_QPA_PLATFORM="offscreen"):
            from liveavatar.ui.app import make_application, run_app
            from liveavatar.ui.main_window import AppOptions
            from liveavatar.ui.paths import avatars_dir
            from liveavatar.ui.settings import AppSettings

            make_application()  # names the app first, so every folder the window asks for is under `data`
            ids = build_gallery(files, [name for name, _ in gallery], model, avatars_dir())
            settings = AppSettings(data / "settings.ini")
            settings.set("avatar", ids[0])  # the avatar the window chooses when its gallery loads
            settings.sync()
            options = AppOptions(source="scripted", checkpoint=checkpoint, engine=engine)
            run_app(options, screenshot=out, after_frames=after_frames)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshot.png")
    ap.add_argument("--portraits", type=Path, default=SHARED_DATA / "portraits")
    ap.add_argument("--checkpoint", type=Path, help="a checkpoint other than the bundled model")
    ap.add_argument("--engine", default="auto")
    ap.add_argument("--after-frames", type=int, default=60, help="live frames before the screenshot (60)")
    ap.add_argument(
        "--avatars",
        type=int,
        default=len(GALLERY),
        metavar="N",
        help=f"only the first N avatars of the gallery, for a quick check (the README's picture has {len(GALLERY)})",
    )
    args = ap.parse_args(argv)
    if not 1 <= args.avatars <= len(GALLERY):
        print(f"readme_screenshot: error: --avatars must be 1 to {len(GALLERY)}", file=sys.stderr)
        return 2
    os.environ.setdefault("GLOG_minloglevel", "2")  # before mediapipe loads: its warnings bury the progress bar
    started = time.monotonic()
    try:
        make_screenshot(
            args.out, args.portraits, GALLERY[: args.avatars], args.checkpoint, args.engine, args.after_frames
        )
    except LiveAvatarError as exc:
        print(f"readme_screenshot: error: {exc}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("PySide6"):
            raise
        print("readme_screenshot: error: the app needs PySide6: pip install -e '.[ui]'", file=sys.stderr)
        return 2
    print(f"done in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
