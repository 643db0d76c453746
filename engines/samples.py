"""Landmark images to check and time engines on: real faces when possible, a real face's geometry otherwise.

Parity and speed are measured on what the live path feeds the generator: landmark images drawn by THE
rasterizer from real faces (mediapipe on the portraits in shared data, cropped by face_crop). Where
mediapipe or the portraits are missing (a GPU box, a fresh install), the images come from TEMPLATE_68, the
mean 68 points of 12 real photos measured that way, animated by the scripted performance (turns, nods,
blinks, mouth) so the frames still differ from one another.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

PORTRAIT_SUFFIXES = (".jpg", ".jpeg", ".png")

# Mean landmarks of 12 photos from shared/data/portraits (mediapipe → mesh_to_68 → face_crop), as fractions
# of the crop side: where a real face sits in the crops every model is trained and run on.
TEMPLATE_68 = np.array(
    [
        (0.241, 0.378), (0.242, 0.484), (0.246, 0.538), (0.273, 0.655), (0.298, 0.703), (0.327, 0.739),
        (0.395, 0.793), (0.463, 0.826), (0.510, 0.830), (0.556, 0.824), (0.622, 0.789), (0.684, 0.733),
        (0.710, 0.696), (0.732, 0.647), (0.753, 0.530), (0.756, 0.477), (0.755, 0.370), (0.285, 0.367),
        (0.308, 0.347), (0.345, 0.336), (0.392, 0.338), (0.446, 0.343), (0.556, 0.341), (0.609, 0.334),
        (0.655, 0.331), (0.691, 0.341), (0.714, 0.361), (0.502, 0.406), (0.504, 0.465), (0.506, 0.520),
        (0.507, 0.554), (0.456, 0.581), (0.477, 0.597), (0.507, 0.598), (0.536, 0.596), (0.556, 0.580),
        (0.330, 0.420), (0.355, 0.405), (0.396, 0.402), (0.437, 0.426), (0.404, 0.433), (0.364, 0.433),
        (0.566, 0.424), (0.606, 0.398), (0.647, 0.400), (0.671, 0.414), (0.639, 0.428), (0.600, 0.430),
        (0.401, 0.660), (0.445, 0.647), (0.477, 0.643), (0.508, 0.647), (0.538, 0.642), (0.569, 0.645),
        (0.612, 0.657), (0.586, 0.685), (0.539, 0.711), (0.509, 0.714), (0.478, 0.712), (0.429, 0.687),
        (0.414, 0.660), (0.483, 0.664), (0.508, 0.665), (0.532, 0.663), (0.599, 0.657), (0.534, 0.680),
        (0.508, 0.681), (0.482, 0.680),
    ],
    dtype=np.float32,
)  # fmt: skip


@dataclass(frozen=True)
class LandmarkSamples:
    images: np.ndarray  # N×S×S×3 uint8 RGB landmark images
    crops: np.ndarray | None  # N×S×S×3 uint8 RGB face crops the images were drawn from (None: synthetic)
    source: str  # one line for reports: "6 real faces from …" or "synthetic (why)"
    points: np.ndarray | None = None  # N×68×2 float32 crop pixels the images were drawn from

    @property
    def real(self) -> bool:
        return self.crops is not None


def default_portraits_dir() -> Path | None:
    """The shared portraits, if this checkout sits next to them (LIVEAVATAR_SHARED_DATA overrides)."""
    env = os.environ.get("LIVEAVATAR_SHARED_DATA")
    root = Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"
    folder = root / "portraits"
    return folder if folder.is_dir() else None


def synthetic_points(size: int, count: int) -> np.ndarray:
    """count × 68×2 float32 crop pixels: the template face through the scripted performance's loop."""
    from liveavatar.landmarks.scripted import ScriptedPerformance
    from liveavatar.types import FaceLandmarks

    base = FaceLandmarks(points68=TEMPLATE_68 * size, image_size=(size, size))
    performance = ScriptedPerformance(base, fps=25.0)
    step = max(1, len(performance) // max(count, 1))
    return np.stack([performance.frame(i * step).points68 for i in range(count)]).astype(np.float32)


def synthetic_landmark_images(size: int, count: int) -> np.ndarray:
    """count × size×size×3 uint8 RGB: the template face through the scripted performance's loop."""
    from liveavatar.render.rasterize import rasterize_landmarks

    return np.stack([rasterize_landmarks(points, size) for points in synthetic_points(size, count)])


def real_landmark_samples(size: int, count: int, portraits_dir: Path) -> LandmarkSamples:
    """Landmark images of the first `count` portraits (sorted by name) in which mediapipe finds a face.

    Portraits without a detectable face are passed over. Raises ImportError without mediapipe and
    LookupError when no portrait has a face.
    """
    from liveavatar.errors import LiveAvatarError
    from liveavatar.files.imageio import read_image
    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.render.align import face_crop
    from liveavatar.render.rasterize import rasterize_landmarks

    paths = sorted(p for p in portraits_dir.iterdir() if p.suffix.lower() in PORTRAIT_SUFFIXES)
    images: list[np.ndarray] = []
    crops: list[np.ndarray] = []
    points: list[np.ndarray] = []
    with FaceTracker("image", max_faces=1) as tracker:
        for path in paths:
            if len(images) == count:
                break
            try:
                portrait = read_image(path)
            except LiveAvatarError:
                continue
            found = tracker.track(portrait)
            if found.landmarks is None:
                continue
            crop = face_crop(found.landmarks.points68, size)
            points.append(crop.points_to_crop(found.landmarks.points68).astype(np.float32))
            images.append(rasterize_landmarks(points[-1], size))
            crops.append(crop.warp(portrait))
    if not images:
        raise LookupError(f"no face found in the portraits of {portraits_dir}")
    source = f"{len(images)} real faces from {portraits_dir}"
    return LandmarkSamples(np.stack(images), np.stack(crops), source, np.stack(points))


def landmark_samples(size: int, count: int, portraits_dir: Path | None = None) -> LandmarkSamples:
    """Real landmark images when mediapipe and portraits are at hand, else synthetic ones, saying why."""
    from liveavatar.render.rasterize import rasterize_landmarks

    folder = portraits_dir or default_portraits_dir()
    if folder is None:
        why = "no portraits folder (set LIVEAVATAR_SHARED_DATA)"
    else:
        try:
            return real_landmark_samples(size, count, folder)
        except ImportError as exc:
            why = f"mediapipe is not installed ({exc.name})"
        except LookupError as exc:
            why = str(exc)
    points = synthetic_points(size, count)
    images = np.stack([rasterize_landmarks(p, size) for p in points])
    return LandmarkSamples(images, None, f"{count} synthetic landmark images (real-face template; {why})", points)


def smooth_texture(size: int) -> np.ndarray:
    """A deterministic S×S×3 uint8 RGB texture without edges, for parity checks without a real face: where a
    texture has sharp edges, float round-off in the sampling grid alone moves a pixel by many levels."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    channels = [np.sin(2 * np.pi * (x + k / 3)) * np.cos(2 * np.pi * (y - k / 5)) for k in range(3)]
    return np.ascontiguousarray((127.5 + 100 * np.stack(channels, axis=-1)).round().astype(np.uint8))
