"""Image sizes read from file headers, before any pixel is decoded.

OpenCV has no way to ask an image's size without decoding it, and a 69-byte PNG can declare 100000×100000
pixels (40 GB once decoded). These parsers read only the few bytes that declare the width and height of
the formats LiveAvatar accepts (PNG, JPEG, WebP, BMP, TIFF), so the reader can refuse a decompression
bomb before it costs memory. Anything else is "not an image": OpenCV decodes more formats (PPM, PFM, Sun
raster, Radiance HDR, JPEG 2000, OpenEXR, GDAL's), but no user portrait needs them and each one is another
parser exposed to crafted files; they never reach OpenCV.

Each parser also reads what one decoded pixel costs (channels × bytes per sample: a 16-bit RGBA PNG is 8
bytes, a 64-bit float TIFF up to 32), so the reader can bound the decoded bytes, not just the pixels.

A header that says two things is refused as ambiguous: a TIFF that repeats its size tags (our reading would
keep one value, libtiff another: a 27 KB file declared small decoded to 1.95 GB), a WebP whose canvas and
image sizes differ.
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
    bytes_per_pixel: int = 4  # what OpenCV's IMREAD_UNCHANGED result costs per pixel, at most (channels × depth)

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
    _need(data, 26, "PNG header")
    depth, color = data[24], data[25]
    # OpenCV gives grey 1 channel, RGB 3, grey+alpha, palette (maybe with transparency) and RGBA 4
    channels = {0: 1, 2: 3, 3: 4, 4: 4, 6: 4}.get(color, 4)
    return ImageHeader("png", width, height, channels * (2 if depth > 8 else 1))


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
            _need(data, pos + 8, "JPEG frame header")
            precision = data[pos + 2]
            height, width = struct.unpack(">HH", bytes(data[pos + 3 : pos + 7]))
            channels = min(max(data[pos + 7], 1), 4)  # grey, YCbCr, CMYK (OpenCV gives CMYK as 3)
            return ImageHeader("jpeg", width, height, channels * (2 if precision > 8 else 1))
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
        inner = _webp_image_size(data, 30)
        if inner is not None and inner != (width, height):
            raise HeaderError(
                f"WebP canvas {width}×{height} holds a {inner[0]}×{inner[1]} image (ambiguous header, damaged file)"
            )
        return ImageHeader("webp", width, height)
    raise HeaderError(f"WebP with an unknown first chunk {chunk!r}")


def _webp_image_size(data, pos: int) -> tuple[int, int] | None:
    """The size of the first VP8/VP8L image chunk after pos (an extended WebP's bitstream), or None when
    there is none (an animation: its frames lie inside ANMF chunks, bounded by the canvas)."""
    while pos + 8 <= len(data):
        fourcc = bytes(data[pos : pos + 4])
        (length,) = struct.unpack("<I", bytes(data[pos + 4 : pos + 8]))
        if fourcc in (b"VP8 ", b"VP8L"):  # read as if it were a simple WebP's first chunk
            image = _webp(bytes(data[:12]) + bytes(data[pos : pos + 18]))
            return image.width, image.height
        pos += 8 + length + (length & 1)  # chunks are padded to even sizes
    return None


def _bmp(data) -> ImageHeader:
    _need(data, 26, "BMP header")
    (dib_size,) = struct.unpack("<I", bytes(data[14:18]))
    if dib_size == 12:  # OS/2 BITMAPCOREHEADER: 16-bit sizes
        width, height = struct.unpack("<HH", bytes(data[18:22]))
    else:
        width, height = struct.unpack("<ii", bytes(data[18:26]))
    # a negative height means rows stored top-down; OpenCV decodes BMP to 8-bit grey, BGR or BGRA
    return ImageHeader("bmp", abs(width), abs(height), 4)


_TIFF_WIDTH, _TIFF_LENGTH, _TIFF_BITS, _TIFF_SAMPLES = 256, 257, 258, 277
_TIFF_TYPE_SIZES = {3: 2, 4: 4}  # SHORT, LONG: the only types these tags take


def _tiff(data) -> ImageHeader:
    endian = "<" if bytes(data[:2]) == b"II" else ">"
    _need(data, 8, "TIFF header")
    (ifd,) = struct.unpack(endian + "I", bytes(data[4:8]))
    _need(data, ifd + 2, "TIFF directory")
    (count,) = struct.unpack(endian + "H", bytes(data[ifd : ifd + 2]))
    values: dict[int, list[int]] = {}
    for i in range(count):
        entry = ifd + 2 + 12 * i
        _need(data, entry + 12, "TIFF directory")
        tag, kind, n = struct.unpack(endian + "HHI", bytes(data[entry : entry + 8]))
        if tag not in (_TIFF_WIDTH, _TIFF_LENGTH, _TIFF_BITS, _TIFF_SAMPLES):
            continue
        if tag in values:
            # libtiff and this reader would each keep a different one of the values: refuse, whatever they say
            raise HeaderError(f"TIFF declares tag {tag} twice (ambiguous header, damaged or crafted file)")
        if kind not in _TIFF_TYPE_SIZES:
            raise HeaderError(f"TIFF tag {tag} of unexpected type {kind} (damaged file)")
        if not 1 <= n <= (64 if tag == _TIFF_BITS else 1):
            raise HeaderError(f"TIFF tag {tag} with {n} values (damaged file)")
        size = _TIFF_TYPE_SIZES[kind]
        start = entry + 8
        if n * size > 4:  # the values do not fit the entry: it holds their offset
            (start,) = struct.unpack(endian + "I", bytes(data[entry + 8 : entry + 12]))
        _need(data, start + n * size, "TIFF directory")
        code = endian + ("H" if size == 2 else "I") * n
        values[tag] = list(struct.unpack(code, bytes(data[start : start + n * size])))
    if _TIFF_WIDTH not in values or _TIFF_LENGTH not in values:
        raise HeaderError("TIFF without an image width and height (damaged file)")
    bits = max(values.get(_TIFF_BITS, [1]))
    samples = values.get(_TIFF_SAMPLES, [1])[0]
    if not 1 <= bits <= 64 or not 1 <= samples <= 64:
        raise HeaderError(f"TIFF with {samples} samples of {bits} bits per pixel (damaged file)")
    # OpenCV gives 1, 3 or 4 channels of 8, 16, 32 or 64 bits; more samples are read and dropped
    bytes_per_pixel = max(samples, 4) * (1 if bits <= 8 else 2 if bits <= 16 else 4 if bits <= 32 else 8)
    return ImageHeader("tiff", values[_TIFF_WIDTH][0], values[_TIFF_LENGTH][0], bytes_per_pixel)
