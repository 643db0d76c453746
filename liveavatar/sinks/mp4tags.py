"""Text tags in an MP4's metadata, read in pure Python: how tests (and anyone) check that a recording says
it was generated, independently of the FFmpeg that wrote it (sinks/record.py sets them through PyAV).

iTunes-style items (moov/udta/meta/ilst/<name>/data) are what ffprobe, VLC, players and file browsers
read: "©cmt" shows as `comment`, "desc" as `description`.
"""

from __future__ import annotations

import struct
from pathlib import Path


def _boxes(buf: bytes, start: int, end: int, truncated_ok: bool = False) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header size, total size) of each box in buf[start:end]. truncated_ok: stop at a box
    cut short (the last fragment of a recording that was killed) instead of raising."""
    out = []
    off = start
    while off + 8 <= end:
        size, typ = struct.unpack(">I4s", buf[off : off + 8])
        header = 8
        if size == 1:
            size = struct.unpack(">Q", buf[off + 8 : off + 16])[0]
            header = 16
        elif size == 0:
            size = end - off
        if size < header or off + size > end:
            if truncated_ok:
                break
            raise ValueError(f"corrupt MP4: box {typ!r} at {off} has size {size}")
        out.append((typ, off, header, size))
        off += size
    return out


def read_tags(path: str | Path) -> dict[str, str]:
    """The text items of moov/udta/meta/ilst, by their 4-character names."""
    buf = Path(path).read_bytes()
    for typ, off, header, size in _boxes(buf, 0, len(buf), truncated_ok=True):
        if typ != b"moov":
            continue
        for t, o, h, s in _boxes(buf, off + header, off + size):
            if t != b"udta":
                continue
            for mt, mo, mh, ms in _boxes(buf, o + h, o + s):
                if mt != b"meta":
                    continue
                for it, io, ih, isz in _boxes(buf, mo + mh + 4, mo + ms):
                    if it != b"ilst":
                        continue
                    tags = {}
                    for name, no, nh, ns in _boxes(buf, io + ih, io + isz):
                        for dt, do, dh, ds in _boxes(buf, no + nh, no + ns):
                            if dt == b"data":
                                tags[name.decode("latin-1")] = buf[do + dh + 8 : do + ds].decode("utf-8", "replace")
                    return tags
    return {}
