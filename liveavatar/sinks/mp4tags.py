"""Text tags in an MP4's metadata, written in pure Python (OpenCV's writer cannot set any).

iTunes-style items (moov/udta/meta/ilst/<name>/data) are what ffprobe, VLC, players and file browsers
read: "©cmt" shows as `comment`, "desc" as `description`. `write_tags` rebuilds only the moov box: when moov
follows the media data (what OpenCV writes) nothing else moves; when it precedes it (a "faststart" file),
the chunk offsets in every stco/co64 are shifted by the size change, so the file stays playable.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"udta", b"edts", b"dinf", b"ilst"}


def _boxes(buf: bytes, start: int, end: int) -> list[tuple[bytes, int, int, int]]:
    """(type, offset, header size, total size) of each box in buf[start:end]."""
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
            raise ValueError(f"corrupt MP4: box {typ!r} at {off} has size {size}")
        out.append((typ, off, header, size))
        off += size
    return out


def _box(typ: bytes, payload: bytes) -> bytes:
    return struct.pack(">I4s", 8 + len(payload), typ) + payload


def _children(buf: bytes, typ: bytes, off: int, header: int, size: int) -> tuple[bytes, list]:
    """(bytes before the children, [(type, raw bytes)]) of a container; meta has a 4-byte version/flags."""
    body_start = off + header + (4 if typ == b"meta" else 0)
    prefix = buf[off + header : body_start]
    return prefix, [(t, buf[o : o + s]) for t, o, h, s in _boxes(buf, body_start, off + size)]


def _item(name: bytes, text: str) -> bytes:
    data = _box(b"data", struct.pack(">II", 1, 0) + text.encode("utf-8"))  # type 1 = UTF-8, locale 0
    return _box(name, data)


def _with_tags(moov: bytes, tags: dict[bytes, str]) -> bytes:
    """A moov box with `tags` set in udta/meta/ilst (created where missing, same-named items replaced)."""
    _, kids = _children(moov, b"moov", 0, 8, len(moov))
    udta = next((raw for t, raw in kids if t == b"udta"), None)
    udta_kids = _children(udta, b"udta", 0, 8, len(udta))[1] if udta else []
    meta = next((raw for t, raw in udta_kids if t == b"meta"), None)
    if meta is not None:
        meta_prefix, meta_kids = _children(meta, b"meta", 0, 8, len(meta))
    else:
        hdlr = _box(b"hdlr", b"\0" * 8 + b"mdirappl" + b"\0" * 9)
        meta_prefix, meta_kids = b"\0\0\0\0", [(b"hdlr", hdlr)]
    ilst = next((raw for t, raw in meta_kids if t == b"ilst"), None)
    items = _children(ilst, b"ilst", 0, 8, len(ilst))[1] if ilst else []
    items = [(t, raw) for t, raw in items if t not in tags] + [(name, _item(name, text)) for name, text in tags.items()]
    new_ilst = _box(b"ilst", b"".join(raw for _, raw in items))
    meta_kids = [(t, raw) for t, raw in meta_kids if t != b"ilst"] + [(b"ilst", new_ilst)]
    new_meta = _box(b"meta", meta_prefix + b"".join(raw for _, raw in meta_kids))
    udta_kids = [(t, raw) for t, raw in udta_kids if t != b"meta"] + [(b"meta", new_meta)]
    new_udta = _box(b"udta", b"".join(raw for _, raw in udta_kids))
    kids = [(t, raw) for t, raw in kids if t != b"udta"] + [(b"udta", new_udta)]
    return _box(b"moov", b"".join(raw for _, raw in kids))


def _shift_chunk_offsets(moov: bytearray, delta: int) -> None:
    """Adds delta to every chunk offset of every track (stco 32-bit, co64 64-bit), in place."""

    def visit(start: int, end: int) -> None:
        for typ, off, header, size in _boxes(bytes(moov), start, end):
            body = off + header
            if typ in (b"trak", b"mdia", b"minf", b"stbl"):
                visit(body, off + size)
            elif typ in (b"stco", b"co64"):
                count = struct.unpack(">I", moov[body + 4 : body + 8])[0]
                width, fmt = (4, ">I") if typ == b"stco" else (8, ">Q")
                for i in range(count):
                    p = body + 8 + i * width
                    (value,) = struct.unpack(fmt, moov[p : p + width])
                    moov[p : p + width] = struct.pack(fmt, value + delta)

    visit(8, len(moov))


def write_tags(path: str | Path, tags: dict[str, str]) -> None:
    """Sets text tags (e.g. {"©cmt": "...", "desc": "..."}) in an MP4 file, replacing it atomically."""
    path = Path(path)
    buf = path.read_bytes()
    top = _boxes(buf, 0, len(buf))
    moov = next(((o, s) for t, o, h, s in top if t == b"moov"), None)
    if moov is None:
        raise ValueError(f"{path} has no moov box (not a finished MP4)")
    off, size = moov
    new = bytearray(_with_tags(buf[off : off + size], {k.encode("latin-1"): v for k, v in tags.items()}))
    delta = len(new) - size
    if delta and any(t == b"mdat" and o > off for t, o, h, s in top):
        _shift_chunk_offsets(new, delta)
    tmp = path.with_name(path.name + ".tagging")
    try:
        with open(tmp, "wb") as f:
            f.write(buf[:off])
            f.write(new)
            f.write(buf[off + size :])
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def read_tags(path: str | Path) -> dict[str, str]:
    """The text items of moov/udta/meta/ilst, by their 4-character names."""
    buf = Path(path).read_bytes()
    for typ, off, header, size in _boxes(buf, 0, len(buf)):
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
