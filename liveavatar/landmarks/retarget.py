"""Retargeting: the driver's motion, not the driver's face, applied to the portrait's own landmarks.

Feeding a portrait's generator with the driver's landmarks as they are (the paper's setting, "absolute"
mode) makes the portrait take on the driver's face shape: jaw width, eye spacing, nose length. Here the
driver is measured against a neutral reference of the driver (captured at start and on calibrate()), and
only the change is transferred, in two steps so pose and expression can be smoothed and scaled apart:

measure() (driver → Motion):
1. Head pose: a similarity (Umeyama) from the neutral's rigid points (upper jaw near the ears, nose,
   eye corners) to the current frame's gives scale s, rotation R and the centroid's translation. With the
   tracker's mesh, points carry depth and R is a full 3D rotation (yaw, pitch, roll); without (scripted
   driver) it is the in-plane rotation.
2. Expression: the current frame with the head pose undone, minus the neutral: a per-point residual in
   the neutral's frame (a blink, an open mouth, a raised brow); likewise the iris centres when tracked.
   The mouth's opening alone has its own zero (mouth_rest): a neutral captured with the mouth open
   would otherwise make that opening the avatar's closed mouth for the whole session. The opening is
   measured from a closed mouth's: at first from MOUTH_CLOSED_GAP (the most a tracker reads closed lips
   as), so a neutral captured mid-sentence opens the avatar's mouth as far as the driver's is open from
   its first frame; then, once the driver's inner lips come closer still, from the most closed mouth
   seen. The lips and jaw points move back along the neutral's down axis by the rest's closing, each by
   its share of a mouth opening (MOUTH_OPENING_SHARE). Widths, smiles and everything else stay relative
   to the neutral. The lids' open gap has its own zero too (eye rest): a neutral captured while the eyes
   were closing (a blink) would otherwise make every open frame after it read wider than the neutral, and
   the avatar stare for the whole session. Over the first EYE_REST_FRAMES frames the median openness seen
   so far, when clearly wider than the neutral's (EYE_REST_WIDER), becomes the open gap, reached by a
   factor of at most EYE_REST_STEP a frame: each lid pair's gap is divided by it, about the pair's
   midpoint. The median is over the open frames; until EYE_REST_MIN of them are in, the eyes open no wider
   than the neutral's.

apply() (Motion, ExpressionControls → portrait points):
3. The neutral is mapped onto the portrait by a 2D similarity (scale k, rotation Φ) fitted on the same
   rigid points; the residuals are carried through it, scaled by each part's gain, and across by how wide
   that part is on the portrait relative to the driver (a portrait with a wider mouth smiles wider),
   clamped to [0.5, 2]. Up and down, motion is carried in face units (k alone): a closed mouth opens as
   far, relative to the face, as the driver's.
4. Eyelids are carried as a ratio, not a distance: each eye's lid gap is the portrait's own gap times the
   driver's openness (current gap / neutral gap), so a wide-eyed portrait closes fully when the driver
   blinks and a sleepy one does not invert.
5. Gaze: the driver's iris offset from its neutral, in eye widths along and across the eye, is placed on
   the portrait's eye, added to the portrait's own iris (target_irises; its eye's centre where the portrait
   has none). The warp keeps it inside the driven opening (liveavatar.landmarks.irises).
6. The portrait's points (given depth borrowed from the driver's neutral, scaled by k) are rotated by R
   (its rotation vector times the rotation gain, expressed in the portrait's axes) and scaled by s about
   their rigid centroid, moved by the mapped translation (both times the position gain, within limits),
   and projected orthographically.

When the driver is at the neutral the result is the portrait's landmarks exactly; the portrait's shape is
only ever deformed by motion. All points are 68×2 (x, y) pixels; the driver's in its camera image, the
portrait's in its avatar crop. Irises are 2×2 or 2×3 (subject's right eye first, as points 36-41).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.landmarks.mesh68 import MESH_TO_68
from liveavatar.landmarks.turns import FACING, MIN_ROOM, REVEAL, TURN, facing_yaw, limit_turn, portrait_yaw
from liveavatar.types import FaceLandmarks

# Points that move with the skull, not with expressions: jaw ends near the ears, nose, eye corners.
RIGID = np.array([0, 1, 2, 14, 15, 16, 27, 28, 29, 30, 31, 33, 35, 36, 39, 42, 45])
# Groups scaled together when expression residuals are carried onto the portrait.
PART_GROUPS: dict[str, np.ndarray] = {
    "jaw": np.arange(0, 17),
    "brows": np.arange(17, 27),
    "nose": np.arange(27, 36),
    "eyes": np.arange(36, 48),
    "mouth": np.arange(48, 68),
}
PART_SCALE_LIMITS = (0.5, 2.0)
# The points each expression gain moves. The jaw and nose follow the mouth (the chin drops as it opens).
GAIN_POINTS: dict[str, np.ndarray] = {
    "brows": np.arange(17, 27),
    "eyes": np.arange(36, 48),
    "mouth": np.r_[0:17, 27:36, 48:68],
}
# Upper/lower lid pairs of each eye (subject's right, left), and each eye's corners (outer/inner).
LID_PAIRS = (((37, 41), (38, 40)), ((43, 47), (44, 46)))
EYE_CORNERS = ((36, 39), (42, 45))
EYE_POINTS = (np.arange(36, 42), np.arange(42, 48))
INNER_LIP_PAIRS = ((61, 67), (62, 66), (63, 65))
# How far each point moves along the face's down axis when the inner lips part by 1 (0 for points that
# do not follow the mouth's opening). Regressed on mediapipe tracks of three clips (lp_d18, lp_d6, lp_d9:
# 288 frames, each against its most closed frame; r 0.8-0.97 for the moving points), then made symmetric
# and exact where it matters: the upper inner lip measured 0.02-0.03 (0 here), the lower 1.01-1.06 (1,
# so the inner lips' separation changes by exactly the opening). The lower outer lip moves slightly
# more than the inner (it rolls out), the chin less (0.67), the jaw outline less towards the ears, the
# mouth corners about a third.
MOUTH_OPENING_SHARE = np.zeros(68)
MOUTH_OPENING_SHARE[3:14] = [0.1, 0.2, 0.25, 0.4, 0.6, 0.65, 0.6, 0.4, 0.25, 0.2, 0.1]
MOUTH_OPENING_SHARE[[48, 54, 60, 64]] = 0.3
MOUTH_OPENING_SHARE[55:60] = [0.75, 1.1, 1.15, 1.1, 0.75]
MOUTH_OPENING_SHARE[65:68] = 1.0
# Inner-lip openings in eye distances (eye centres, as calibration.py). A neutral whose gap is under
# MOUTH_CLOSED_GAP has its mouth closed: mediapipe reads closed lips as 0.003-0.025 on the first frames
# of lp_d18, lp_d6, lp_d9 and followyouremoji (against 0.16-0.18 on two clips that start mid-sentence),
# and such a neutral keeps its zero; an open one's opening is measured from this gap until the driver's
# lips come closer still.
MOUTH_CLOSED_GAP = 0.05
# The eye rest (module docstring, step 2). A blink lasts 0.1-0.4 s and comes every 3-4 s, so a 5-frame
# capture catches part of one about one time in eight; started at the blinks of lp_blinkx2 the avatar's lids
# stayed 1.17-1.51x as open as the portrait's. Several shared clips start in a blink (pdfgc_vox_id01333,
# hellomeme_tiktok, lia_vox_man_grey, ffpp_519): their median openness over the 60 frames after a capture at
# frame 0 is 2.1-3.1 times the capture's, and the avatar stared at OPENNESS_MAX throughout. Blinks last up
# to 17 frames there, so the frames right after a capture can all be closed: the median runs over 2 s (at
# 30 fps) over the open frames only (over EYE_REST_SHUT of the neutral's gap), and is taken once EYE_REST_MIN
# of them are in; until then the lids open no wider than the neutral's (the rest is at least the widest frame
# seen), so the avatar does not stare while its rest is measured, and once it is known the rest glides to it
# rather than jumps. Over 114 shared clips started at
# frame 0 that median's quartiles are 0.96 / 1.02 / 1.12 (looking up opens the lids a little, looking down
# and smiling narrow them): only a median clearly wider moves the rest.
EYE_REST_FRAMES = 60
EYE_REST_MIN = 5
EYE_REST_WIDER = 1.15
EYE_REST_STEP = 1.2
EYE_REST_SHUT = 0.8  # a frame this open (of the neutral's gap) or less is closing, left out of the median
OPENNESS_MAX = 1.6  # a driver opening wide does not stretch a portrait's eyes beyond this
# mediapipe's lids rarely meet on a real blink: the gap bottoms out at ~this fraction of the open gap
# (measured in docs/EXPRESSION.md), so openness is rescaled to make that read as fully closed.
CLOSED_OPENNESS = 0.25
# Eyeball radius in eye widths (palpebral fissure ~30 mm, eyeball radius ~12 mm): turns an iris offset in
# eye widths into a gaze angle.
EYEBALL_RADIUS = 0.4


@dataclass(frozen=True)
class RetargetLimits:
    """Bounds on the head motion carried over, so a driver walking out of frame cannot push the face out
    of the crop: scale within [min_scale, max_scale]; translation at most max_shift × the crop size; and
    so a head turned further than a photo can show does not fold the face: yaw and pitch approach `turn`
    degrees, a portrait faces at most `facing` degrees away from the camera (or its own yaw if more), and
    turns towards it less the more it is turned, down to `least` degrees at `reveal` degrees of its own
    (liveavatar.landmarks.turns)."""

    min_scale: float = 0.7
    max_scale: float = 1.4
    max_shift: float = 0.25
    turn: float = TURN
    facing: float = FACING
    reveal: float = REVEAL
    least: float = MIN_ROOM


@dataclass(frozen=True)
class Motion:
    """The driver's motion relative to its neutral, before any gain.

    rotation: 3 (rotation vector, radians, driver camera axes); scale: head scale s; shift: 2 (driver
    pixels, the rigid centroid's move); residual: 68×3 expression in driver pixels, in the neutral's frame;
    iris_residual: 2×3 likewise for the iris centres, or None when irises are not tracked.
    """

    rotation: np.ndarray
    scale: float
    shift: np.ndarray
    residual: np.ndarray
    iris_residual: np.ndarray | None = None


@dataclass(frozen=True)
class Retargeted:
    """points: 68×2 float32 portrait landmarks (crop pixels); irises: 2×2 float32 iris centres or None."""

    points: np.ndarray
    irises: np.ndarray | None


def driver_points(landmarks: FaceLandmarks) -> np.ndarray:
    """68×3 (x, y, z) float64 of a driver frame: z from the tracker's mesh, 0 without one."""
    points = np.zeros((68, 3))
    points[:, :2] = landmarks.points68
    if landmarks.mesh is not None and landmarks.mesh.shape == (468, 3):
        points[:, 2] = landmarks.mesh[list(MESH_TO_68), 2]
    return points


def driver_irises(landmarks: FaceLandmarks) -> np.ndarray | None:
    """2×3 float64 iris centres (subject's right, left) of a driver frame, or None when not tracked."""
    if landmarks.irises is None:
        return None
    irises = np.zeros((2, 3))
    irises[:, : landmarks.irises.shape[1]] = landmarks.irises[:, :3]
    return irises


def umeyama(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares similarity dst ≈ s·R·src + t for N×d point sets (Umeyama 1991); R is a proper rotation."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    xs, xd = src - mu_s, dst - mu_d
    var_s = (xs**2).sum() / len(src)
    cov = xd.T @ xs / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    d = np.ones(src.shape[1])
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[-1] = -1
    r = u @ np.diag(d) @ vt
    s = float((sigma * d).sum() / var_s) if var_s > 0 else 1.0
    t = mu_d - s * r @ mu_s
    return s, r, t


def rotation_vector(r: np.ndarray) -> np.ndarray:
    """3×3 rotation → rotation vector (axis × angle, radians); heads never turn near 180°."""
    angle = math.acos(float(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0)))
    if angle < 1e-9:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / (2 * math.sin(angle))
    return axis * angle


def rotation_matrix(v: np.ndarray) -> np.ndarray:
    """Rotation vector → 3×3 rotation (Rodrigues)."""
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    x, y, z = np.asarray(v, np.float64) / angle
    k = np.array([[0, -z, y], [z, 0, -x], [-y, x, 0]])
    return np.eye(3) + math.sin(angle) * k + (1 - math.cos(angle)) * k @ k


def lip_opening(points: np.ndarray, down: np.ndarray) -> float:
    """Mean separation of the inner lip pairs (lower − upper) along `down` (a unit 2-vector): the mouth's
    opening in the points' pixels. points: 68×2+ (or a residual of them: then the opening's change)."""
    return float(np.mean([(points[lower, :2] - points[upper, :2]) @ down for upper, lower in INNER_LIP_PAIRS]))


def eye_openness(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Per eye (right, left): lid gap of `points` over that of `reference` (68×2+ each, same frame),
    measured along the reference's gap; 1 as open as the reference, 0 closed."""
    out = np.empty(2)
    for e, pairs in enumerate(LID_PAIRS):
        ratios = []
        for upper, lower in pairs:
            ref = reference[lower, :2] - reference[upper, :2]
            cur = points[lower, :2] - points[upper, :2]
            ratios.append(float(cur @ ref) / max(float(ref @ ref), 1e-9))
        out[e] = np.mean(ratios)
    return out


def eye_frames(points: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, float]]:
    """Per eye: (centre, unit axis along the eye, unit axis across it (down), width in pixels)."""
    frames = []
    for (a, b), idx in zip(EYE_CORNERS, EYE_POINTS, strict=True):
        along = points[b, :2] - points[a, :2]
        width = max(float(np.hypot(*along)), 1e-6)
        ax = along / width
        if ax[0] < 0:  # both eyes' axes point image-right so offsets compare across eyes
            ax = -ax
        frames.append((points[idx, :2].mean(0), ax, np.array([-ax[1], ax[0]]), width))
    return frames


def gaze_angles(points: np.ndarray, irises: np.ndarray) -> np.ndarray:
    """2×2 degrees (per eye: horizontal, vertical) of each iris's offset from its eye's centre, read as the
    rotation of an eyeball of radius EYEBALL_RADIUS eye widths. points: 68×2+, irises: 2×2+ (same pixels)."""
    out = np.empty((2, 2))
    for e, (centre, ax, ay, width) in enumerate(eye_frames(points)):
        offset = irises[e, :2] - centre
        u = np.clip(np.array([offset @ ax, offset @ ay]) / width / EYEBALL_RADIUS, -1.0, 1.0)
        out[e] = np.degrees(np.arcsin(u))
    return out


class Retargeter:
    """Maps driver frames onto a portrait's landmarks, relative to a neutral driver frame.

    target: the portrait's 68×2 landmarks (avatar crop pixels). crop_size: that crop's side (for limits).
    Call set_neutral() before the first __call__ (the runner does, from the first tracked frames).
    mouth_rest: the adaptive zero of the mouth's opening (module docstring, step 2); False measures the
    opening from the neutral, as before it existed. Stateful: measure() lowers the rest as the driver's
    mouth closes (and measures the eye rest over the first frames), so one Retargeter follows one driver
    stream in time order.
    """

    def __init__(
        self,
        target: np.ndarray,
        crop_size: int,
        limits: RetargetLimits | None = None,
        mouth_rest: bool = True,
        target_irises: np.ndarray | None = None,
    ) -> None:
        if target.shape != (68, 2):
            raise ValueError(f"target must be 68×2 landmarks, got {target.shape}")
        self.target = np.asarray(target, np.float64)
        # The portrait's iris centres (2×2 crop pixels, a NaN row where not found) or None: gaze is then
        # placed about each eye's centre.
        self.target_irises = None if target_irises is None else np.asarray(target_irises, np.float64)
        self.crop_size = crop_size
        self.limits = limits or RetargetLimits()
        self.mouth_rest = mouth_rest
        self._neutral: np.ndarray | None = None
        self._neutral_irises: np.ndarray | None = None
        self._rest_closing = 0.0
        self._own_yaw = 0.0  # the portrait's yaw from facing the camera (radians), estimated by set_neutral
        self._eye_seen: list[float] = []  # mean openness of both eyes on the frames measured so far (≤ EYE_REST_FRAMES)
        self._eye_target = 1.0  # the median's open gap (in the neutral's gaps) the rest glides to
        self._eye_engaged = False  # the median has been clearly wider than the neutral's
        self._eye_rest = 1.0  # the open gap in use: 1 until the eye rest says otherwise

    @property
    def neutral(self) -> np.ndarray | None:
        """The 68×3 neutral driver points in use (the array given to set_neutral), or None."""
        return self._neutral

    @property
    def own_yaw(self) -> float:
        """The portrait's own yaw from facing the camera (radians; 0 before set_neutral), estimated from the
        driver's neutral: what the turn limit reads (liveavatar.landmarks.turns)."""
        return self._own_yaw

    @property
    def face_radius(self) -> float:
        """RMS distance of the neutral's rigid points from their centroid (driver pixels): the lever arm
        that turns a head rotation (radians) into pixels, for smoothing pose and expression alike."""
        if self._neutral is None:
            return 1.0
        rigid = self._neutral[RIGID, :2]
        return max(float(np.sqrt(((rigid - rigid.mean(0)) ** 2).sum(1).mean())), 1e-6)

    def set_neutral(self, neutral: np.ndarray, irises: np.ndarray | None = None) -> None:
        """neutral: 68×3 driver points (driver_points), e.g. an average of a few calm frames; irises: the
        neutral's 2×3 iris centres (driver_irises) or None."""
        n = np.asarray(neutral, np.float64)
        if n.shape != (68, 3):
            raise ValueError(f"neutral must be 68×3 driver points, got {n.shape}")
        self._neutral = n
        self._neutral_irises = None if irises is None else np.asarray(irises, np.float64).reshape(2, 3)
        # The neutral → portrait similarity and the per-part scales only change with the neutral.
        k, phi, _ = umeyama(n[RIGID, :2], self.target[RIGID])
        self._k, self._phi = k, phi
        mapped = (k * (phi @ n[:, :2].T)).T
        self._part_scale = np.ones((68, 2))
        lo, hi = PART_SCALE_LIMITS
        for idx in PART_GROUPS.values():
            ext_p = np.ptp(self.target[idx], axis=0)
            ext_n = np.ptp(mapped[idx], axis=0)
            self._part_scale[idx] = np.clip(ext_p / np.maximum(ext_n, 1e-6), lo, hi)
        # Up and down, motion keeps face units: the mouth opens and the brows rise as far, relative to the
        # face, as the driver's, whatever the portrait's lip thickness or brow height at rest.
        self._part_scale[:, 1] = 1.0
        across = self.target[45] - self.target[36]
        self._down = np.array([-across[1], across[0]]) / max(float(np.hypot(*across)), 1e-6)
        depth = n[:, 2] - n[RIGID, 2].mean()
        self._portrait3 = np.column_stack([self.target, k * depth])
        # the portrait's own yaw from facing the camera (radians): the neutral's, and the turn from it to the portrait
        self._own_yaw = facing_yaw(n) + portrait_yaw(n, self.target)
        self._phi3 = np.eye(3)
        self._phi3[:2, :2] = phi
        if self._neutral_irises is not None:
            self._iris_depth = k * (self._neutral_irises[:, 2] - n[RIGID, 2].mean())
        # The mouth's opening, measured along the neutral's own down axis (driver pixels, neutral's frame).
        across_n = n[45, :2] - n[36, :2]
        self._neutral_down = np.array([-across_n[1], across_n[0]]) / max(float(np.hypot(*across_n)), 1e-6)
        self._neutral_opening = lip_opening(n, self._neutral_down)
        iod = float(np.linalg.norm(n[36:42, :2].mean(0) - n[42:48, :2].mean(0)))
        self._rest_adapts = self._neutral_opening > MOUTH_CLOSED_GAP * iod
        # how far (≤ 0, driver px) the rest's lips are closer than the neutral's: an open neutral starts at a
        # closed mouth's gap. Waiting for the driver to close first (as before) held the avatar's mouth shut
        # through the first words of a neutral captured mid-sentence, and under-opened it until then: mouth
        # r 0.80 → 0.86 on such a clip (dreamtalk_mead_w011, tools/measure_mouth.py's retargeted points).
        self._rest_closing = -(self._neutral_opening - MOUTH_CLOSED_GAP * iod) if self._rest_adapts else 0.0
        self._eye_seen = []
        self._eye_target = self._eye_rest = 1.0
        self._eye_engaged = False

    @property
    def mouth_rest_closing(self) -> float:
        """How much closer (driver pixels, in the neutral's frame; ≤ 0) the inner lips of the mouth's
        current rest are than the neutral's: 0 while the opening is still measured from the neutral."""
        return self._rest_closing

    @property
    def eye_rest(self) -> float:
        """The driver's open lid gap, in the neutral's: 1 unless the eye rest found the neutral's eyes
        narrower than the frames after it (a blink caught by the capture)."""
        return self._eye_rest

    def continue_rests(self, other: Retargeter) -> None:
        """Takes over the mouth rest and the eye rest `other` has found when both measure from the same
        neutral array.

        Both are the driver's, not the portrait's: switching avatars mid-session must not put the new
        avatar's mouth back on the open neutral until the driver happens to close again, nor measure the
        eye rest again."""
        if self._neutral is None or other.neutral is not self._neutral:
            return
        if self._rest_adapts:
            self._rest_closing = min(self._rest_closing, other.mouth_rest_closing)
        self._eye_seen = list(other._eye_seen)
        self._eye_target, self._eye_rest = other._eye_target, other.eye_rest
        self._eye_engaged = other._eye_engaged

    def measure(self, driver: np.ndarray, irises: np.ndarray | None = None) -> Motion:
        """driver: 68×3 points of the current frame (irises: its 2×3 iris centres) → Motion."""
        if self._neutral is None:
            raise RuntimeError("Retargeter.set_neutral must be called first")
        n = self._neutral
        d = np.asarray(driver, np.float64)
        three_d = bool(np.any(n[:, 2]) and np.any(d[:, 2]))
        dims = 3 if three_d else 2
        s, r, t = umeyama(n[RIGID, :dims], d[RIGID, :dims])
        # Undo the head pose: the current frame in the neutral's frame; the residual is the expression.
        undone = ((d[:, :dims] - t) @ r) / s
        residual = np.zeros((68, 3))
        residual[:, :dims] = undone - n[:, :dims]
        if self.mouth_rest:
            self._rebase_mouth(residual)
        self._rebase_lids(residual)
        r3 = np.eye(3)
        r3[:dims, :dims] = r
        shift = d[RIGID, :2].mean(0) - n[RIGID, :2].mean(0)
        iris_residual = None
        if irises is not None and self._neutral_irises is not None:
            iris_residual = np.zeros((2, 3))
            iris_residual[:, :dims] = ((np.asarray(irises, np.float64)[:, :dims] - t) @ r) / s
            iris_residual[:, :dims] -= self._neutral_irises[:, :dims]
        return Motion(rotation_vector(r3), s, shift, residual, iris_residual)

    def _rebase_mouth(self, residual: np.ndarray) -> None:
        """Moves the mouth's opening zero (in place on the 68×3 residual) to a closed mouth's: MOUTH_CLOSED_GAP
        at first, then the most closed mouth seen below it.

        Only a neutral whose lips are apart (MOUTH_CLOSED_GAP) has a closing to find; a closed neutral
        keeps the residual untouched, exactly as with mouth_rest off. The rest never goes past lips
        touching (a tracker's lips that cross on one frame must not exaggerate every later opening) and
        only ever lowers: opening the mouth again is motion to carry, not a new zero. Each mouth point
        then moves back by its share (MOUTH_OPENING_SHARE) of the rest's closing, along the neutral's
        down axis only, so a smile or pucker on the rest frame is not taken into the zero."""
        if not self._rest_adapts:
            return
        closing = lip_opening(residual, self._neutral_down)  # driver px; < 0 when closer than the neutral
        self._rest_closing = max(min(self._rest_closing, closing), -self._neutral_opening)
        residual[:, :2] -= np.outer(MOUTH_OPENING_SHARE * self._rest_closing, self._neutral_down)

    def _rebase_lids(self, residual: np.ndarray) -> None:
        """Measures the eye rest over the first EYE_REST_FRAMES frames and divides each lid pair's gap (in
        place on the 68×3 residual, about the pair's midpoint) by it. Openness is linear in the gap, so the
        driver's open frames read 1 again and a blink still closes."""
        n = self._neutral
        if len(self._eye_seen) < EYE_REST_FRAMES:
            openness = float(eye_openness(n[:, :2] + residual[:, :2], n[:, :2]).mean())
            self._eye_seen.append(openness)
            seen = np.array(self._eye_seen)
            # the open frames: a blink that goes on after the capture neither holds the median down nor, once
            # EYE_REST_MIN open frames are in, keeps it from telling
            opened = seen[seen >= EYE_REST_SHUT]
            median = float(np.median(opened)) if len(opened) else 1.0
            # Until the median tells (EYE_REST_MIN open frames; they only grow), the avatar's eyes open no
            # wider than the portrait's: a neutral caught mid-blink does not stare while its rest is measured.
            if len(opened) < EYE_REST_MIN and len(seen) < EYE_REST_FRAMES:
                self._eye_target = self._eye_rest = max(self._eye_rest, openness)
            else:
                # once engaged it follows the median down to 1, so a median hovering about the threshold
                # does not make the lids flicker between two rests
                self._eye_engaged = self._eye_engaged or median > EYE_REST_WIDER
                self._eye_target = max(median, 1.0) if self._eye_engaged else 1.0
        self._eye_rest *= float(np.clip(self._eye_target / self._eye_rest, 1 / EYE_REST_STEP, EYE_REST_STEP))
        if self._eye_rest == 1.0:
            return
        for pairs in LID_PAIRS:
            for upper, lower in pairs:
                gap = n[lower, :2] + residual[lower, :2] - n[upper, :2] - residual[upper, :2]
                excess = gap * (1 - 1 / self._eye_rest)
                residual[upper, :2] += excess / 2
                residual[lower, :2] -= excess / 2

    def apply(self, motion: Motion, controls: ExpressionControls | None = None) -> Retargeted:
        """Motion → portrait landmarks (and irises when the motion has them), with the controls' gains."""
        if self._neutral is None:
            raise RuntimeError("Retargeter.set_neutral must be called first")
        gain = (controls or ExpressionControls()).effective()
        residual = motion.residual
        expr = np.empty((68, 3))
        expr[:, :2] = self._part_scale * (self._k * (self._phi @ residual[:, :2].T)).T
        expr[:, 2] = self._k * residual[:, 2]
        for part, idx in GAIN_POINTS.items():
            expr[idx] *= gain[part]
        q = self._portrait3 + expr
        self._set_lids(q, expr, residual, gain["eyes"])
        self._keep_lips_apart(q)

        lim = self.limits
        s = float(np.clip(1 + gain["position"] * (motion.scale - 1), lim.min_scale, lim.max_scale))
        turned = gain["rotation"] * np.asarray(motion.rotation, np.float64)
        r3 = rotation_matrix(limit_turn(turned, self._own_yaw, lim.turn, lim.facing, lim.reveal, lim.least))
        centre = self._portrait3[RIGID].mean(0)
        r_p = self._phi3 @ r3 @ self._phi3.T  # the head rotation in the portrait's axes
        shift_p = gain["position"] * self._k * (self._phi @ motion.shift)
        max_shift = lim.max_shift * self.crop_size
        norm = float(np.hypot(*shift_p))
        if norm > max_shift:
            shift_p *= max_shift / norm

        def place(points3: np.ndarray) -> np.ndarray:
            return (centre + s * (points3 - centre) @ r_p.T)[:, :2] + shift_p

        irises = None
        if motion.iris_residual is not None and self._neutral_irises is not None:
            irises = place(self._portrait_irises(q, motion, gain["gaze"])).astype(np.float32)
        return Retargeted(place(q).astype(np.float32), irises)

    def _set_lids(self, q: np.ndarray, expr: np.ndarray, residual: np.ndarray, gain: float) -> None:
        """Replaces the lid points of q (68×3, in place) by the portrait's gap times the driver's openness,
        about the lids' midpoint moved by their mean (gained) residual."""
        n = self._neutral
        raw = eye_openness(n[:, :2] + residual[:, :2], n[:, :2])
        openness = np.clip((raw - CLOSED_OPENNESS) / (1 - CLOSED_OPENNESS), 0.0, OPENNESS_MAX)
        openness = np.clip(1 + gain * (openness - 1), 0.0, OPENNESS_MAX)
        p = self._portrait3
        for e, pairs in enumerate(LID_PAIRS):
            for upper, lower in pairs:
                mid = (p[upper, :2] + p[lower, :2]) / 2 + (expr[upper, :2] + expr[lower, :2]) / 2
                gap = p[lower, :2] - p[upper, :2]
                q[upper, :2] = mid - openness[e] * gap / 2
                q[lower, :2] = mid + openness[e] * gap / 2

    def _keep_lips_apart(self, q: np.ndarray) -> None:
        """A driver closing its mouth tighter than at its neutral must not push a closed-mouthed portrait's
        lips through each other: inner lip pairs that crossed (along the face's down axis) meet instead. A
        portrait whose lips already overlap at rest (a tracker's guess on a painting) may keep that overlap."""
        p = self._portrait3
        for upper, lower in INNER_LIP_PAIRS:
            floor = min(0.0, float((p[lower, :2] - p[upper, :2]) @ self._down))
            excess = float((q[lower, :2] - q[upper, :2]) @ self._down) - floor
            if excess < 0:
                q[upper, :2] += excess / 2 * self._down
                q[lower, :2] -= excess / 2 * self._down

    def _portrait_irises(self, q: np.ndarray, motion: Motion, gain: float) -> np.ndarray:
        """2×3 portrait iris centres before the head pose: the portrait's own iris (its eye's centre where it
        has none), moved with its eye, plus the driver's gaze offset (iris move relative to its eye, in eye
        widths) times the gain, on the portrait's eye axes."""
        n = self._neutral
        current = n[:, :2] + motion.residual[:, :2]
        now_irises = self._neutral_irises[:, :2] + motion.iris_residual[:, :2]
        out = np.zeros((2, 3))
        driver_now, driver_rest, portrait = eye_frames(current), eye_frames(n), eye_frames(q)
        rest = eye_frames(self._portrait3)
        for e in range(2):
            offsets = []
            for (centre, ax, ay, width), iris in (
                (driver_now[e], now_irises[e]),
                (driver_rest[e], self._neutral_irises[e, :2]),
            ):
                offsets.append(np.array([(iris - centre) @ ax, (iris - centre) @ ay]) / width)
            gaze = gain * (offsets[0] - offsets[1])
            centre, ax, ay, width = portrait[e]
            own = self.target_irises[e] if self.target_irises is not None else None
            if own is not None and np.isfinite(own).all():
                centre = centre + (own - rest[e][0])  # the portrait's iris, moved as its eye moves
            out[e, :2] = centre + (gaze[0] * ax + gaze[1] * ay) * width
            out[e, 2] = self._iris_depth[e]
        return out

    def retarget(
        self, driver: np.ndarray, irises: np.ndarray | None = None, controls: ExpressionControls | None = None
    ) -> Retargeted:
        """measure() then apply(): driver 68×3 (irises 2×3 or None) → Retargeted."""
        return self.apply(self.measure(driver, irises), controls)

    def __call__(self, driver: np.ndarray, controls: ExpressionControls | None = None) -> np.ndarray:
        """driver: 68×3 points of the current frame → 68×2 float32 portrait points (crop pixels)."""
        return self.retarget(driver, None, controls).points
