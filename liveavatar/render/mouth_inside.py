"""What fills the avatar's open lips, frame by frame: the driver's mouth, or a drawn one beside the portrait's own.

driver_mouth.py cuts the driver's mouth out of the camera frame and lays it; drawn_mouth.py draws one where
there is no camera's (`pose`, the scripted demo, the driver's mouth turned off), showing a portrait's own open
inside until the warp stretches it and carrying a smile's own teeth on its lips. With a camera, the driver's
mouth fills the lips, unless the portrait's own mouth shows teeth at rest (drawn_mouth.OWN_INSIDE and
own_teeth_show: a smile's teeth, a shout's) and the driver's mouth is much softer than the portrait around the
mouth (MouthCut.softness past SOFT): then the mouth is drawn as without a camera. Sharpening evens out a soft
mouth's fine grain but not a blur that took its teeth: a soft talking clip's mouth laid a pale blob where
Obama's teeth were, and on Eileen Collins' and Ducreux's smiles; drawn, their own teeth stay, carried by their
lips, with the drawing's dark and tongue between them as the mouth opens wider. Portraits without teeth to keep
(closed lips, parted lips' shadow, a painted line between them) take the driver's mouth however soft: drawn,
the paintings' openings read smaller to both trackers (mouth range 0.88 → 0.77 by mediapipe over 24 pairs).

Which of the two is the camera's and the portrait's, not a frame's (one frame's reading wanders by ±0.5 as the
lips move): the softness is smoothed over frames, the choice made with hysteresis (the drawing from SOFT[1] up,
the driver's again from SOFT[0] down), and a change of choice cross-fades over SWITCH_FRAMES. Until the
softness is known (KNOWN_READINGS open frames) such a portrait keeps its own teeth, drawn: a sharp camera's
mouth then comes in a moment late, where a soft one's blob had shown for the first frames of every session
(on Obama's smile for 7 frames, then faded out over 8). A portrait's own teeth and the driver's, laid half over
each other, showed both, one through the other; the fade keeps that to a moment.

Boundaries: the frame is H×W×3 uint8 RGB (changed in place); points 68×2 float (x, y) output pixels.
"""

from __future__ import annotations

import numpy as np

from liveavatar.render.drawn_mouth import OwnMouth, draw_mouth, own_inside_share
from liveavatar.render.driver_mouth import DriverFrame, cut_mouth, lay_cut

# The driver's mouth's softness (the output's detail around the mouth over the cut's, smoothed) from which
# (SOFT[1], and back under SOFT[0]) a portrait whose own mouth shows teeth has its mouth drawn. Over five talking
# clips and five such portraits (Obama, Donald Trump, Audrey Hepburn, Eileen Collins, Ducreux; medians per
# pair), the soft clip's mouths that showed as a pale blob read 2.3–5.8; the other clips' 1.2–2.1 on the three
# less crisp portraits, and up to 5.2 on the crispest photos, Obama's and Trump's, even from a sharp clip (2.4,
# 2.7): drawn there, a sharp mouth loses the driver's teeth for the portrait's own, the lesser loss.
# Self-reenactment (the portrait's own clip driving it) reads 0.8–2.0.
SOFT = (2.0, 2.25)
SOFT_SMOOTHING = 0.1  # of each frame's reading taken into the running softness
# Where the running softness starts, for each avatar: as sharp as the portrait, weighing as much as AS_SHARP_WEIGHT
# readings; the readings are averaged until they weigh as little as SOFT_SMOOTHING each. Started at the first
# frame's reading, one soft frame decided: self-reenactment's blonde woman in a coat, whose driver is the
# portrait's own clip, read 3.0 on her first two open frames and 0.8–1.3 after, and had her own mouth drawn
# over. Smoothed from the start, a soft camera's blob showed for the first ten readings or so.
AS_SHARP, AS_SHARP_WEIGHT = 1.0, 3
# Readings before the first choice, the drawing kept until then; that choice is the driver's mouth unless the
# camera is clearly soft (SOFT[1]), as it was when the driver's mouth was laid from the start. After 5, Obama's
# smile driven by a soft clip (running softness 1.73 there, 2.61 after 10) chose the driver's mouth and turned
# back to the drawing two readings later, its blob blended in at up to a quarter for 3 frames.
KNOWN_READINGS = 10
SWITCH_FRAMES = 8  # frames over which a change between the driver's mouth and the drawing cross-fades
# While the drawing has taken over wholly, the driver's mouth is cut out (to read its softness) only every
# READ_EVERY-th frame: the cut cost as much as the drawing, and the softness is the camera's, slow to change.
READ_EVERY = 4


class MouthInside:
    """Fills the avatar's open lips in each composed frame (module docstring), keeping per avatar the driver's
    mouth's running softness and how far the drawing has taken over."""

    def __init__(self) -> None:
        self._avatar: object | None = None
        self._softness = AS_SHARP
        self._readings = 0  # the softness readings taken since the avatar's first frame
        self._drawn = 0.0  # 0…1: how far the drawing has taken over from the driver's mouth
        self._unread = 0  # frames drawn whole since the driver's mouth was last read

    def fill(
        self,
        frame: np.ndarray,
        points: np.ndarray,
        clip: tuple[int, int, int, int],
        own_opening: float,
        own: OwnMouth | None,
        own_teeth: float,
        mouth: DriverFrame | None,
        avatar: object,
    ) -> None:
        """Fills the inside of the driven inner lips (`points`, output pixels) in `frame` within `clip` (x0, y0, x1,
        y1). own_opening: the portrait's inner-lip gap at rest over its mouth's width; own: its own mouth (whose
        teeth a smile keeps; None: none carried); own_teeth: 0…1, how clearly that mouth shows teeth
        (drawn_mouth.own_teeth_show); mouth: the driver's at this frame, or None (drawn); avatar: what the
        running softness belongs to (a new one starts it afresh)."""
        if avatar is not self._avatar:
            drawn = 1.0 if KNOWN_READINGS > 0 else 0.0  # its own teeth kept until the softness is known
            self._avatar, self._softness, self._readings, self._drawn, self._unread = avatar, AS_SHARP, 0, drawn, 0
        if mouth is None:
            draw_mouth(frame, points, clip, own_opening, own)
            return
        keep = own_inside_share(own_opening) * float(np.clip(own_teeth, 0.0, 1.0))
        known = self._readings >= KNOWN_READINGS  # until then the driver's mouth is read every frame
        if keep * self._drawn >= 1 and known and self._unread < READ_EVERY - 1:
            self._unread += 1  # drawn whole: the driver's mouth is only read, and not every frame
            draw_mouth(frame, points, clip, own_opening, own)
            return
        self._unread = 0
        cut = cut_mouth(frame, points, mouth, clip, read_softness=keep > 0)
        if keep <= 0:
            if cut is not None:
                lay_cut(frame, cut)
            return
        if cut is not None and cut.softness is not None:
            self._choose(cut.softness)
        drawn = keep * self._drawn
        if cut is not None and drawn < 1:
            lay_cut(frame, cut, 1 - drawn)
        if drawn > 0:
            draw_mouth(frame, points, clip, own_opening, own, drawn)

    def _choose(self, reading: float) -> None:
        """Takes one frame's softness reading into the running softness and moves the drawing's share a step
        towards the choice it makes."""
        self._readings += 1
        self._softness += max(SOFT_SMOOTHING, 1 / (AS_SHARP_WEIGHT + self._readings)) * (reading - self._softness)
        if self._readings < KNOWN_READINGS:
            return  # not known yet: the drawing holds
        if self._softness >= SOFT[1]:
            target = 1.0
        elif self._softness <= SOFT[0] or self._readings == KNOWN_READINGS:
            target = 0.0
        else:
            target = round(self._drawn)  # between the two: the last choice holds
        step = 1.0 / SWITCH_FRAMES
        self._drawn = float(np.clip(self._drawn + np.clip(target - self._drawn, -step, step), 0.0, 1.0))
