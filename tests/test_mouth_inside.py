"""What fills the avatar's open lips (liveavatar.render.mouth_inside): the driver's mouth, or a drawn one.

A synthetic face pins the choice: a closed-mouth portrait takes the driver's mouth however soft; a smiling one
keeps its own teeth until the camera's softness is known, then takes a sharp driver's mouth and draws over a
soft one's blur; the choice holds against one frame's reading, cross-fades when the camera's sharpness really
changes, and starts afresh for a new avatar. Obama's smiling
photo driven by a soft talking clip through the bundled model and the live Composer pins what a user sees.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from test_drawn_mouth import CLIP, face_points, opening_mask, skin_frame

from liveavatar.render.drawn_mouth import draw_mouth, own_opening
from liveavatar.render.driver_mouth import DriverFrame, cut_mouth, transplant
from liveavatar.render.mouth_inside import KNOWN_READINGS, READ_EVERY, SOFT, SWITCH_FRAMES, MouthInside

DRIVEN = face_points(24.0)  # the avatar's lips, opened
SMILE = own_opening(face_points(12.0))  # a portrait smiling with its teeth: 0.2 of its mouth's width
CLOSED = own_opening(face_points(0.6))


def driver(sigma: float = 0.0) -> DriverFrame:
    """A driver's open mouth (teeth under the upper lip, dark below) on a grainy face, blurred by `sigma` px."""
    points = face_points(16.0, centre=(100.0, 90.0))
    image = skin_frame(points)
    inner = np.rint(points[60:68]).astype(np.int32)
    mouth = np.zeros(image.shape[:2], np.uint8)
    cv2.fillPoly(mouth, [inner], (1,))
    image[mouth > 0] = (40, 20, 20)
    teeth = mouth.astype(bool) & (np.arange(200)[:, None] < 88)
    image[teeth] = (235, 230, 220)
    if sigma > 0:
        image = cv2.GaussianBlur(image, (0, 0), sigma)
    return DriverFrame(image, points.astype(np.float32))


SHARP, SOFT_MOUTH = driver(), driver(3.0)


def portrait() -> np.ndarray:
    return skin_frame(DRIVEN)


def transplanted(mouth: DriverFrame) -> np.ndarray:
    frame = portrait()
    assert transplant(frame, DRIVEN, mouth, CLIP)
    return frame


def drawn(own: float) -> np.ndarray:
    frame = portrait()
    assert draw_mouth(frame, DRIVEN, CLIP, own)
    return frame


def filled(inside: MouthInside, own: float, mouth: DriverFrame, avatar: object, teeth: float = 1.0) -> np.ndarray:
    frame = portrait()
    inside.fill(frame, DRIVEN, CLIP, own, None, teeth, mouth, avatar)
    return frame


def test_the_synthetic_drivers_read_sharp_and_soft():
    sharp, soft = (cut_mouth(portrait(), DRIVEN, mouth, CLIP, read_softness=True) for mouth in (SHARP, SOFT_MOUTH))
    assert sharp is not None and soft is not None
    assert sharp.softness < SOFT[0] < SOFT[1] < soft.softness, (sharp.softness, soft.softness)


def test_a_closed_mouthed_portrait_takes_the_drivers_mouth_however_soft():
    for mouth in (SHARP, SOFT_MOUTH):
        assert np.array_equal(filled(MouthInside(), CLOSED, mouth, object()), transplanted(mouth))


def settled(inside: MouthInside, mouth: DriverFrame, avatar: object, frames: int = 3 * SWITCH_FRAMES) -> np.ndarray:
    """A smiling portrait's frame after `frames` of the same driver's mouth: the running softness known."""
    for _ in range(frames):
        out = filled(inside, SMILE, mouth, avatar)
    return out


def test_a_smiling_portrait_takes_a_sharp_mouth_and_draws_over_a_soft_ones_blur():
    # until the camera's softness is known the portrait keeps its own teeth, drawn, whatever the camera: a soft
    # one's blob showed there for the first frames of every session
    for mouth in (SHARP, SOFT_MOUTH):
        inside, avatar = MouthInside(), object()
        for _ in range(KNOWN_READINGS - 1):
            assert np.array_equal(filled(inside, SMILE, mouth, avatar), drawn(SMILE))
    # then a sharp camera's mouth comes in over SWITCH_FRAMES (chosen at the last reading of those), and a soft
    # one's never shows
    inside, avatar = MouthInside(), object()
    outs = [filled(inside, SMILE, SHARP, avatar) for _ in range(KNOWN_READINGS + SWITCH_FRAMES)]
    first = next(i for i, out in enumerate(outs) if np.array_equal(out, transplanted(SHARP)))
    assert first == KNOWN_READINGS + SWITCH_FRAMES - 2
    inside, avatar = MouthInside(), object()
    outs = [filled(inside, SMILE, SOFT_MOUTH, avatar) for _ in range(KNOWN_READINGS + 3 * SWITCH_FRAMES)]
    assert all(np.array_equal(out, drawn(SMILE)) for out in outs)
    assert (np.abs(outs[-1].astype(int) - portrait()).max(2) > 2)[opening_mask(DRIVEN)].mean() > 0.5  # not bare


def test_an_open_mouth_without_teeth_takes_the_drivers_mouth_however_soft():
    # parted lips' shadow, a painted line between the lips: drawn over, the paintings' openings read smaller
    for mouth in (SHARP, SOFT_MOUTH):
        assert np.array_equal(filled(MouthInside(), SMILE, mouth, object(), teeth=0.0), transplanted(mouth))


def test_which_portraits_show_teeth_is_read_from_their_mouths(portraits):
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.render.drawn_mouth import own_teeth_show

    bundled = open_checkpoint(resolve_checkpoint(None))
    shows = {}
    for name in (
        "photo_barack_obama.jpg",
        "photo_audrey_hepburn.jpg",
        "painting_van_gogh_self_portrait_1889.jpg",
        "photo_bob_dylan_bw.jpg",
        "painting_mona_lisa.jpg",
    ):
        avatar = build_avatar([portraits / name], bundled)
        shows[name] = own_teeth_show(avatar.crop, avatar.landmarks)
    assert shows["photo_barack_obama.jpg"] == 1.0 and shows["photo_audrey_hepburn.jpg"] == 1.0, shows
    # a painted dark line between the lips, a slit's shadow, closed lips
    assert shows["painting_van_gogh_self_portrait_1889.jpg"] == 0.0 and shows["photo_bob_dylan_bw.jpg"] == 0.0, shows
    assert shows["painting_mona_lisa.jpg"] == 0.0, shows


def test_the_choice_holds_against_a_frame_and_cross_fades_when_the_camera_changes():
    inside, avatar = MouthInside(), object()
    soft_out, sharp_out = drawn(SMILE), transplanted(SHARP)
    assert np.array_equal(settled(inside, SOFT_MOUTH, avatar), soft_out)
    # one sharp frame among soft ones changes nothing: the running softness stays past SOFT[0]
    assert np.array_equal(filled(inside, SMILE, SHARP, avatar), soft_out)
    assert np.array_equal(filled(inside, SMILE, SOFT_MOUTH, avatar), soft_out)
    # a camera that stays sharp: the drawing gives way (its softness read every READ_EVERY-th frame while it
    # is drawn whole, then every frame) over SWITCH_FRAMES frames, never in one
    distances = []
    for _ in range(40 * READ_EVERY):
        out = filled(inside, SMILE, SHARP, avatar).astype(int)
        distances.append(np.abs(out - sharp_out).mean())
    assert distances[-1] == 0
    switched = [d for d in distances if d > 0]
    assert len(switched) >= SWITCH_FRAMES - 1 and np.all(np.diff(distances[-len(switched) - 1 :]) <= 1e-9)
    # a new avatar starts afresh: the driver's mouth laid on the last, a new one keeps its own teeth until its
    # softness is known
    assert np.array_equal(filled(inside, SMILE, SHARP, object()), soft_out)


@pytest.mark.slow
def test_a_soft_drivers_mouth_on_obamas_smile_keeps_his_teeth(portraits, driving):
    """Obama's photo, smiling with his teeth, driven by a talking clip whose mouth is soft (a phone's, beauty-
    filtered: softness 3.4–4.8 against his photo) through the bundled model on ONNX Runtime and the live Composer,
    at its widest frame (76): the driver's mouth laid there was a pale blob (the opening's fine detail 2.5, its
    middle's luma 170, its upper quarter 89: lip); drawn, his own teeth hang from his lip (the upper quarter
    181) over a dark opening (the middle 34), detail 12.8."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.capture import VideoFileSource
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.stages import Composer, Processor, compose_frame, infer_frame

    bundled = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "photo_barack_obama.jpg"], bundled)
    engine = create_engine("onnxruntime", bundled).engine
    warp = warp_avatar_of(avatar, bundled)
    psi = avatar.psi[None].astype(np.float32)
    processor = Processor(TrackingConfig(), bundled.config.image_size)
    composer = Composer(1280, 720)
    source = VideoFileSource(driving / "hellomeme_tiktok_young_woman_glances.mp4", realtime=False)
    try:
        for i in range(77):
            capture = source.read()
            assert capture is not None
            driven, _ = processor.process(capture.frame.image, None, i / 30, avatar, "relative")
            if i < 50:
                continue  # the softness is read over the frames before the widest one
            face, layers = infer_frame(engine, psi, warp, driven)
            out = compose_frame(composer, face, avatar, Background(), False, False, layers, driven, capture.frame.image)
    finally:
        source.close()
        processor.close()
        engine.close()
    assert layers is not None
    from_crop = composer._full_resolution(avatar, Background(), bundled.config.image_size, layers.flow.shape[1])[1]
    lips = driven.points @ from_crop.from_crop[:, :2].T + from_crop.from_crop[:, 2]
    mask = np.zeros(out.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.rint(lips[60:68]).astype(np.int32)], (255,))
    mask = cv2.erode(mask, np.ones((3, 3), np.uint8)) > 0
    luma = cv2.cvtColor(out, cv2.COLOR_RGB2GRAY).astype(np.float64)
    ys = np.nonzero(mask)[0]
    top, bottom = ys.min(), ys.max()
    assert bottom - top > 25, "the clip's widest frame opens the avatar's mouth wide"
    rows = np.arange(luma.shape[0])[:, None]
    upper = mask & (rows < top + 0.25 * (bottom - top))
    middle = mask & (np.abs(rows - (top + bottom) / 2) < 0.15 * (bottom - top))
    fine = luma - cv2.GaussianBlur(luma, (0, 0), 1.0)
    assert luma[upper].mean() > 150 and luma[middle].mean() < 100, (luma[upper].mean(), luma[middle].mean())
    assert fine[mask].std() > 8, fine[mask].std()
