"""Reading and writing still images at the user boundary, with errors that name the file and the problem.

Everything returned is H×W×3 uint8 RGB (OpenCV reads BGR; the conversion happens here and only here for
stills). Images with an alpha channel are composited on white, greyscale is expanded to three channels.

Every image a user gives and every portrait embedded in an avatar file goes through `decode_image`, which
reads the declared size from the header first (liveavatar.files.imageheader) and refuses more than
MAX_MEGAPIXELS (50 MP, raised with the LIVEAVATAR_MAX_IMAGE_MEGAPIXELS environment variable) before
OpenCV allocates anything; images deeper than 8 bits get the same decoded bytes (4 per pixel of the cap),
not the same pixels. OpenCV's own cap is set to ours as a second wall (liveavatar/__init__.py, before
anything imports cv2). Decoding then costs about 8 bytes
per pixel of the cap at most (the decoded image plus the RGB result; 16-bit values are narrowed and alpha
is composited in uint16 integer arithmetic, a band of rows at a time).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from liveavatar.errors import InputError
from liveavatar.files.imageheader import HeaderError, read_header

IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"})  # THE list: sources, gallery
MAX_MEGAPIXELS = 50.0
MAX_MEGAPIXELS_ENV = "LIVEAVATAR_MAX_IMAGE_MEGAPIXELS"
MAX_FILE_BYTES = 512 * 1024 * 1024  # larger than any photograph; reading it whole would be the problem
_BAND_ROWS = 512  # rows composited at a time: bounds the uint16 temporaries
_CAP_BYTES_PER_PIXEL = 4  # the pixel cap is of 8-bit RGBA: deeper images get as many decoded bytes, not pixels


def max_pixels() -> int:
    """The pixel cap: MAX_MEGAPIXELS, or the user's LIVEAVATAR_MAX_IMAGE_MEGAPIXELS."""
    text = os.environ.get(MAX_MEGAPIXELS_ENV, "").strip()
    if not text:
        return int(MAX_MEGAPIXELS * 1_000_000)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value <= 10_000:
        raise InputError(f"{MAX_MEGAPIXELS_ENV}={text!r} is not a number of megapixels in (0, 10000]; e.g. 120")
    return int(value * 1_000_000)


def read_image(path: str | Path) -> np.ndarray:
    """The image at `path` as H×W×3 uint8 RGB; InputError naming the file for anything it refuses."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not an image")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise InputError(f"{path}: a {size / 2**20:.0f} MB file is not a portrait; use a JPEG or PNG under 512 MB")
    try:
        data = np.fromfile(str(path), dtype=np.uint8)  # np.fromfile + imdecode also handles non-ASCII paths
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    return decode_image(data, str(path))


def decode_image(data: np.ndarray | bytes, what: str) -> np.ndarray:
    """Encoded image bytes (1-D uint8) → H×W×3 uint8 RGB, refusing anything over the pixel cap from its
    header, before decoding. `what` names the image in errors (a path, "the portrait in x.avatar")."""
    import cv2

    data = np.frombuffer(data, np.uint8) if isinstance(data, bytes) else np.ascontiguousarray(data, np.uint8)
    if data.size == 0:
        raise InputError(f"{what}: empty file; use a JPEG or PNG photo or painting")
    try:
        header = read_header(data.reshape(-1).data)  # the array's bytes, not a copy
    except HeaderError as exc:
        raise InputError(f"{what}: not an image LiveAvatar can read ({exc}); use a JPEG or PNG photo") from None
    cap = max_pixels()
    if header.pixels > cap:
        raise InputError(
            f"{what}: declares {header.width}×{header.height} pixels ({header.pixels / 1e6:.0f} MP), more than the "
            f"{cap / 1e6:.0f} MP LiveAvatar decodes; use a smaller image or raise {MAX_MEGAPIXELS_ENV}"
        )
    if header.pixels * header.bytes_per_pixel > cap * _CAP_BYTES_PER_PIXEL:
        # 16- and 32/64-bit images: the cap is on decoded bytes, as many as the cap's pixels of 8-bit RGBA
        raise InputError(
            f"{what}: declares {header.width}×{header.height} pixels of {header.bytes_per_pixel} bytes each "
            f"({header.pixels * header.bytes_per_pixel / 2**20:.0f} MB decoded), more than the "
            f"{cap * _CAP_BYTES_PER_PIXEL / 2**20:.0f} MB LiveAvatar decodes; save it as an 8-bit JPEG or PNG, "
            f"or raise {MAX_MEGAPIXELS_ENV}"
        )
    try:
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        message = str(exc).strip().splitlines()[-1] if str(exc).strip() else "decoder error"
        raise InputError(f"{what}: OpenCV cannot decode it ({message}); use a JPEG or PNG photo") from None
    if image is None or image.size == 0:
        raise InputError(
            f"{what}: a damaged {header.format.upper()} OpenCV cannot decode; use a JPEG or PNG photo or painting"
        )
    if image.shape[0] * image.shape[1] > cap:  # a header that lied: OpenCV decoded more than declared
        raise InputError(f"{what}: decodes to more than {cap / 1e6:.0f} MP; use a smaller image")
    return _to_rgb8(image)


def _to_rgb8(image: np.ndarray) -> np.ndarray:
    """OpenCV's H×W, H×W×3 BGR or H×W×4 BGRA, of any depth → H×W×3 uint8 RGB."""
    import cv2

    if image.dtype == np.uint16:  # the high byte: 16-bit PNG/TIFF keep their tones; in bands, no full-size temporary
        high = np.empty(image.shape, np.uint8)
        for top in range(0, image.shape[0], _BAND_ROWS):
            high[top : top + _BAND_ROWS] = image[top : top + _BAND_ROWS] >> 8
        image = high
    elif image.dtype != np.uint8:
        image = cv2.convertScaleAbs(image, alpha=255.0 / max(float(np.max(image)), 1.0))
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 1:
        return cv2.cvtColor(image[:, :, 0], cv2.COLOR_GRAY2RGB)
    if image.shape[2] == 4:
        return _composite_on_white(image)
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)


def _composite_on_white(bgra: np.ndarray) -> np.ndarray:
    """H×W×4 uint8 BGRA over white → H×W×3 uint8 RGB, rounded: (c·a + 255·(255 − a) + 127) // 255.

    The largest sum is 255·255 + 127 = 65152, so uint16 holds it exactly; a band of rows at a time keeps
    the temporaries small (float32 compositing cost ~36 bytes per pixel: a 500 KB PNG took 4.7 GB).
    """
    height, width = bgra.shape[:2]
    rgb = np.empty((height, width, 3), np.uint8)
    for top in range(0, height, _BAND_ROWS):
        band = bgra[top : top + _BAND_ROWS]
        alpha = band[:, :, 3]
        white = (255 - alpha).astype(np.uint16)
        white *= 255
        white += 127
        for bgr_channel, rgb_channel in ((0, 2), (1, 1), (2, 0)):
            mixed = band[:, :, bgr_channel].astype(np.uint16)
            mixed *= alpha
            mixed += white
            mixed //= 255
            rgb[top : top + _BAND_ROWS, :, rgb_channel] = mixed
    return rgb


def write_image(path: str | Path, image_rgb: np.ndarray) -> None:
    import cv2

    path = Path(path)
    ok, encoded = cv2.imencode(path.suffix or ".png", cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise InputError(f"{path}: cannot encode an image with this extension")
    path.write_bytes(encoded.tobytes())  # not ndarray.tofile: a full disk must be an OSError with its errno
