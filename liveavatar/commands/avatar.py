"""`liveavatar avatar PORTRAIT [PORTRAIT ...] -o NAME.avatar`: build and cache an avatar."""

from __future__ import annotations

import argparse
from pathlib import Path

from liveavatar.files.checks import check_output_file
from liveavatar.files.text import printable


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("avatar", help="turn one or a few portraits of one person into an avatar file")
    p.add_argument("portraits", nargs="+", type=Path, help="images of the same person (photo, painting, statue)")
    p.add_argument("-o", "--out", type=Path, required=True, help="output file, e.g. mona_lisa.avatar")
    p.add_argument("--checkpoint", type=Path, help="model checkpoint (default: the bundled model)")
    p.add_argument("--name", help="display name (default: the first portrait's file name)")
    p.add_argument("--force", action="store_true", help="overwrite an existing output file")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from liveavatar.avatar import save_avatar
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    check_output_file(args.out, "-o", args.force, needed_bytes=4 << 20)
    checkpoint = open_checkpoint(resolve_checkpoint(args.checkpoint))
    with tqdm(total=100, desc="avatar", unit="%", leave=False) as bar:

        def progress(what: str, fraction: float) -> None:
            bar.set_postfix_str(what)
            bar.update(round(fraction * 100) - bar.n)

        avatar = build_avatar(args.portraits, checkpoint, name=args.name, progress=progress)
    save_avatar(avatar, args.out)
    for note in avatar.notes:
        print(f"note: {printable(note)}")
    print(
        f"wrote {args.out} ({printable(avatar.name)}, preset {avatar.preset}, ψ of {avatar.psi.size} values, "
        f"{len(avatar.sources)} portrait(s), checkpoint {avatar.checkpoint_sha256[:12]})"
    )
    return 0
