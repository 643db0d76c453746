"""The live path's per-frame work, one small class per stage; the runner wires them to threads.

Processor (processing thread): driver frame → tracked, smoothed landmarks → retargeted portrait
landmarks (or the driver's own, cropped, in absolute mode) → the landmark image, with continuity when
the face is lost (hold the last pose, then glide to the neutral pose: the generator always gets a face).
Composer (inference thread, after the engine): generated S×S face → the output frame (background,
mirror, AI mark, the invisible watermark).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import cv2
import numpy as np

from liveavatar.avatar import Avatar
from liveavatar.disclosure import draw_ai_mark
from liveavatar.errors import InputError
from liveavatar.landmarks.calibration import neutral_warning
from liveavatar.landmarks.controls import ExpressionControls
from liveavatar.landmarks.irises import spline_driven
from liveavatar.landmarks.retarget import Retargeter, driver_irises, driver_points
from liveavatar.landmarks.smoothing import OneEuroFilter
from liveavatar.landmarks.stability import MotionSmoother
from liveavatar.live.spec import Background, Mode, TrackingConfig
from liveavatar.provenance.watermark import embed_watermark
from liveavatar.render.align import (
    CropBox,
    CropBoxSmoother,
    CropTransform,
    apply_affine,
    crop_from_box,
    face_box,
    warp_reduced,
)
from liveavatar.render.composite import paste_back, place_on_background
from liveavatar.render.creases import Creases
from liveavatar.render.drawn_mouth import OwnMouth, own_opening, own_teeth_show, own_teeth_split, unpaint_own_inside
from liveavatar.render.driver_mouth import DriverFrame
from liveavatar.render.full_resolution import FullResolutionWarp
from liveavatar.render.lids import lid_ratios
from liveavatar.render.mouth_inside import MouthInside
from liveavatar.render.rasterize import rasterize_landmarks
from liveavatar.render.shut_lid import DriverLids
from liveavatar.types import FaceLandmarks, WarpLayers

Rect = tuple[int, int, int, int]  # (x0, y0, x1, y1) output pixels
SUPERSAMPLE_FROM = 1.5  # portrait px per output px from which the full-resolution warp samples at 2×
BLACK_LEVEL = 8.0  # mean pixel value under which a frame is reported as black (lens cap, camera starting)


# A frame of the neutral's capture whose eyes are this share as open as the capture's widest counts as open-eyed
# for the creases' neutral frame (one frame into a blink the gap is 0.5-0.6 of the open one; tracker noise
# on an open eye is ±0.05). From frame 70 of the blink clip (lids 0.91, 0.96, 0.89, 0.57, 0.12 of the open gap)
# the creases' change around the Mona Lisa's eyes at an open frame after it: 0.71 → 0.37 (8-bit levels, mean over
# a box about the eyes; a capture with open eyes 0.12-0.23: tools/measure_blink_start.py --creases). The last
# such frame, not the widest: among open ones the widest is tracker noise, and the last is as before.
OPEN_EYED = 0.85


@dataclass
class Driven:
    """The processing stage's result for one frame.

    points: 68×2 float32 landmarks in avatar-crop pixels that the landmark image was drawn from.
    landmark_image: S×S×3 uint8 RGB (the one rasterizer). driver: the smoothed driver landmarks in camera
    pixels, or None. message: what the stage saw, for the user. irises: 2×2 float32 iris centres in
    avatar-crop pixels when gaze is tracked (relative mode), else None; the landmark image does not
    draw them (the bundled generator was trained without iris marks; see docs/EXPRESSION.md).
    driver_now: the driver's 68×2 float32 landmarks at this very frame (not smoothed), camera pixels, when a
    tracked face drove it (not a scripted or lost one): the Composer cuts the driver's mouth out of this frame.
    last_share: the face is lost and `points` still hold this much of the last tracked pose (1 while held,
    falling to 0 as they glide back to the neutral; 0 when tracked): the Composer lays the last tracked mouth
    while they hold any (from_last), and that frame's creases fade with it.
    neutral_frame: the camera frame the neutral was captured on (the capture's last open-eyed tracked one), with
    its own 68 points, once a tracked neutral is in (the Composer lays the driver's creases relative to it:
    liveavatar.render.creases), else None.
    control: 70×2 float32, the warp's driven control points (crop pixels): `points` and the two iris centres
    clamped inside the driven eyes (liveavatar.landmarks.irises.spline_driven); what a warp model moves.
    """

    points: np.ndarray
    landmark_image: np.ndarray
    driver: FaceLandmarks | None
    message: str
    control: np.ndarray
    irises: np.ndarray | None = None
    driver_now: np.ndarray | None = None
    last_share: float = 0.0
    neutral_frame: DriverFrame | None = None

    @property
    def from_last(self) -> bool:
        """The points still come from the last tracked pose (held, or on their way back to the neutral)."""
        return self.last_share > 0


class Processor:
    """Tracking, smoothing, continuity and retargeting for one stream. Used by one thread only, except
    calibrate(), which any thread may call."""

    def __init__(self, tracking: TrackingConfig, crop_size: int) -> None:
        self.cfg = tracking
        self.size = crop_size
        self._tracker = None  # mediapipe is built lazily, in the processing thread, on the first image
        self._filter = OneEuroFilter(tracking.smoothing)  # the driver's own points: absolute mode, display
        self._motion_smoother = MotionSmoother(tracking.pose_smoothing, tracking.expression_smoothing)
        self.controls = ExpressionControls()  # replaced whole (never mutated): read once per frame
        self.neutral_warning = ""  # what looks wrong with the last neutral, "" when it looks fine
        self.neutrals = 0  # how many neutrals have been captured (each one is checked once)
        self._neutral_irises: list[np.ndarray] = []
        self._neutral_iris: np.ndarray | None = None
        self._box_smoother = CropBoxSmoother()
        self._neutral_samples: list[np.ndarray] = []
        self._neutral: np.ndarray | None = None
        self._neutral_frame: DriverFrame | None = None  # the capture's last open-eyed tracked frame, if any
        # the tracked frames of the capture under way, each with its narrower eye's lid gap over the eye's width
        self._neutral_frames: list[tuple[float, DriverFrame]] = []
        self._calibrate = threading.Event()
        self._retargeters: dict[int, Retargeter] = {}  # per avatar (id of its landmarks array)
        self._retargeting: Retargeter | None = None  # the one the last frame used
        self._last: np.ndarray | None = None  # the last points drawn
        self._lost_at: float | None = None
        self._lost_from: np.ndarray | None = None

    def calibrate(self) -> None:
        """The next tracked frames become the neutral reference (thread-safe)."""
        self._calibrate.set()

    @property
    def calibrated(self) -> bool:
        return self._neutral is not None

    def _track(self, image: np.ndarray) -> tuple[FaceLandmarks | None, str]:
        from liveavatar.landmarks.tracker import FaceTracker

        if image.ndim != 3 or image.shape[2] != 3 or min(image.shape[:2]) < 32:
            return None, f"frame of size {image.shape[1]}x{image.shape[0]} is too small to find a face in"
        if float(image[::8, ::8].mean()) < BLACK_LEVEL:
            return None, "the frame is black (lens covered or camera starting)"
        if self._tracker is None:
            c = self.cfg
            self._tracker = FaceTracker(
                "video", c.max_faces, c.min_detection_confidence, c.min_tracking_confidence, irises=c.irises
            )
        try:
            result = self._tracker.track(image)
        except InputError as exc:
            return None, str(exc)
        return result.landmarks, result.message

    def _retargeter(self, avatar: Avatar) -> Retargeter:
        key = id(avatar.landmarks)
        r = self._retargeters.get(key)
        if r is None:
            if len(self._retargeters) > 16:
                self._retargeters.clear()
            r = self._retargeters[key] = Retargeter(
                avatar.landmarks, self.size, mouth_rest=self.cfg.mouth_rest, target_irises=avatar.irises
            )
        if self._neutral is not None and r.neutral is not self._neutral:
            r.set_neutral(self._neutral, self._neutral_iris)
            self.neutral_warning = neutral_warning(self._neutral, avatar.landmarks, self.cfg.mouth_rest)
        if self._retargeting is not None and self._retargeting is not r:
            r.continue_rests(self._retargeting)  # an avatar switch: the driver's mouth and eye rests go along
        self._retargeting = r
        return r

    def process(
        self, image: np.ndarray, given: FaceLandmarks | None, t: float, avatar: Avatar, mode: Mode
    ) -> tuple[Driven, dict[str, float]]:
        """One frame (H×W×3 uint8 RGB at monotonic time t) → Driven, plus ms per stage."""
        timings: dict[str, float] = {}
        start = time.perf_counter()
        if given is not None:
            landmarks, message = given, "scripted"
        else:
            landmarks, message = self._track(image)
        timings["track"] = (time.perf_counter() - start) * 1000

        start = time.perf_counter()
        points = None
        irises = None
        smoothed = None
        driver_now = None
        last_share = 0.0
        if landmarks is not None:
            raw = driver_points(landmarks)
            if given is None:
                driver_now = landmarks.points68  # this frame's own, as the tracker gave them
            raw_irises = driver_irises(landmarks)
            # A scripted driver is smooth by construction: filtering would only add lag.
            pts3 = self._filter(raw, t) if given is None else raw
            smoothed = FaceLandmarks(pts3[:, :2].astype(np.float32), landmarks.image_size, landmarks.mesh)
            if self._calibrate.is_set() or self._neutral is None:
                self._collect_neutral(raw, raw_irises, None if driver_now is None else DriverFrame(image, driver_now))
            if mode == "absolute":
                box = self._box_smoother.update(face_box(smoothed.points68))
                crop = crop_from_box(box, self.size)
                points = crop.points_to_crop(smoothed.points68)
            elif self._neutral is not None:
                retargeter = self._retargeter(avatar)
                motion = retargeter.measure(raw, raw_irises)
                if given is None:
                    motion = self._motion_smoother(motion, t, retargeter.face_radius)
                result = retargeter.apply(motion, self.controls)
                points, irises = result.points, result.irises
            else:
                points = np.asarray(avatar.landmarks, np.float32)  # still capturing the neutral: rest pose
                message += "; capturing the neutral pose"
            self._lost_at = None
        else:
            self._filter.reset()
            self._motion_smoother.reset()
            points, note, last_share = self._continue(t, avatar)
            message = f"{message}; {note}"
        timings["retarget"] = (time.perf_counter() - start) * 1000

        start = time.perf_counter()
        landmark_image = rasterize_landmarks(points, self.size)
        timings["rasterize"] = (time.perf_counter() - start) * 1000
        self._last = points
        control = spline_driven(points, irises, avatar.landmarks, avatar.irises)
        neutral_frame = self._neutral_frame if self._neutral is not None else None
        driven = Driven(
            points, landmark_image, smoothed, message, control, irises, driver_now, last_share, neutral_frame
        )
        return driven, timings

    def _collect_neutral(self, points3: np.ndarray, irises: np.ndarray | None, frame: DriverFrame | None) -> None:
        """Adds one frame to the neutral being captured; averages it in once neutral_frames are in. frame: this
        frame's camera image and points when tracked (a scripted driver has none): the last one whose eyes are
        open (OPEN_EYED of the widest the capture saw) is kept. The creases are the change from that frame, and
        the eyes' left-out area is the current frame's eye grown: a capture ending in a blink (the last frame's
        lids shut) laid the lids' fold, open against shut, around every open eye after it."""
        if self._calibrate.is_set():
            self._calibrate.clear()
            self._neutral_samples.clear()
            self._neutral_irises.clear()
            self._neutral = None
            self._neutral_frames.clear()
        self._neutral_samples.append(points3)
        if frame is not None:
            self._neutral_frames.append((float(lid_ratios(frame.points).min()), frame))
        if irises is not None:
            self._neutral_irises.append(irises)
        if len(self._neutral_samples) >= max(1, self.cfg.neutral_frames):
            self._neutral = np.mean(self._neutral_samples, axis=0)
            complete = len(self._neutral_irises) == len(self._neutral_samples)
            self._neutral_iris = np.mean(self._neutral_irises, axis=0) if complete else None
            self._neutral_frame = None
            if self._neutral_frames:
                widest = max(lids for lids, _ in self._neutral_frames)
                self._neutral_frame = [f for lids, f in self._neutral_frames if lids >= OPEN_EYED * widest][-1]
            self._neutral_frames.clear()
            self.neutral_warning = ""  # checked against the portrait when the retargeter takes it
            self.neutrals += 1
            self._neutral_samples.clear()
            self._neutral_irises.clear()
            self._motion_smoother.reset()  # motion is relative to the neutral: the old state means nothing

    def _continue(self, t: float, avatar: Avatar) -> tuple[np.ndarray, str, float]:
        """Points when no face is seen: hold the last pose for hold_s, then glide to the neutral in fade_s. Also
        the note for the user, and how much of the last tracked pose the points hold (Driven.last_share: 0
        when they hold none of it)."""
        neutral = np.asarray(avatar.landmarks, np.float32)
        if self._last is None:
            return neutral, "showing the neutral pose", 0.0
        if self._lost_at is None:
            self._lost_at, self._lost_from = t, self._last
        gone = t - self._lost_at
        if gone <= self.cfg.hold_s:
            return self._lost_from, "holding the last pose", 1.0
        a = min(1.0, (gone - self.cfg.hold_s) / max(self.cfg.fade_s, 1e-6))
        a = a * a * (3 - 2 * a)
        if a >= 1.0:
            return neutral, "showing the neutral pose", 0.0
        return ((1 - a) * self._lost_from + a * neutral).astype(np.float32), "returning to the neutral pose", 1 - a

    def close(self) -> None:
        if self._tracker is not None:
            self._tracker.close()
            self._tracker = None


def infer_frame(engine, psi: np.ndarray, warp, driven: Driven) -> tuple[np.ndarray, WarpLayers | None]:
    """One frame through the engine as the inference thread runs it: (the S×S×3 uint8 RGB face, and for a warp
    checkpoint's graph (warp: its WarpAvatar) the layers that move the whole portrait at the output's
    resolution, else None). psi: 1×P float32, the avatar's AdaIN parameters."""
    image = driven.landmark_image[None]
    if warp is not None:
        # a warp graph moves the avatar's crop to the driven control points (70×2 crop pixels), and its layers
        # move the portrait itself in the compose step
        layers = engine.infer_layers(image, psi, warp, driven.control[None])
        return layers.frames[0], layers
    return engine.infer(image, psi)[0], None


def compose_frame(
    composer: Composer,
    face: np.ndarray,
    avatar: Avatar,
    background: Background,
    mirror: bool,
    ai_mark: bool,
    layers: WarpLayers | None,
    driven: Driven,
    camera: np.ndarray,
    driver_mouth: bool = True,
    creases: bool = True,
) -> np.ndarray:
    """One output frame as the compose thread makes it from infer_frame's face and layers: the driver's own
    mouth cut out of `camera` (the H×W×3 uint8 RGB frame `driven` was tracked on) when asked and tracked, the
    driver's creases since the neutral laid on the face when asked, the lids closed to the driven points, the
    irises turned to the driven ones (the control points' last two). While the face is lost the Processor holds
    the last pose, and the last tracked frame is held with it: a frame or two of lost tracking swapped the
    driver's teeth for the drawn ones and back; as the pose glides back to the neutral, that frame's creases
    fade with it. With the creases, a shut eye takes the light of the driver's own shut lid at that frame, once
    their open eyes are known (the neutral frame)."""
    now = None
    if driven.driver_now is not None:
        now = composer.held_frame = DriverFrame(camera, driven.driver_now)
    elif driven.from_last:
        now = composer.held_frame
    else:
        composer.held_frame = None
    mouth = now if driver_mouth else None
    change = None
    if creases and now is not None and driven.neutral_frame is not None:
        change = (driven.neutral_frame, now)
    irises = None if driven.control is None else driven.control[68:]
    share = driven.last_share if driven.from_last else 1.0
    lids = None  # the driver's shut lids' light is their shading too: it goes with the creases' switch
    if creases and now is not None and driven.neutral_frame is not None:
        lids = DriverLids(now, lid_ratios(driven.neutral_frame.points))
    return composer.compose(
        face, avatar, background, mirror, ai_mark, layers, mouth, driven.points, irises, change, share, lids
    )


class Composer:
    """Generated face → output frame of a fixed size (H×W×3 uint8 RGB), caching per-avatar layouts."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        # the last tracked driver's frame (compose_frame): its mouth and creases, laid while the face is lost
        # and its pose held
        self.held_frame: DriverFrame | None = None
        self._creases = Creases()  # keeps the neutral frame's luma between frames
        self._mouth = MouthInside()  # keeps the driver's mouth's running softness
        self._layouts: dict[int, tuple[np.ndarray, CropTransform, Rect]] = {}
        self._warps: dict[tuple, tuple[np.ndarray, FullResolutionWarp]] = {}
        self._own_mouths: dict[int, tuple[float, float]] = {}  # per avatar crop (_own_mouth)

    def _portrait_layout(self, avatar: Avatar, size: int) -> tuple[np.ndarray, CropTransform, Rect]:
        """The portrait fitted inside the output (dark bars where aspects differ), crop → canvas map, and the
        portrait's rectangle on the canvas (x0, y0, x1, y1)."""
        key = id(avatar.portrait)
        cached = self._layouts.get(key)
        if cached is not None:
            return cached
        ph, pw = avatar.portrait.shape[:2]
        scale = min(self.width / pw, self.height / ph)
        w, h = max(1, round(pw * scale)), max(1, round(ph * scale))
        x0, y0 = (self.width - w) // 2, (self.height - h) // 2
        canvas = np.full((self.height, self.width, 3), 20, np.uint8)
        if (w, h) == (pw, ph):
            canvas[y0 : y0 + h, x0 : x0 + w] = avatar.portrait  # its own size: every pixel as it is
        else:
            interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            canvas[y0 : y0 + h, x0 : x0 + w] = cv2.resize(avatar.portrait, (w, h), interpolation=interpolation)
        # portrait → canvas (pixel centres): x' = sx·x + x0 + (sx - 1)/2 with sx = w/pw (likewise y).
        sx, sy = w / pw, h / ph
        to_canvas = np.array([[sx, 0, x0 + (sx - 1) / 2], [0, sy, y0 + (sy - 1) / 2], [0, 0, 1]])
        crop_matrix = np.vstack([avatar.crop_matrix, [0, 0, 1]])  # portrait → crop
        canvas_to_crop = (crop_matrix @ np.linalg.inv(to_canvas))[:2]
        inverse = cv2.invertAffineTransform(canvas_to_crop).astype(np.float64)
        side = size / float(np.hypot(canvas_to_crop[0, 0], canvas_to_crop[1, 0]))
        centre = inverse @ np.array([(size - 1) / 2, (size - 1) / 2, 1.0])
        transform = CropTransform(canvas_to_crop, inverse, size, CropBox(float(centre[0]), float(centre[1]), side))
        canvas.setflags(write=False)
        if len(self._layouts) > 16:
            self._layouts.clear()
        self._layouts[key] = (canvas, transform, (x0, y0, x0 + w, y0 + h))
        return self._layouts[key]

    def face_square(self, avatar: Avatar, size: int) -> tuple[int, int, int, int]:
        """The avatar's face crop (`size` px) on an output with its portrait behind it: the crop's square
        (x0, y0, x1, y1) in output pixels, clipped to the output (what evaluation measures the face on)."""
        _, transform, _ = self._portrait_layout(avatar, size)
        box = transform.box
        x0, y0 = max(0, round(box.cx - box.side / 2)), max(0, round(box.cy - box.side / 2))
        x1, y1 = min(self.width, round(box.cx + box.side / 2)), min(self.height, round(box.cy + box.side / 2))
        return x0, y0, x1, y1

    def _own_mouth(self, avatar: Avatar) -> tuple[float, float]:
        """The avatar's own open mouth, read once per avatar: where its teeth part (drawn_mouth.own_teeth_split)
        and how clearly it shows teeth (drawn_mouth.own_teeth_show)."""
        key = id(avatar.crop)
        if key not in self._own_mouths:
            if len(self._own_mouths) > 16:
                self._own_mouths.clear()
            self._own_mouths[key] = (
                own_teeth_split(avatar.crop, avatar.landmarks),
                own_teeth_show(avatar.crop, avatar.landmarks),
            )
        return self._own_mouths[key]

    def _full_resolution(
        self, avatar: Avatar, background: Background, size: int, coarse: int
    ) -> tuple[np.ndarray, FullResolutionWarp]:
        """The still background and the warp that moves the portrait over it, for one avatar and background."""
        key = (id(avatar.portrait), background.kind, background.colour, size, coarse)
        cached = self._warps.get(key)
        if cached is not None:
            return cached
        if background.kind == "portrait":
            canvas, transform, rect = self._portrait_layout(avatar, size)
            x0, y0, x1, y1 = rect
            source, k = canvas[y0:y1, x0:x1], 1
            if (x1 - x0) * SUPERSAMPLE_FROM <= avatar.portrait.shape[1]:
                # the portrait has the pixels: sample it at 2× and average down (FullResolutionWarp); the still
                # background is that same average, so a face at rest stays exactly the background
                k = 2
                fine = (2 * (x1 - x0), 2 * (y1 - y0))
                # reduced with INTER_AREA; where 2× is more than the portrait has, enlarged bicubic (INTER_AREA
                # enlarges bilinearly, which took back a fifth of the sharpness the 2× grid keeps)
                grow = fine[0] > avatar.portrait.shape[1]
                source = cv2.resize(avatar.portrait, fine, interpolation=cv2.INTER_CUBIC if grow else cv2.INTER_AREA)
                canvas = canvas.copy()
                canvas[y0:y1, x0:x1] = cv2.resize(source, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
                canvas.setflags(write=False)
            warp = FullResolutionWarp(
                source, (x0, y0), transform.matrix, size, coarse, rect, k, avatar.landmarks, avatar.eyes
            )
        else:
            canvas, warp = self._on_colour(avatar, background.colour, size, coarse)
        if len(self._warps) > 16:
            self._warps.clear()
        self._warps[key] = (canvas, warp)
        return canvas, warp

    def _on_colour(
        self, avatar: Avatar, colour: tuple[int, int, int], size: int, coarse: int
    ) -> tuple[np.ndarray, FullResolutionWarp]:
        """A colour canvas and the crop's square centred on it at the canvas's height (as place_on_background
        places the face), filled from the portrait at that scale; only the portrait's own pixels are drawn."""
        side = min(self.width, self.height)
        x0, y0 = (self.width - side) // 2, (self.height - side) // 2
        k = side / size  # canvas px per crop px; crop pixel c ↔ canvas k·(c + 0.5) − 0.5 + origin
        crop_to_canvas = np.array([[k, 0, k * 0.5 - 0.5 + x0], [0, k, k * 0.5 - 0.5 + y0], [0, 0, 1]])
        portrait_to_canvas = (crop_to_canvas @ np.vstack([avatar.crop_matrix, [0, 0, 1]]))[:2]
        source = warp_reduced(avatar.portrait, portrait_to_canvas, self.width, self.height)
        ph, pw = avatar.portrait.shape[:2]
        edges = np.array([[-0.5, -0.5], [pw - 0.5, ph - 0.5]])  # the portrait's outer pixel edges
        corners = edges @ portrait_to_canvas[:, :2].T + portrait_to_canvas[:, 2]
        lo, hi = np.ceil(corners.min(0) - 0.5).astype(int), np.floor(corners.max(0) + 0.5).astype(int)
        clip = (max(x0, lo[0]), max(y0, lo[1]), min(x0 + side, hi[0]), min(y0 + side, hi[1]))
        canvas = np.empty((self.height, self.width, 3), np.uint8)
        canvas[:] = np.asarray(colour, np.uint8)
        cx0, cy0, cx1, cy1 = clip
        if cx1 > cx0 and cy1 > cy0:
            canvas[cy0:cy1, cx0:cx1] = source[cy0:cy1, cx0:cx1]  # the still portrait behind the moving face
        canvas.setflags(write=False)
        to_crop = cv2.invertAffineTransform(crop_to_canvas[:2])
        warp = FullResolutionWarp(source, (0, 0), to_crop, size, coarse, clip, 1, avatar.landmarks, avatar.eyes)
        return canvas, warp

    def compose(
        self,
        face: np.ndarray,
        avatar: Avatar,
        background: Background,
        mirror: bool,
        ai_mark: bool,
        layers: WarpLayers | None = None,
        mouth: DriverFrame | None = None,
        points: np.ndarray | None = None,
        irises: np.ndarray | None = None,
        change: tuple[DriverFrame, DriverFrame] | None = None,
        change_share: float = 1.0,
        lids: DriverLids | None = None,
    ) -> np.ndarray:
        """face: S×S×3 uint8 RGB from the engine → a new height×width×3 uint8 RGB frame, watermarked. layers:
        that frame's WarpLayers (batch 1) from a warp checkpoint's engine: then the portrait itself is moved at
        the output's resolution (liveavatar.render.full_resolution) instead of the face crop being scaled up.
        mouth and points (the driven 68×2 crop pixels the frame was made for): with layers, the driver's own
        mouth at this frame is laid inside the avatar's open lips (liveavatar.render.driver_mouth; or, a soft one
        on a portrait that smiles with its teeth, drawn over: liveavatar.render.mouth_inside), and the lids
        close as far as the driven ones (liveavatar.render.lids); irises (the driven 2×2 iris centres, crop
        pixels: the control points' last two) redraw each eyeball with its iris there
        (liveavatar.render.eyeballs); change (the driver's neutral frame and this one): with layers and points,
        the light the driver's expression changed since the neutral multiplies the avatar's face
        (liveavatar.render.creases), before the mouth is laid, times change_share (0…1: a held frame's creases
        fading as the pose glides back to the neutral); lids (the driver at this frame and their open eyes'
        lid ratios): a shut eye takes the driver's own shut lid's light (liveavatar.render.shut_lid), else the
        template's."""
        if layers is not None:
            size, coarse = face.shape[0], layers.flow.shape[1]
            canvas, warp = self._full_resolution(avatar, background, size, coarse)
            out = canvas.copy()
            paint = layers.paint[0]
            own = own_opening(avatar.landmarks)
            split, teeth_show = self._own_mouth(avatar)
            if points is not None and (mouth is None or teeth_show > 0):
                # the portrait's own open mouth, not G's wash over it, where it may show: without a camera's
                # mouth, or where a soft one gives way to it (render/mouth_inside.py)
                paint = unpaint_own_inside(paint, points, own)
            warp.apply(out, layers.flow[0], paint, points, irises, lids)
            if points is not None:
                driven = apply_affine(warp.from_crop, points)
                if change is not None:
                    self._creases.lay(out, driven, avatar.landmarks, change[1], change[0], warp.region, change_share)
                # the portrait's own inside, the driver's mouth at this frame or a drawn one (mouth_inside.py)
                rest = warp.source_points
                teeth = None if rest is None else OwnMouth(warp.source, rest, split)
                self._mouth.fill(out, driven, warp.region, own, teeth, teeth_show, mouth, avatar)
        elif background.kind == "portrait":
            canvas, transform, _ = self._portrait_layout(avatar, face.shape[0])
            out = paste_back(canvas, face, transform, background.feather)
        else:
            out = place_on_background(face, self.width, self.height, background.colour)
        if mirror:
            out = np.ascontiguousarray(out[:, ::-1])
        if ai_mark:
            draw_ai_mark(out)
        # The invisible mark goes on every frame that leaves, whatever ai_mark says (--no-ai-mark removes
        # only the visible one): liveavatar/provenance/watermark.py.
        return embed_watermark(out)
