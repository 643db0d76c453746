"""A mouth drawn inside the avatar's open lips where no driver's mouth is laid (liveavatar.render.drawn_mouth).

A synthetic face pins the geometry (at rest nothing changes, opened the inside is drawn and nothing outside
the lips, teeth under the upper lip and darker below them, grey on a grey face, a portrait's own open mouth
kept until the warp would stretch it, a smile's own teeth carried by its lips at their own height and where
they part read from the portrait); the built-in sample and Obama through `pose` and the live Composer pin what
a user sees: the grey smudge the generator painted in the demo's open mouth becomes teeth over a dark cavity,
and a smile opened halfway keeps its teeth over a dark opening instead of grey bars.
"""

from __future__ import annotations

import cv2
import numpy as np

from liveavatar.render.drawn_mouth import (
    SPLIT_RANGE,
    STRETCH,
    OwnMouth,
    draw_mouth,
    own_opening,
    own_teeth_split,
    unpaint_own_inside,
)

SKIN = (186, 140, 120)
LIPS = (150, 80, 80)


def face_points(gap: float, width: float = 60.0, centre=(100.0, 100.0)) -> np.ndarray:
    """68×2 points whose mouth (inner corners 60/64 `width` apart, outer 48/54 a little wider) is open `gap`
    px between its facing inner-lip points; the rest of the points far from it."""
    cx, cy = centre
    p = np.zeros((68, 2))
    p[:] = (cx, cy - 80)
    half = width / 2
    p[48], p[54] = (cx - half - 6, cy), (cx + half + 6, cy)
    outer_upper = [(cx - half * 0.6, cy - gap / 2 - 8), (cx - half * 0.2, cy - gap / 2 - 10), (cx, cy - gap / 2 - 9)]
    p[49:52] = outer_upper
    p[52:54] = [(cx + half * 0.2, cy - gap / 2 - 10), (cx + half * 0.6, cy - gap / 2 - 8)]
    p[55:60] = [(cx + half * 0.6, cy + gap / 2 + 9), (cx + half * 0.2, cy + gap / 2 + 11), (cx, cy + gap / 2 + 11)] + [
        (cx - half * 0.2, cy + gap / 2 + 11),
        (cx - half * 0.6, cy + gap / 2 + 9),
    ]
    p[60], p[64] = (cx - half, cy), (cx + half, cy)
    p[61:64] = [(cx - half * 0.5, cy - gap / 2), (cx, cy - gap / 2), (cx + half * 0.5, cy - gap / 2)]
    p[65:68] = [(cx + half * 0.5, cy + gap / 2), (cx, cy + gap / 2), (cx - half * 0.5, cy + gap / 2)]
    return p


def skin_frame(points: np.ndarray, colour=SKIN, lips=LIPS) -> np.ndarray:
    """A 200×200 RGB face of one colour with a little grain, and its lips (`points`' outer lip polygon) darker:
    the ring around the mouth that the drawing's colours are moved to, as varied as a real one."""
    rng = np.random.default_rng(1)
    frame = np.clip(np.full((200, 200, 3), colour, np.float64) + rng.normal(0, 3, (200, 200, 1)), 0, 255)
    frame = frame.astype(np.uint8)
    cv2.fillPoly(frame, [np.rint(points[48:60]).astype(np.int32)], lips)
    return frame


def opening_mask(points: np.ndarray, erode: int = 3) -> np.ndarray:
    mask = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(mask, [np.rint(points[60:68]).astype(np.int32)], (255,))
    return cv2.erode(mask, np.ones((2 * erode + 1,) * 2, np.uint8)) > 0


CLIP = (0, 0, 200, 200)


def test_a_mouth_as_open_as_the_portraits_own_is_left_alone():
    for own in (face_points(0.6), face_points(12.0)):  # closed at rest, and open at rest (a smile with teeth)
        frame = skin_frame(own)
        driven = own.copy()
        assert not draw_mouth(frame, driven, CLIP, own_opening(own))
        assert np.array_equal(frame, skin_frame(own))


def test_an_opened_mouth_gets_teeth_over_a_dark_inside_and_nothing_changes_outside_the_lips():
    rest, driven = face_points(0.6), face_points(24.0)
    frame = skin_frame(driven)
    assert draw_mouth(frame, driven, CLIP, own_opening(rest))
    changed = np.any(frame != skin_frame(driven), axis=2)
    # the edge is feathered (a Gaussian of FEATHER × the 60-px mouth, 2.1 px): 3 of those and a pixel
    near = cv2.dilate(opening_mask(driven, 0).astype(np.uint8), np.ones((17, 17), np.uint8)) > 0
    assert changed[opening_mask(driven)].mean() > 0.95 and not changed[~near].any()
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(float)
    column = luma[:, 100]  # the mouth's middle: the upper lip at y 88, the lower at 112
    teeth, cavity = column[90:93].mean(), column[93:110].min()  # below the teeth, the dark before the tongue
    skin = float(cv2.cvtColor(skin_frame(driven), cv2.COLOR_RGB2GRAY)[100, 30])
    assert teeth > skin and cavity < 0.6 * skin, (teeth, cavity, skin)
    # at the mouth's corners the teeth give way to the dark: lit in front only
    assert luma[91, 100] > luma[95, 75] + 30


def test_a_grey_face_gets_a_grey_mouth():
    rest, driven = face_points(0.6), face_points(24.0)
    frame = skin_frame(driven, (150, 150, 150), (110, 110, 110))
    assert draw_mouth(frame, driven, CLIP, own_opening(rest))
    ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb).astype(float)
    chroma = np.hypot(ycc[..., 1] - 128, ycc[..., 2] - 128)
    assert chroma[opening_mask(driven)].mean() < 3.0  # the colour face's mouth (below) reads ~15


def test_a_colour_face_gets_a_coloured_mouth():
    rest, driven = face_points(0.6), face_points(24.0)
    frame = skin_frame(driven)
    draw_mouth(frame, driven, CLIP, own_opening(rest))
    ycc = cv2.cvtColor(frame, cv2.COLOR_RGB2YCrCb).astype(float)
    assert (ycc[..., 1] - 128)[opening_mask(driven)].mean() > 8  # red: the cavity and the tongue


def test_a_portraits_own_open_mouth_is_drawn_over_only_once_the_warp_would_stretch_it():
    own = face_points(12.0)  # 0.2 of the mouth's width: a smile with teeth
    ratio = own_opening(own)
    for gap, drawn in ((12.0 * (STRETCH[0] - 0.1), False), (12.0 * (STRETCH[1] + 0.1), True)):
        driven = face_points(gap)
        assert draw_mouth(skin_frame(driven), driven, CLIP, ratio) == drawn, gap


def smile_with_teeth(split: float) -> tuple[np.ndarray, np.ndarray]:
    """A face smiling with its teeth (inner lips 12 px apart, 0.2 of the mouth's width): white upper teeth from
    the upper lip down to `split` of the gap, a dark row where they part, grey lower teeth below. (image, 68×2)"""
    own = face_points(12.0)
    image = skin_frame(own)
    opening = np.zeros((200, 200), np.uint8)
    cv2.fillPoly(opening, [np.rint(own[60:68]).astype(np.int32)], (1,))
    rows = np.arange(200)[:, None] - 94.0  # the upper inner lip at y 94, the lower at 106
    image[(opening > 0) & (rows < 12 * split)] = (235, 235, 230)
    image[(opening > 0) & (rows >= 12 * split)] = (150, 150, 145)
    image[(opening > 0) & (np.abs(rows - 12 * split) < 1)] = (20, 10, 10)
    return image, own


def test_a_smiling_portraits_own_teeth_are_carried_by_its_lips_not_stretched():
    """Opened three times its own gap, a smile's teeth stay their own height under the upper lip (the warp had
    stretched them into grey bars, then laid the drawn teeth over them halfway into the fade), the lower teeth
    rise with the lower lip, and the opening between them is the drawing's dark."""
    image, own = smile_with_teeth(0.65)
    driven = face_points(36.0)  # the upper inner lip at y 82, the lower at 118
    frame = skin_frame(driven)  # what the warp left there does not matter: it is covered
    assert draw_mouth(frame, driven, CLIP, own_opening(own), OwnMouth(image, own, 0.65))
    luma = cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY).astype(float)[:, 100]
    # the upper teeth as at rest: 7 rows of white (y 94-100 there), then the dark row where they part
    assert luma[83:88].min() > 200 and luma[89] < 60, luma[80:92]
    assert luma[92:100].max() < 90, luma[88:104]  # below them the drawing's dark
    assert 110 < luma[114:117].mean() < 170, luma[110:120]  # the lower teeth (grey), 4.2 px above the lower lip
    # no teeth of the drawing's own under the portrait's: the same opening without them draws its rows there
    drawn = skin_frame(driven)
    draw_mouth(drawn, driven, CLIP, own_opening(own))
    assert not np.array_equal(drawn, frame)


def test_where_a_smiles_teeth_part_is_read_from_the_portrait():
    for split in (0.5, 0.7):
        image, own = smile_with_teeth(split)
        assert abs(own_teeth_split(image, own) - split) <= 0.06, split
    image, own = smile_with_teeth(0.65)
    cv2.fillPoly(image, [np.rint(own[60:68]).astype(np.int32)], (235, 235, 230))  # upper teeth only, no parting
    assert own_teeth_split(image, own) == SPLIT_RANGE[1]


def test_a_smiling_portrait_opened_halfway_keeps_its_teeth_over_a_dark_opening(portraits):
    """Obama's photo (smiling with his teeth) posed with --mouth 0.5 through the bundled model: the warp had
    stretched his teeth down the whole opening into grey bars (its middle's luma 174, the upper fifth 142); his
    own teeth carried by his upper lip, the middle reads 97 and the upper fifth 175."""
    luma, mask, _ = posed_opening(portraits / "photo_barack_obama.jpg", 0.5)
    ys = np.nonzero(mask)[0]
    top, bottom = ys.min(), ys.max()
    rows = np.arange(luma.shape[0])[:, None]
    upper_band = mask & (rows < top + 0.2 * (bottom - top))
    middle = mask & (np.abs(rows - (top + bottom) / 2) < 0.15 * (bottom - top))
    assert luma[upper_band].mean() > 160 and luma[middle].mean() < 130, (luma[upper_band].mean(), luma[middle].mean())


def test_the_sample_portraits_open_mouth_shows_teeth_over_a_dark_cavity():
    """Grace Hopper (the built-in sample, matplotlib's) posed with --mouth 1 through the bundled model on ONNX
    Runtime: the generator alone painted a flat grey smudge there (luma: its upper fifth 59, its middle 73,
    the skin below the lips 134); with the drawing the upper part (the teeth) reads 178, brighter than the skin,
    and the middle 21."""
    from liveavatar.sample import sample_portrait

    luma, mask, points = posed_opening(sample_portrait(), 1.0)
    ys = np.nonzero(mask)[0]
    top, bottom = ys.min(), ys.max()
    upper_band = mask & (np.arange(luma.shape[0])[:, None] < top + 0.2 * (bottom - top))
    middle = mask & (np.abs(np.arange(luma.shape[0])[:, None] - (top + bottom) / 2) < 0.15 * (bottom - top))
    (left, _), (right, chin) = points[48:60].min(0).astype(int), points[48:60].max(0).astype(int)
    skin = luma[chin + 4 : chin + 12, left:right]  # below the lower lip
    assert luma[upper_band].mean() > skin.mean(), (luma[upper_band].mean(), skin.mean())
    assert luma[middle].mean() < 0.5 * skin.mean(), (luma[middle].mean(), skin.mean())


def test_gs_paint_comes_off_the_inside_of_a_portraits_own_open_mouth_only():
    paint = np.full((200, 200, 4), 200, np.uint8)
    driven = face_points(20.0)
    assert unpaint_own_inside(paint, driven, own_opening(face_points(0.6))) is paint  # a closed mouth: G paints
    taken = unpaint_own_inside(paint, driven, own_opening(face_points(12.0)))  # a smile with teeth
    assert np.array_equal(taken[..., :3], paint[..., :3])
    inside_, far = opening_mask(driven), ~(cv2.dilate(opening_mask(driven, 0).astype(np.uint8), np.ones((25, 25))) > 0)
    assert taken[..., 3][inside_].max() < 10 and np.array_equal(taken[..., 3][far], paint[..., 3][far])


def test_a_smiling_portrait_opened_a_little_shows_its_own_teeth_not_gs_wash(portraits):
    """Obama's photo (smiling with his teeth) posed with --mouth 0.3 through the bundled model: the warp
    stretches his own teeth a little, and G's paint over them had washed them pale (the opening's 90th
    percentile of luma 180); with the paint taken off there, 233: his teeth."""
    luma, mask, _ = posed_opening(portraits / "photo_barack_obama.jpg", 0.3)
    assert np.percentile(luma[mask], 90) > 210


def posed_opening(path, mouth: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The portrait at `path` posed with --mouth `mouth` through the bundled model on ONNX Runtime, at its own
    size: the output's luma (H×W float), the driven opening (H×W bool, its edge eroded a pixel) and the driven
    68×2 points in the output's pixels."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([path], checkpoint)
    engine = create_engine("onnxruntime", checkpoint).engine
    ph, pw = avatar.portrait.shape[:2]
    renderer = PoseRenderer(avatar, engine, pw, ph, ai_mark=False, warp=warp_avatar_of(avatar, checkpoint))
    result = renderer.render(PoseSettings(mouth=mouth))
    engine.close()
    inverse = np.linalg.inv(np.vstack([avatar.crop_matrix, [0, 0, 1]]))[:2]
    points = result.points @ inverse[:, :2].T + inverse[:, 2]  # crop → portrait pixels (= the output's here)
    luma = cv2.cvtColor(result.output, cv2.COLOR_RGB2GRAY).astype(float)
    mask = np.zeros(luma.shape, np.uint8)
    cv2.fillPoly(mask, [np.rint(points[60:68]).astype(np.int32)], (255,))
    return luma, cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0, points
