"""`liveavatar check FILE...`: does each file carry LiveAvatar's invisible watermark and a C2PA manifest?

Per file: the watermark (found in how many 1-second windows, its score) and the C2PA manifest (its claims,
whether the signature verifies, who signed). Exit 0 when every file is marked, 1 when any is not, 2 on
error (a file that cannot be read: one line). liveavatar.provenance.check does the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("check", help="say whether images or videos carry LiveAvatar's watermark and C2PA manifest")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE", help="images (PNG, JPEG, …) or videos (MP4, …)")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from liveavatar.provenance.check import check_file

    reports = [check_file(path) for path in args.files]  # an unreadable file: InputError, one line, exit 2
    for report in reports:
        print("\n".join(report.lines()))
    return 0 if all(r.marked for r in reports) else 1
