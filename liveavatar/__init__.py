"""LiveAvatar: animate any portrait with your face, live.

The core package imports no Qt, no engine runtime and no mediapipe at import time, so
`import liveavatar` works on a bare CPU machine.
"""

__version__ = "0.1.0"

import os as _os

# `import cv2` (OpenCV's wheels) overwrites these two with its own Qt 5 folders, which Qt 6 then searches
# first. They are noted here, before any module imports cv2, so the desktop app can restore the user's.
QT_ENV_AT_IMPORT = {name: _os.environ.get(name) for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")}


def _arm_opencv_pixel_cap() -> None:
    """OpenCV's own pixel cap (OPENCV_IO_MAX_IMAGE_PIXELS, 2³⁰ by default) set to ours: a second wall behind
    liveavatar.files.imageio's header check, should a header ever say one thing to us and another to OpenCV.
    OpenCV reads the variable once, when cv2 is imported, hence here. A value the user set is kept; a bad
    LIVEAVATAR_MAX_IMAGE_MEGAPIXELS falls back to the default here (imageio.max_pixels reports it)."""
    try:
        megapixels = float(_os.environ.get("LIVEAVATAR_MAX_IMAGE_MEGAPIXELS", "").strip() or 50.0)
    except ValueError:
        megapixels = 50.0
    if not 0 < megapixels <= 10_000:
        megapixels = 50.0
    _os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(int(megapixels * 1_000_000)))


_arm_opencv_pixel_cap()

# numpy's OpenBLAS keeps a thread per core that spins after every call, however small (a 3×3 product, the
# retargeting's Procrustes SVD, the driver's-mouth colour map): the live path makes dozens a frame from its
# processing and compose threads, and on 2 cores the spinning took a core from ONNX Runtime (the frame graph
# 18.5 → 32 ms, latency p95 49 → 107 ms at 720p, docs/PERFORMANCE.md). Nothing here needs a threaded BLAS
# (torch has its own pool). Read once, when numpy is first imported, hence here; a value the user set is kept.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
