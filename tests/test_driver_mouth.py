"""The driver's own mouth inside the avatar's open lips (liveavatar.render.driver_mouth, issue 20).

Real frames of a real clip, tracked by mediapipe: laid on its own frame the mouth is that frame; moved and
scaled, it lands on the avatar's lips; on a grey portrait it comes out grey; a closed mouth lays nothing; and
through the live Composer with the bundled model it changes the inside of the mouth and nothing else.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from liveavatar.render.driver_mouth import (
    DETAIL_SLACK,
    HIGHLIGHT_KNEE,
    MAX_SHARPEN,
    DriverFrame,
    bend_into_range,
    detail,
    match_detail,
    opening,
    transplant,
)

CLIP = "lp_d18_man_mouth_open.mp4"


@pytest.fixture(scope="module")
def mouths(driving):
    """(closed, open): two (RGB frame, 68×2 landmarks) of the clip, its most closed and most open mouth."""
    from liveavatar.landmarks.tracker import FaceTracker

    capture = cv2.VideoCapture(str(driving / CLIP))
    seen = []
    with FaceTracker("video", max_faces=1) as tracker:
        for _ in range(150):
            ok, bgr = capture.read()
            if not ok:
                break
            rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
            result = tracker.track(rgb)
            if result.landmarks is not None:
                seen.append((rgb, result.landmarks.points68.astype(np.float32)))
    capture.release()
    seen.sort(key=lambda item: opening(item[1]))
    closed, widest = seen[0], seen[-1]
    assert opening(widest[1]) > 20 and opening(closed[1]) < 1.5, "the clip should open and close its mouth"
    return closed, widest


def inside(points: np.ndarray, shape: tuple[int, ...], erode: int = 3) -> np.ndarray:
    """A bool mask of the inner-lip polygon, shrunk by `erode` px (away from the feathered edge)."""
    mask = np.zeros(shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.rint(points[60:68]).astype(np.int32)], 255)
    return cv2.erode(mask, np.ones((2 * erode + 1,) * 2, np.uint8)) > 0


def test_the_drivers_mouth_laid_on_its_own_frame_is_that_frame(mouths):
    _, (image, points) = mouths
    frame = image.copy()
    h, w = frame.shape[:2]
    assert transplant(frame, points, DriverFrame(image, points), (0, 0, w, h))
    diff = np.abs(frame.astype(int) - image)
    assert diff[inside(points, frame.shape)].mean() < 1.0  # the same map and the same colours: itself
    lo, hi = points[60:68].min(0), points[60:68].max(0)
    far = np.ones((h, w), bool)
    far[int(lo[1]) - 12 : int(hi[1]) + 12, int(lo[0]) - 12 : int(hi[0]) + 12] = False
    assert not diff[far].any()  # nothing outside the mouth's box


def test_a_moved_and_smaller_mouth_lands_on_the_avatars_lips(mouths):
    _, (image, points) = mouths
    h, w = image.shape[:2]
    move = np.array([[0.6, 0.0, 70.0], [0.0, 0.6, 40.0]])  # the "avatar": the same face, smaller, elsewhere
    avatar = cv2.warpAffine(image, move, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    avatar_points = (points @ move[:, :2].T + move[:, 2]).astype(np.float32)
    frame = avatar.copy()
    # what the avatar showed inside its lips is replaced: blank it, so only a transplant can restore it
    blank = inside(avatar_points, frame.shape, erode=0)
    frame[blank] = 128
    assert transplant(frame, avatar_points, DriverFrame(image, points), (0, 0, w, h))
    core = inside(avatar_points, frame.shape, erode=2)
    assert np.abs(frame.astype(int) - avatar)[core].mean() < 3.0


def test_on_a_grey_portrait_the_mouth_comes_out_grey(mouths):
    _, (image, points) = mouths
    h, w = image.shape[:2]
    grey = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    frame = grey.copy()
    assert transplant(frame, points, DriverFrame(image, points), (0, 0, w, h))
    mouth = inside(points, frame.shape).nonzero()
    rgb = frame[mouth].astype(int)
    chroma = rgb.max(1) - rgb.min(1)
    source = image[mouth].astype(int)
    assert (source.max(1) - source.min(1)).mean() > 20  # the driver's mouth has colour (a red tongue)...
    assert chroma.mean() < 3.0  # ...the grey portrait's mouth has none


def test_detail_is_moved_to_the_references_both_ways():
    rng = np.random.default_rng(3)
    texture = cv2.cvtColor(rng.integers(0, 256, (90, 120), np.uint8), cv2.COLOR_GRAY2RGB)
    sharp, soft = texture, cv2.GaussianBlur(texture, (0, 0), 1.5)
    ring = np.ones((90, 120), np.uint8)
    assert detail(soft, ring) < 0.5 * detail(sharp, ring)
    softened = match_detail(sharp, soft, ring)  # a crisp mouth on a soft painting
    assert detail(softened, ring) <= detail(soft, ring) < detail(sharp, ring)
    sharpened = match_detail(soft, sharp, ring)  # a soft mouth on a crisp photo: sharpened, as far as allowed
    assert detail(soft, ring) * 1.3 < detail(sharpened, ring) <= detail(soft, ring) * (1 + MAX_SHARPEN)
    near = cv2.GaussianBlur(texture, (0, 0), 1.45)
    assert abs(detail(near, ring) / detail(soft, ring) - 1) < DETAIL_SLACK
    assert match_detail(near, soft, ring) is near  # close enough: left as cut


def test_a_soft_drivers_mouth_takes_the_portraits_sharpness(mouths):
    """A beauty-filtered camera (the driver's frame blurred) laid on the sharp frame it came from: the laid
    mouth comes out about as sharp as the real one, where the blurred cut alone stays soft."""
    _, (image, points) = mouths
    h, w = image.shape[:2]
    soft = cv2.GaussianBlur(image, (0, 0), 1.2)
    core = inside(points, image.shape, erode=3).astype(np.uint8)
    frame = image.copy()
    assert transplant(frame, points, DriverFrame(soft, points), (0, 0, w, h))
    real, cut, laid = (detail(x, core) for x in (image, soft, frame))
    assert laid > 1.3 * cut  # sharpened...
    assert abs(laid / real - 1) < abs(cut / real - 1)  # ...towards the real mouth's detail
    # and the other way: a sharp camera's mouth on a soft (blurred) portrait comes out softer than cut
    frame = soft.copy()
    assert transplant(frame, points, DriverFrame(image, points), (0, 0, w, h))
    assert detail(frame, core) < 0.8 * detail(image, core)


def test_a_mouth_moved_past_white_keeps_its_gradation():
    """Light the colour move takes past 255 is bent under it, in order, not cut off: teeth keep their shading
    instead of a flat white block; a mouth already in range is left as it is, and so is its black."""

    def bent(image: np.ndarray) -> np.ndarray:
        image = image.copy()
        bend_into_range(image, image.reshape(-1, 3))
        return np.clip(np.rint(image), 0, 255).astype(int)

    ramp = np.linspace(-60.0, 330.0, 400, dtype=np.float32)
    fitted = bent(np.repeat(ramp[None, :, None], 3, axis=2))[0, :, 0]  # a mouth's light, past black to past white
    assert np.all(np.diff(fitted) >= 0)  # in order
    assert len(np.unique(fitted[ramp > 255])) > 8  # past white: still graded (cut off, one level: 255)
    below = ramp <= HIGHLIGHT_KNEE
    assert np.array_equal(fitted[below], np.clip(np.rint(ramp[below]), 0, 255))  # the rest as it was
    steps = np.diff(fitted[(ramp > HIGHLIGHT_KNEE - 20) & (ramp < HIGHLIGHT_KNEE + 20)])
    assert steps.max() <= 2  # no kink at the knee: its slope is 1 there
    within = np.clip(np.repeat(ramp[None, :, None], 3, axis=2), 10, 240)
    assert np.array_equal(bent(within), np.rint(within))


def test_on_a_contrasty_portrait_the_drivers_teeth_are_not_burnt_out(mouths):
    """The real open mouth laid on a brighter, contrastier copy of its frame (a contrasty photo or painting:
    the colour move raises the light inside past white): few of its pixels end at 255 (cut off: 8 % of them)."""
    _, (image, points) = mouths
    h, w = image.shape[:2]
    frame = np.clip((image.astype(np.float32) - 128) * 2.5 + 168, 0, 255).astype(np.uint8)
    assert transplant(frame, points, DriverFrame(image, points), (0, 0, w, h))
    laid = frame[inside(points, frame.shape)]
    assert (laid == 255).any(1).mean() < 0.01


def test_on_a_yellower_livelier_skin_white_teeth_stay_white(mouths):
    """The real open mouth, its inside made a white block (teeth), laid on a copy of its frame whose face
    (everything but the inside of the mouth) is yellower and its reds livelier about the same mean, as a
    portrait of another person can be: its lips ring as red as the driver's, more varied. Scaling chroma
    about the ring's mean took the driver's white past grey, to mint green (Cr 123); it must stay white."""
    from liveavatar.render.driver_mouth import ring_box, ring_stats

    _, (image, points) = mouths
    h, w = image.shape[:2]
    ring_mean = ring_stats(image, points, ring_box(points, (0, 0, w, h)))[0]
    ycc = cv2.cvtColor(image, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    ycc[..., 1] = ring_mean[1] + 1.25 * (ycc[..., 1] - ring_mean[1])  # livelier reds, the same mean
    ycc[..., 2] -= 9  # yellower
    face = cv2.cvtColor(np.clip(ycc, 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
    mouth = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mouth, [np.rint(points[60:68]).astype(np.int32)], 255)
    frame = np.where(cv2.dilate(mouth, np.ones((9, 9), np.uint8))[..., None] > 0, image, face)
    driver = image.copy()
    driver[mouth > 0] = 200  # white teeth filling the opening
    assert transplant(frame, points, DriverFrame(driver, points), (0, 0, w, h))
    laid = frame[inside(points, frame.shape, erode=6)].astype(float)
    cr = cv2.cvtColor(laid[None].astype(np.uint8), cv2.COLOR_RGB2YCrCb)[0, :, 1].astype(float)
    assert cr.mean() >= 127.5, f"the laid white turned green: mean Cr {cr.mean():.1f}, RGB {laid.mean(0).round(1)}"


def test_the_colour_move_puts_grey_between_grey_and_the_portraits_hue_and_keeps_aligned_rings_exact():
    """Over random ring statistics: the driver's grey always lands on the segment from grey to the target
    ring's chroma; where the rings' hues agree (the target a scaled copy of the source), the ring's mean still
    maps exactly onto the target's, as the plain statistics transfer does."""
    from liveavatar.render.driver_mouth import _TO_YCC, _YCC_OFFSET, colour_map

    rng = np.random.default_rng(0)
    for _ in range(300):
        mean_in = np.concatenate([[rng.uniform(60, 200)], 128 + rng.uniform(-30, 30, 2)])
        mean_out = np.concatenate([[rng.uniform(60, 200)], 128 + rng.uniform(-30, 30, 2)])
        std_in, std_out = rng.uniform(2, 25, 3), rng.uniform(2, 25, 3)
        m = colour_map((mean_in, std_in), (mean_out, std_out))
        grey = _TO_YCC @ (m[:, :3] @ np.full(3, 128.0) + m[:, 3]) + _YCC_OFFSET - 128
        hue = mean_out[1:] - 128
        along = grey[1:] @ hue / (hue @ hue)
        assert -1e-6 <= along <= 1 + 1e-6
        assert np.allclose(grey[1:], along * hue, atol=1e-6)  # on the line through grey and the ring's hue
    # aligned: the portrait's ring 1.2× the driver's offsets from grey, spreads 1.2×
    mean_in, std_in = np.array([120.0, 148.0, 116.0]), np.array([20.0, 5.0, 3.0])
    mean_out, std_out = np.array([130.0, 128 + 1.2 * 20, 128 - 1.2 * 12]), std_in * 1.2
    m = colour_map((mean_in, std_in), (mean_out, std_out))
    ring_in_rgb = np.linalg.solve(_TO_YCC, mean_in - _YCC_OFFSET)
    assert np.allclose(_TO_YCC @ (m[:, :3] @ ring_in_rgb + m[:, 3]) + _YCC_OFFSET, mean_out, atol=1e-6)


def test_a_closed_mouth_lays_nothing(mouths):
    (closed_image, closed_points), (image, points) = mouths
    h, w = image.shape[:2]
    frame = image.copy()
    # the driver's mouth closed while the avatar's is open: nothing to cut out, G's paint stays
    assert not transplant(frame, points, DriverFrame(closed_image, closed_points), (0, 0, w, h))
    # the avatar's mouth closed: nothing inside to show
    assert not transplant(frame, closed_points, DriverFrame(image, points), (0, 0, w, h))
    assert np.array_equal(frame, image)


@pytest.mark.slow
def test_the_live_composer_lays_the_drivers_mouth_inside_the_avatars_lips_only(mouths, portraits):
    """The bundled model driven open-mouthed: with the driver's mouth the inside of the avatar's lips changes
    (the camera's teeth and shadow, in the portrait's colours) and nothing else of the frame does."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.live.spec import Background
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer
    from liveavatar.pipeline.stages import Composer
    from liveavatar.render.rasterize import rasterize_landmarks

    bundled = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "painting_girl_with_a_pearl_earring.jpg"], bundled)
    engine = create_engine("onnxruntime", bundled).engine
    warp = warp_avatar_of(avatar, bundled)
    posed = PoseRenderer(avatar, engine, 1280, 720, ai_mark=False, warp=warp).render(PoseSettings(mouth=0.8))
    points, control = posed.points, posed.control  # 68×2 landmarks; 70×2 control points (with the irises)
    assert control is not None
    psi = avatar.psi[None].astype(np.float32)
    layers = engine.infer_layers(
        rasterize_landmarks(points, points_size := avatar.crop.shape[0])[None], psi, warp, control[None]
    )
    engine.close()
    _, (image, driver) = mouths
    composer = Composer(1280, 720)
    face = layers.frames[0]
    # the same frame (the same driven points: the map is unfolded along them) without and with the driver's mouth
    plain = composer.compose(face, avatar, Background(), False, False, layers, None, points)
    mouthed = composer.compose(face, avatar, Background(), False, False, layers, DriverFrame(image, driver), points)
    from_crop = composer._full_resolution(avatar, Background(), points_size, layers.flow.shape[1])[1].from_crop
    lips = points @ from_crop[:, :2].T + from_crop[:, 2]  # the avatar's driven landmarks, output pixels
    changed = np.abs(mouthed.astype(int) - plain).max(2) > 2
    ys, xs = changed.nonzero()
    (lx, ly), (hx, hy) = lips[60:68].min(0) - 8, lips[60:68].max(0) + 8
    assert len(ys) > 50 and lx <= xs.min() and xs.max() <= hx and ly <= ys.min() and ys.max() <= hy
    assert changed[inside(lips, plain.shape, erode=2)].mean() > 0.5  # the inside of the lips is the new mouth


def test_the_processor_hands_on_the_drivers_points_of_that_very_frame_only_when_tracked(driving, portraits, checkpoint):
    """The mouth is cut out of the camera frame, so the points must be that frame's own (not smoothed, which
    lags a moving mouth), and there are none for a scripted driver (no camera) or a lost face. The creases are
    this frame's light over the neutral's, so the neutral's own camera frame is handed on with that frame's own
    points (liveavatar.render.creases), none while a neutral is being captured (again)."""
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.live.spec import TrackingConfig
    from liveavatar.pipeline.stages import Processor
    from liveavatar.types import FaceLandmarks

    capture = cv2.VideoCapture(str(driving / CLIP))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(12)]
    capture.release()
    avatar = build_avatar([portraits / "painting_mona_lisa.jpg"], checkpoint)
    processor = Processor(TrackingConfig(neutral_frames=2), 64)
    try:
        c = TrackingConfig()
        with FaceTracker("video", 2, c.min_detection_confidence, c.min_tracking_confidence, irises=True) as tracker:
            handed = []
            for i, image in enumerate(frames):
                driven, _ = processor.process(image, None, i / 30, avatar, "relative")
                own = tracker.track(image).landmarks
                assert driven.driver_now is not None and own is not None
                np.testing.assert_allclose(driven.driver_now, own.points68, atol=0.5)
                handed.append(driven)
        assert handed[0].neutral_frame is None  # still capturing (neutral_frames=2)
        kept = handed[1].neutral_frame
        assert kept is not None and all(d.neutral_frame is kept for d in handed[1:])
        # one of the capture's frames (its last open-eyed one), with that frame's own points
        which = next(i for i in (0, 1) if kept.image is frames[i])
        np.testing.assert_array_equal(kept.points, handed[which].driver_now)
        moved = np.abs(driven.driver.points68 - driven.driver_now).max()
        assert moved > 0.05  # the smoothed points are not this frame's
        scripted = FaceLandmarks(own.points68, own.image_size)
        assert processor.process(frames[-1], scripted, 1.0, avatar, "relative")[0].driver_now is None
        lost = processor.process(np.zeros_like(frames[0]), None, 1.1, avatar, "relative")[0]
        assert lost.driver_now is None and lost.neutral_frame is kept  # the neutral stays through a lost face
        processor.calibrate()
        assert processor.process(frames[0], None, 1.2, avatar, "relative")[0].neutral_frame is None
    finally:
        processor.close()


def test_a_lost_face_keeps_the_last_tracked_mouth_while_its_pose_is_held(driving, portraits):
    """Tracking lost for a frame holds the last pose (the Processor), and with it the last tracked mouth: before,
    such a frame had no driver's mouth, so the drawn one showed for it and the driver's came back after (a
    flicker of teeth). Once the pose is back at rest the held mouth is let go."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.stages import Composer, Processor, compose_frame, infer_frame

    bundled = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "painting_mona_lisa.jpg"], bundled)
    engine = create_engine("onnxruntime", bundled).engine
    warp, psi = warp_avatar_of(avatar, bundled), avatar.psi[None].astype(np.float32)
    capture = cv2.VideoCapture(str(driving / CLIP))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(90)]
    capture.release()
    processor = Processor(TrackingConfig(neutral_frames=2), bundled.config.image_size)
    composer = Composer(640, 360)
    try:
        widest, last = None, None
        for i, image in enumerate(frames):
            driven, _ = processor.process(image, None, i / 30, avatar, "relative")
            if driven.driver_now is not None and (widest is None or opening(driven.driver_now) > widest):
                widest, last = opening(driven.driver_now), (i, image, driven)
                if widest > 20:
                    break
        assert last is not None and widest > 20, "the clip opens its mouth wide within 90 frames"
        i, image, driven = last
        look = (Background(), False, False)  # background, mirror, ai_mark

        def compose(driven, camera):
            face, layers = infer_frame(engine, psi, warp, driven)
            return compose_frame(composer, face, avatar, *look, layers, driven, camera)

        compose(driven, image)
        dark = np.zeros_like(image)  # no face: the pose is held
        lost, _ = processor.process(dark, None, (i + 1) / 30, avatar, "relative")
        assert lost.from_last and lost.driver_now is None
        shown = compose(lost, dark)
        face, layers = infer_frame(engine, psi, warp, lost)
        irises = lost.control[68:]
        last = DriverFrame(image, driven.driver_now)
        held = composer.compose(face, avatar, *look, layers, last, lost.points, irises, (lost.neutral_frame, last))
        drawn = composer.compose(face, avatar, *look, layers, None, lost.points, irises)
        assert np.array_equal(shown, held) and not np.array_equal(shown, drawn)
        # the held frame's creases go with its mouth; turned off, the frame is the mouth's alone
        plain = composer.compose(face, avatar, *look, layers, last, lost.points, irises)
        face, layers = infer_frame(engine, psi, warp, lost)
        unlit = compose_frame(composer, face, avatar, *look, layers, lost, dark, creases=False)
        assert np.array_equal(unlit, plain) and not np.array_equal(unlit, shown)
        # gliding back to the neutral, the held creases fade with the pose
        cfg = processor.cfg
        halfway = (i + 1) / 30 + cfg.hold_s + cfg.fade_s / 2
        gliding, _ = processor.process(dark, None, halfway, avatar, "relative")
        assert gliding.from_last and 0 < gliding.last_share < 1 and lost.last_share == 1
        face, layers = infer_frame(engine, psi, warp, gliding)
        shown = compose_frame(composer, face, avatar, *look, layers, gliding, dark)
        args = (face, avatar, *look, layers, last, gliding.points, gliding.control[68:], (lost.neutral_frame, last))
        assert np.array_equal(shown, composer.compose(*args, gliding.last_share))
        assert not np.array_equal(shown, composer.compose(*args, 1.0))
        rest, _ = processor.process(dark, None, (i + 1) / 30 + 60.0, avatar, "relative")  # a minute later
        assert not rest.from_last
        compose(rest, dark)
        assert composer.held_frame is None
    finally:
        processor.close()
        engine.close()


def test_no_driver_mouth_turns_it_off_for_the_run(tmp_path):
    from liveavatar.cli import build_parser
    from liveavatar.commands.run import build_config

    base = ["run", "--avatar", str(tmp_path / "a.avatar"), "--source", "scripted", "--sink", "http:8765"]
    assert build_config(build_parser().parse_args(base)).driver_mouth
    assert not build_config(build_parser().parse_args([*base, "--no-driver-mouth"])).driver_mouth
