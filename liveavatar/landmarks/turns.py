"""How far a portrait's head may turn: the driver's yaw and pitch, limited to what warping a photo can show.

The retargeter turns the portrait's points as a head turns (its depth borrowed from the driver's tracked mesh),
and the warp moves the portrait's pixels to them. A photo holds one side of a head: past about 30 degrees
from where it was taken, the far cheek is squeezed to a sliver and the mouth's far corner passes the face's
outline; the warp then folded the face over itself, and the driver's own mouth was laid outside the face, on
the background (a driver turning 44 degrees, metrical_tracker_wojtek at frame 172, on Barack Obama, Angelina
Jolie, the Mona Lisa and the Girl with a Pearl Earring; docs/EXPRESSION.md, "Head turns a photo can show").
A portrait that is already turned (the Girl with a Pearl Earring by about 34 degrees, Angelina Jolie by 22)
reaches that point sooner on the side it faces away to, and turned back towards the camera shows the side of
its face the photo holds least of, stretched from a sliver (a bulging cheek, a sheared eye).

So the rotation carried over is limited softly (a turn within half its room is carried whole, a larger one
approaches the limit as a tanh and stops there): yaw and pitch each to about TURN degrees; the yaw away from
the camera further, so the portrait faces at most FACING degrees away from it (or as far as it did in its
photo, if that is more: a limit never turns a face at rest); and the yaw towards the camera less the more
the portrait is turned (MIN_ROOM at REVEAL degrees, the least any portrait keeps either way). The
portrait's own yaw is how far the driver's neutral is turned from the camera (facing_yaw: its left and
right points' depths) plus the turn that best lays the neutral onto the portrait's points (portrait_yaw): a
driver sitting at an angle to the camera does not make a frontal portrait "turned". Roll turns the face in
the image plane, which the warp shows exactly: not limited.

Rotation vectors are radians in the driver camera's axes (x right, y down, z away from the camera): the
y component is yaw, x pitch, z roll.
"""

from __future__ import annotations

import math

import numpy as np

TURN = 30.0  # degrees: yaw and pitch carried over approach this
FACING = 35.0  # degrees: how far from facing the camera a portrait may turn away (its own yaw, if more)
# Turning towards the camera shows the side of the face the photo saw least, stretched from the sliver it
# holds: the yaw room that way shrinks with the portrait's own yaw, to MIN_ROOM at REVEAL degrees.
REVEAL = 30.0
# Every portrait may turn this much either way, however turned its photo: small turns are what a face on a call
# makes all the time, and a portrait that never turned looked pinned (the Girl with a Pearl Earring, 34 degrees
# turned, would not turn towards the camera at all). 10 degrees already bulged her far cheek and Van Gogh's.
MIN_ROOM = 6.0
# A turn within this share of its room is carried whole: a plain tanh already took 15 degrees to 11 within a
# room of 14 (the Mona Lisa's towards the camera), and on turned paintings the gaze a tracker reads (part head
# turn) followed a driver who glances less (mediapipe's gaze range 0.62 -> 0.59 of the driver's).
KNEE = 0.5
# The points the portrait's yaw is fitted on: jaw outline, brows, nose and eye corners (not the lids or lips,
# which an expression moves).
FIT_POINTS = np.r_[0:36, 36, 39, 42, 45]
FIT_STEP = 1.0  # degrees between the yaws tried
FIT_RANGE = 75.0  # degrees either way
# Left-right pairs of the 68 points (image-left first when facing the camera): a face facing the camera holds
# each pair at one depth; turned, the pair's depth difference against its width is the turn's tangent.
MIRROR_PAIRS = np.array([(0, 16), (2, 14), (4, 12), (17, 26), (36, 45), (39, 42), (31, 35), (48, 54)])


def facing_yaw(points: np.ndarray) -> float:
    """How far (yaw, radians, the sign portrait_yaw's turns have) a tracked face (68×3, depth from the
    tracker's mesh) is turned from facing the camera; 0 without depth. (The neutral's check in calibration.py
    reads the eye line alone, for its message; here all the mirror pairs, for a steadier angle.)"""
    p = np.asarray(points, np.float64)
    d = p[MIRROR_PAIRS[:, 1]] - p[MIRROR_PAIRS[:, 0]]
    return math.atan2(-float(d[:, 2].sum()), float(np.hypot(d[:, 0], d[:, 1]).sum()))


def portrait_yaw(neutral: np.ndarray, portrait: np.ndarray) -> float:
    """The yaw (radians) that, applied to the driver's neutral (68×3, depth from the tracker's mesh), best
    matches the portrait's points (68×2) up to a 2D similarity; 0 when the neutral has no depth (a scripted
    driver, whose turns are in-plane)."""
    n = np.asarray(neutral, np.float64)[FIT_POINTS]
    if np.ptp(n[:, 2]) <= 0:
        return 0.0
    n = n - n.mean(0)
    target = np.asarray(portrait, np.float64)[FIT_POINTS]
    target = target - target.mean(0)
    angles = np.radians(np.arange(-FIT_RANGE, FIT_RANGE + FIT_STEP / 2, FIT_STEP))
    # the neutral turned by each yaw and projected (x' = x cos + z sin, y' = y), as complex numbers x + iy
    src = n[:, 0] * np.cos(angles)[:, None] + n[:, 2] * np.sin(angles)[:, None] + 1j * n[:, 1]
    # the best 2D similarity onto the target per yaw, in closed form (complex least squares), and its residual
    dst = target[:, 0] + 1j * target[:, 1]
    energy = (np.abs(src) ** 2).sum(1)
    scale = (np.conj(src) * dst).sum(1) / np.maximum(energy, 1e-12)  # complex: the similarity's scale and angle
    residual = (np.abs(dst[None] - scale[:, None] * src) ** 2).sum(1) / np.maximum(np.abs(scale) ** 2, 1e-12)
    return float(angles[int(np.argmin(residual))])


def _soft(angle: float, room: float) -> float:
    """angle (radians) carried 1:1 up to KNEE of the room, then approaching ±room (radians) as a tanh, with no
    kink; 0 when there is no room."""
    if room <= 1e-6:
        return 0.0
    knee = KNEE * room
    size = abs(angle)
    if size <= knee:
        return angle
    return math.copysign(knee + (room - knee) * math.tanh((size - knee) / (room - knee)), angle)


def limit_turn(
    rotation: np.ndarray,
    own_yaw: float,
    turn: float = TURN,
    facing: float = FACING,
    reveal: float = REVEAL,
    least: float = MIN_ROOM,
) -> np.ndarray:
    """The rotation vector (3, radians) with its pitch and yaw limited (module docstring) for a portrait
    whose own yaw is own_yaw (radians); turn, facing, reveal and least (the yaw room a portrait keeps either
    way, however turned) in degrees."""
    out = np.array(rotation, np.float64)
    limit = math.radians(turn)
    out[0] = _soft(float(out[0]), limit)
    yaw = float(out[1])
    away = yaw * own_yaw > 0
    if away:
        room = min(limit, max(math.radians(facing) - abs(own_yaw), 0.0))
    else:
        room = limit * max(1.0 - abs(own_yaw) / math.radians(reveal), 0.0)
    out[1] = _soft(yaw, max(room, min(math.radians(least), limit)))
    return out
