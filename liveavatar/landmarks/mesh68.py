"""The 468-point mediapipe face mesh → the paper's 68-point iBUG/dlib layout, and the parts drawn from it.

The 68-point layout (0-based): jaw 0-16 (from the subject's right ear, i.e. the image's left for a frontal
face, along the chin to the left ear), right brow 17-21, left brow 22-26, nose bridge 27-30 (nasion to tip),
nostrils 31-35, right eye 36-41, left eye 42-47 (each from the outer/inner corner along the upper lid and
back along the lower lid), outer lip 48-59, inner lip 60-67 (each clockwise from the right mouth corner).
"Right" and "left" are the subject's, as in iBUG.

The correspondence is the one widely circulated with mediapipe face mesh (google/mediapipe issue #1615 and
many projects since), with two symmetric corrections checked on photos: the brow ends use mesh 70/300,
which lie on the brow, instead of 71/301, which lie on the forehead beyond it; and lower-lip points 55/59
use mesh 321/91 so the lower lip is sampled evenly like iBUG's, instead of 405/181, which bunch next to
56/58 and leave a long straight chord to each corner.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import numpy as np

MESH_POINTS = 468

# fmt: off
MESH_TO_68: tuple[int, ...] = (
    # jaw 0-16: ear to ear along the chin
    162, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 389,
    # right brow 17-21, left brow 22-26 (upper edge, outer → inner, then inner → outer)
    70, 63, 105, 66, 107,
    336, 296, 334, 293, 300,
    # nose bridge 27-30 (nasion → tip), nostrils 31-35 (right ala → subnasale → left ala)
    168, 197, 5, 4,
    75, 97, 2, 326, 305,
    # right eye 36-41 (outer corner, upper lid, inner corner, lower lid)
    33, 160, 158, 133, 153, 144,
    # left eye 42-47 (inner corner, upper lid, outer corner, lower lid)
    362, 385, 387, 263, 373, 380,
    # outer lip 48-59 (right corner, upper lip, left corner, lower lip)
    61, 39, 37, 0, 267, 269, 291, 321, 314, 17, 84, 91,
    # inner lip 60-67 (right corner, upper lip, left corner, lower lip)
    78, 82, 13, 312, 308, 317, 14, 87,
)
# fmt: on

_INDEX = np.asarray(MESH_TO_68, dtype=np.intp)


class Part(NamedTuple):
    """One facial part of the 68-point layout: which points, whether the polyline closes, its RGB colour."""

    indices: range
    closed: bool
    colour: tuple[int, int, int]


# Drawing order matters where parts touch (eyes and lips last, so their contours stay intact).
# Colours are RGB and pairwise distinct, so each part can be told apart in a landmark image.
PARTS: Mapping[str, Part] = MappingProxyType(
    {
        "jaw": Part(range(0, 17), False, (255, 255, 255)),
        "right_brow": Part(range(17, 22), False, (255, 128, 0)),
        "left_brow": Part(range(22, 27), False, (255, 255, 0)),
        "nose_bridge": Part(range(27, 31), False, (0, 0, 255)),
        "nostrils": Part(range(31, 36), False, (0, 160, 255)),
        "right_eye": Part(range(36, 42), True, (255, 0, 0)),
        "left_eye": Part(range(42, 48), True, (0, 255, 0)),
        "outer_lip": Part(range(48, 60), True, (255, 0, 255)),
        "inner_lip": Part(range(60, 68), True, (0, 255, 160)),
    }
)


def mesh_to_68(mesh: np.ndarray) -> np.ndarray:
    """Selects the 68 iBUG points from a face mesh.

    mesh: 468×2 or 468×3 (x, y[, z]) in pixels. Returns 68×2 float32 (x, y) in the same pixels.
    """
    if mesh.ndim != 2 or mesh.shape[0] != MESH_POINTS or mesh.shape[1] not in (2, 3):
        raise ValueError(f"expected a {MESH_POINTS}×2 or {MESH_POINTS}×3 face mesh, got shape {mesh.shape}")
    return np.ascontiguousarray(mesh[_INDEX, :2], dtype=np.float32)
