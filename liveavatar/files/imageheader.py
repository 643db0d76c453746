"""Image sizes read from file headers, before any pixel is decoded.

OpenCV has no way to ask an image's size without decoding it, and a 69-byte PNG can declare 100000×100000
pixels (40 GB once decoded). These parsers read only the few bytes that declare the width and height of
the formats LiveAvatar accepts (PNG, JPEG, WebP, BMP, TIFF), so the reader can refuse a decompression
bomb before it costs memory. Anything else is "not an image": OpenCV decodes more formats, but no user
portrait needs them and each one is another parser exposed to crafted files.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass


class HeaderError(ValueError):
    """The bytes are not a well-formed header of a supported format; the message says what is wrong."""


@dataclass(frozen=True)
class ImageHeader:
    format: str  # "png" | "jpeg" | "webp" | "bmp" | "tiff"
    width: int
    height: int

    @property
    def pixels(self) -> int:
        return self.width * self.height


def read_header(data: bytes | memoryview) -> ImageHeader:
    """The format and declared size of an encoded image; HeaderError when it is none of the five formats,
    is cut short, or declares a zero size."""
    head = bytes(data[:16])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        header = _png(data)
    elif head.startswith(b"\xff\xd8"):
        header = _jpeg(data)
    elif head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        header = _webp(data)
    elif head.startswith(b"BM"):
        header = _bmp(data)
    elif head[:4] in (b"II*\x00", b"MM\x00*"):
        header = _tiff(data)
    else:
        raise HeaderError("none of PNG, JPEG, WebP, BMP, TIFF")
    if header.width <= 0 or header.height <= 0:
        raise HeaderError(f"{header.format.upper()} header declares an empty {header.width}×{header.height} image")
    return header


def _need(data, end: int, what: str) -> None:
    if len(data) < end:
        raise HeaderError(f"{what} is cut short (truncated file)")


def _png(data) -> ImageHeader:
    _need(data, 24, "PNG header")
    if bytes(data[12:16]) != b"IHDR":
        raise HeaderError("PNG without an IHDR chunk first (damaged file)")
    width, height = struct.unpack(">II", bytes(data[16:24]))
    return ImageHeader("png", width, height)


# Start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the frame size.
_JPEG_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}
_JPEG_STANDALONE = {0x01, *range(0xD0, 0xD8)}


def _jpeg(data) -> ImageHeader:
    pos = 2
    size = len(data)
    while pos < size:
        if data[pos] != 0xFF:
            raise HeaderError("JPEG segments are damaged (no marker where one must be)")
        while pos < size and data[pos] == 0xFF:  # fill bytes may precede a marker
            pos += 1
        _need(data, pos + 1, "JPEG header")
        marker = data[pos]
        pos += 1
        if marker in _JPEG_STANDALONE:
            continue
        if marker in (0xD9, 0xDA):  # end of image or start of scan before any frame header
            raise HeaderError("JPEG without a frame header (damaged file)")
        _need(data, pos + 2, "JPEG header")
        (length,) = struct.unpack(">H", bytes(data[pos : pos + 2]))
        if length < 2:
            raise HeaderError("JPEG segment of impossible length (damaged file)")
        if marker in _JPEG_SOF:
            _need(data, pos + 7, "JPEG frame header")
            height, width = struct.unpack(">HH", bytes(data[pos + 3 : pos + 7]))
            return ImageHeader("jpeg", width, height)
        pos += length
    raise HeaderError("JPEG header is cut short (truncated file)")


def _webp(data) -> ImageHeader:
    _need(data, 30, "WebP header")
    chunk = bytes(data[12:16])
    if chunk == b"VP8 ":
        if bytes(data[23:26]) != b"\x9d\x01\x2a":
            raise HeaderError("WebP (lossy) frame without its start code (damaged file)")
        width, height = struct.unpack("<HH", bytes(data[26:30]))
        return ImageHeader("webp", width & 0x3FFF, height & 0x3FFF)
    if chunk == b"VP8L":
        if data[20] != 0x2F:
            raise HeaderError("WebP (lossless) without its signature (damaged file)")
        (bits,) = struct.unpack("<I", bytes(data[21:25]))
        return ImageHeader("webp", (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
    if chunk == b"VP8X":
        width = int.from_bytes(bytes(data[24:27]), "little") + 1
        height = int.from_bytes(bytes(data[27:30]), "little") + 1
        return ImageHeader("webp", width, height)
    raise HeaderError(f"WebP with an unknown first chunk {chunk!r}")


def _bmp(data) -> ImageHeader:
    _need(data, 26, "BMP header")
    (dib_size,) = struct.unpack("<I", bytes(data[14:18]))
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", bytes(data[18:22]))
    else:
        width, height = struct.unpack("<ii", bytes(data[18:26]))
    return ImageHeader("bmp", abs(width), abs(height))  # a negative height means rows stored top-down


def _tiff(data) -> ImageHeader:
    endian = "<" if bytes(data[:2]) == b"II" else ">"
    _need(data, 8, "TIFF header")
    (ifd,) = struct.unpack(endian + "I", bytes(data[4:8]))
    _need(data, ifd + 2, "TIFF directory")
    (count,) = struct.unpack(endian + "H", bytes(data[ifd : ifd + 2]))
    sizes: dict[int, int] = {}
    for i in range(count):
        entry = ifd + 2 + 12 * i
        _need(data, entry + 12, "TIFF directory")
        tag, kind = struct.unpack(endian + "HH", bytes(data[entry : entry + 4]))
        if tag in (256, 257):  # ImageWidth, ImageLength
            if kind == 3:  # SHORT, left-justified in the 4-byte value field
                (value,) = struct.unpack(endian + "H", bytes(data[entry + 8 : entry + 10]))
            elif kind == 4:  # LONG
                (value,) = struct.unpack(endian + "I", bytes(data[entry + 8 : entry + 12]))
            else:
                raise HeaderError(f"TIFF size tag {tag} of unexpected type {kind} (damaged file)")
            sizes[tag] = value
    if 256 not in sizes or 257 not in sizes:
        raise HeaderError("TIFF without an image width and height (damaged file)")
    return ImageHeader("tiff", sizes[256], sizes[257])
