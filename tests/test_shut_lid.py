"""A shut lid's shading (liveavatar/render/shut_lid.py): the bundled asset laid on a synthetic shut eye."""

from __future__ import annotations

import numpy as np
import pytest
from test_lids import identity_map, synthetic_face

from liveavatar.errors import InputError
from liveavatar.render import shut_lid
from liveavatar.render.lids import eye_shapes, lid_ratios, lids_now
from liveavatar.render.shut_lid import (
    CORNER_A,
    CORNER_B,
    LIGHT_FROM,
    SIZE,
    DriverLids,
    canonical,
    driver_lid_light,
    ellipse_mask,
    eye_light,
    shade_shut_lid,
    shading,
)


def flat(colour=(128, 128, 128), h: int = 200, w: int = 240) -> np.ndarray:
    return np.full((h, w, 3), colour, np.uint8)


def meeting_row(shape, u: float = 0.5) -> float:
    """Where the shut lids meet at u along the eye (rows of the synthetic face: its eyes are level)."""
    knots = np.array([u])
    vu, vl = np.interp(knots, *shape.upper.T), np.interp(knots, *shape.lower.T)
    return float(shape.corner[1] + lids_now(knots, vu, vl, shape, 1.0)[0][0])


def test_the_bundled_shading_is_symmetric_along_the_eye_and_fades_out_around_it():
    table = shading()
    assert table.shape == SIZE[::-1] and np.isfinite(table).all()
    assert np.allclose(table, table[:, ::-1], atol=1e-3)  # one template for both eyes, whichever corner is first
    edge = np.concatenate([table[0], table[-1], table[:, 0], table[:, -1]])
    assert np.abs(edge).max() < 1e-3  # nothing at the patch's edge: no step where the shading ends
    assert np.ptp(table) > 0.1  # and something inside it


def test_a_shut_lid_is_lit_above_its_lashes_and_shadowed_at_them():
    """On an even grey face, the shut eye's middle column: darkest where the lids meet or just under (a shut
    eye's lashes hang below the meeting), lighter above (the lid over the eyeball) than the grey, and nothing
    changed away from the eye. Fails on a template laid upside down (its shadow above the line)."""
    shape = eye_shapes(synthetic_face())[0]  # 40 px wide, lids 10 px apart at y 100
    image = flat()
    shade_shut_lid(image, identity_map(), shape, 1.0)
    meet = meeting_row(shape)
    column = image[:, 80, 1].astype(float)  # the eye's middle (x 60…100)
    rows = np.arange(len(column))
    darkest = rows[np.argmin(np.where(np.abs(rows - meet) <= 0.4 * shape.width, column, 255))]
    assert meet - 0.02 * shape.width <= darkest <= meet + 0.15 * shape.width and column[darkest] < 100
    above = (rows < meet - 0.08 * shape.width) & (rows > meet - 0.35 * shape.width)
    assert column[above].max() > 131
    assert np.array_equal(image[:60], flat()[:60]) and np.array_equal(image[150:], flat()[150:])
    assert np.array_equal(image[:, 130:], flat()[:, 130:])  # the other eye was not asked for


def test_only_the_light_changes_not_the_colour():
    shape = eye_shapes(synthetic_face())[0]
    image = flat((200, 130, 90))
    shade_shut_lid(image, identity_map(), shape, 1.0)
    changed = np.any(image != flat((200, 130, 90)), axis=-1)
    assert changed.sum() > 200
    ratio = image[changed].astype(float) / (200, 130, 90)
    assert np.ptp(ratio, axis=1).max() < 0.03  # R, G and B scaled alike (to within rounding)


def test_the_light_comes_in_over_the_last_of_the_closing():
    """Nothing before LIGHT_FROM (an open or half-shut eye keeps the portrait's light); part of it at 0.93, where a
    real blink's shut frames often leave the lids; all of it once shut."""
    shape = eye_shapes(synthetic_face())[0]
    change = {}
    for closing in (0.0, 0.5, LIGHT_FROM - 0.01, 0.93, 1.0):
        image = flat()
        shade_shut_lid(image, identity_map(), shape, closing)
        change[closing] = np.abs(image.astype(int) - 128).max()
    assert change[0.0] == change[0.5] == change[LIGHT_FROM - 0.01] == 0
    assert 0 < change[0.93] < change[1.0]


def test_an_eye_is_taken_to_the_patch_by_its_corners():
    a, b = np.array([210.0, 140.0]), np.array([250.0, 128.0])  # a tilted eye 41.8 px wide
    m = canonical(a, b)
    assert np.allclose(m[:, :2] @ a + m[:, 2], CORNER_A, atol=1e-4)
    assert np.allclose(m[:, :2] @ b + m[:, 2], CORNER_B, atol=1e-4)
    # a similarity: no shear, no mirror (a mirrored left eye would lay its lid under its lashes)
    assert np.linalg.det(m[:, :2]) > 0 and np.isclose(abs(m[0, 0]), abs(m[1, 1]))


def test_a_missing_asset_is_named_with_how_to_rebuild_it(tmp_path, monkeypatch):
    monkeypatch.setattr(shut_lid, "ASSET", tmp_path / "shut_lid.npz")
    shading.cache_clear()
    try:
        with pytest.raises(InputError, match=r"shut_lid\.npz.*build_shut_lid\.py"):
            shading()
        np.savez(tmp_path / "shut_lid.npz", shading=np.zeros((3, 3), np.float16))
        with pytest.raises(InputError, match="not"):
            shading()
    finally:
        shading.cache_clear()


def test_pose_without_the_asset_says_so_before_drawing_anything(portraits, tmp_path, monkeypatch, capsys):
    """The asset is read when the avatar is set (FullResolutionWarp), not at the first shut frame: a broken
    install is one line from the command, and no picture is written."""
    from liveavatar.cli import main

    monkeypatch.setattr(shut_lid, "ASSET", tmp_path / "shut_lid.npz")
    shading.cache_clear()
    try:
        out = tmp_path / "still.png"
        code = main(["pose", str(portraits / "photo_barack_obama.jpg"), "--eyes", "0", "-o", str(out)])
    finally:
        shading.cache_clear()
    err = capsys.readouterr().err
    assert code == 2 and "shut_lid.npz" in err and "Traceback" not in err
    assert not out.exists()


def driver_frame(gap: float, line_at: float, scale: float = 1.0, angle: float = 0.0):
    """A driver's camera frame (400×320 RGB, light skin) with the synthetic face's eyes (lids `gap` px apart)
    and a dark horizontal line 3 px thick `line_at` px below the eyes' corners (a shut eye's lashes), turned
    by `angle` degrees and scaled by `scale` about the first eye's middle: (DriverFrame, its 68 points)."""
    import cv2

    from liveavatar.render.driver_mouth import DriverFrame

    points = synthetic_face(gap)
    image = np.full((400, 320, 3), 190, np.uint8)
    for x0 in (60, 140):
        image[round(100 + line_at) - 1 : round(100 + line_at) + 2, x0 + 4 : x0 + 36] = 40
    m = cv2.getRotationMatrix2D((80.0, 100.0), angle, scale)
    image = cv2.warpAffine(image, m, (320, 400), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return DriverFrame(image, (points @ m[:, :2].T + m[:, 2]).astype(np.float32)), points


@pytest.mark.parametrize("scale, angle", [(1.5, 20.0), (4.0, -10.0)])
def test_the_drivers_eye_is_read_by_its_corners_whatever_its_size_and_roll(scale, angle):
    """The same eye nearer the camera (4×: 160 px wide, halved before it is read) and its head rolled gives the
    same patch: the line under its corners lands on the same canonical rows."""
    flat_on, _ = driver_frame(1.0, 4.0)
    turned, _ = driver_frame(1.0, 4.0, scale=scale, angle=angle)
    a, b = eye_light(flat_on.image, flat_on.points, 0), eye_light(turned.image, turned.points, 0)
    assert a.shape == b.shape == SIZE[::-1]
    middle = slice(CORNER_A[0] + 10, CORNER_B[0] - 10)
    row = CORNER_A[1] + 4 * (CORNER_B[0] - CORNER_A[0]) / 40  # 4 px under a 40-px eye, in canonical px
    for patch in (a, b):
        darkest = np.argmin(patch[:, middle].mean(axis=1))
        assert abs(darkest - row) <= 1.5
    mask = ellipse_mask()  # what is laid: past it, the 4× frame's own edge comes into the patch
    assert np.corrcoef((a * mask).ravel(), (b * mask).ravel())[0, 1] > 0.95


def test_an_eye_too_small_to_read_gives_no_light():
    frame, _ = driver_frame(1.0, 4.0, scale=0.3)  # 12 px wide
    assert eye_light(frame.image, frame.points, 0) is None


def test_the_drivers_own_lid_is_laid_only_as_their_eye_shuts():
    """Open (their neutral's gap): the template. Shut: the driver's own light, with its line where theirs is.
    Between: a blend of the two."""
    _, rest = driver_frame(10.0, 4.0)
    open_ratios = lid_ratios(rest)
    lids = {g: DriverLids(driver_frame(g, 4.0)[0], open_ratios) for g in (10.0, 5.0, 3.0, 1.0)}
    assert driver_lid_light(lids[10.0], 0) is None  # open: the template is laid
    assert driver_lid_light(lids[5.0], 0) is None  # half open: an iris and white, not a lid
    shut, half = driver_lid_light(lids[1.0], 0), driver_lid_light(lids[3.0], 0)
    own = eye_light(lids[1.0].frame.image, lids[1.0].frame.points, 0)
    # where the driver's line is, the light is theirs (clipped to the template's range, as a glint would be)
    row, middle = round(CORNER_A[1] + 4 * 63 / 40), slice(50, 78)
    assert shut[row, middle].mean() < shading()[row, middle].mean()
    assert np.allclose(shut, np.clip(own * ellipse_mask(), shading().min() - 0.2, shading().max() + 0.1))
    blend = (half - shading()) / np.where(np.abs(shut - shading()) > 1e-3, shut - shading(), np.nan)
    assert np.nanmedian(blend) == pytest.approx(0.5, abs=0.01)  # 3/10 open: halfway through DRIVER_SHUT


def test_a_dim_cameras_eye_gives_way_to_the_template():
    """A shut eye seen by a camera that is too dark is mostly its noise once high-passed: the template is laid;
    between the two lightnesses of DRIVER_DIM, a share of each."""
    from liveavatar.render.driver_mouth import DriverFrame

    _, rest = driver_frame(10.0, 4.0)
    shut, _ = driver_frame(1.0, 4.0)  # its skin at 190 in RGB: OpenCV's L about 196
    rng = np.random.default_rng(0)

    def seen(exposure: float) -> DriverLids:
        noisy = shut.image * exposure + rng.normal(0, 2, shut.image.shape)
        return DriverLids(DriverFrame(np.clip(noisy, 0, 255).astype(np.uint8), shut.points), lid_ratios(rest))

    assert driver_lid_light(seen(0.05), 0) is None  # L about 7: the template
    bright = driver_lid_light(seen(1.0), 0)
    dim = driver_lid_light(seen(0.16), 0)  # L about 28: some of the driver's
    assert bright is not None and dim is not None
    row, middle = round(CORNER_A[1] + 4 * 63 / 40), slice(50, 78)
    at = {name: float(t[row, middle].mean()) for name, t in (("bright", bright), ("dim", dim), ("template", shading()))}
    assert at["bright"] + 0.05 < at["dim"] < at["template"] - 0.05, at  # the driver's line, darker, only in part


def test_a_shut_eye_takes_the_drivers_lashes_where_they_are():
    """Laid on an even grey shut eye, the driver's own lid puts its darkest row where the driver's lashes lie
    under their eye's corners: two drivers whose lashes lie 2 and 6 px (of a 40-px eye) under them darken
    rows about 4 px apart on a 40-px portrait eye; the template's darkest row is the same for both."""
    shape = eye_shapes(synthetic_face())[0]
    _, rest = driver_frame(10.0, 2.0)
    darkest = []
    for line_at in (2.0, 6.0):
        lids = DriverLids(driver_frame(0.5, line_at)[0], lid_ratios(rest))
        image = flat()
        shade_shut_lid(image, identity_map(), shape, 1.0, driver_lid_light(lids, 0))
        column = image[60:150, 80, 1].astype(float)
        darkest.append(60 + int(np.argmin(column)))
    assert 2 <= darkest[1] - darkest[0] <= 6


def test_a_real_blink_lays_the_drivers_own_lid_through_the_live_path(driving, portraits):
    """The blinking clip drives the Mona Lisa through the Processor and compose_frame: at the driver's most shut
    frame her shut eyes take his own lid's light (the output differs from the template's there, around her
    eyes only); at an open frame nothing differs; with the creases turned off, the template's."""
    import cv2

    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.stages import Composer, Processor, compose_frame, infer_frame
    from liveavatar.render.driver_mouth import DriverFrame

    bundled = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "painting_mona_lisa.jpg"], bundled)
    engine = create_engine("onnxruntime", bundled).engine
    warp, psi = warp_avatar_of(avatar, bundled), avatar.psi[None].astype(np.float32)
    capture = cv2.VideoCapture(str(driving / "lp_blinkx2_man_hoodie_blinks.mp4"))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(45)]
    capture.release()
    processor = Processor(TrackingConfig(), bundled.config.image_size)
    try:
        driven = [processor.process(f, None, i / 30, avatar, "relative")[0] for i, f in enumerate(frames)]
    finally:
        processor.close()
    tracked = [i for i, d in enumerate(driven) if d.driver_now is not None and d.neutral_frame is not None]
    rest = lid_ratios(driven[tracked[0]].neutral_frame.points)
    shut = min(tracked, key=lambda i: lid_ratios(driven[i].driver_now).mean())
    open_ = max(tracked, key=lambda i: lid_ratios(driven[i].driver_now).mean())
    assert lid_ratios(driven[shut].driver_now).mean() < 0.2 * rest.mean(), "the clip blinks within 45 frames"
    look = (Background(), False, False)  # background, mirror, ai_mark
    composer = Composer(640, 360)
    box = composer.face_square(avatar, bundled.config.image_size)
    for i, differs in ((shut, True), (open_, False)):
        d = driven[i]
        face, layers = infer_frame(engine, psi, warp, d)
        # the driver's mouth off in both, the creases laid in both: what differs is the lids' light alone
        own = compose_frame(Composer(640, 360), face, avatar, *look, layers, d, frames[i], False, True)
        creases = (d.neutral_frame, DriverFrame(frames[i], d.driver_now))
        template = Composer(640, 360).compose(face, avatar, *look, layers, None, d.points, d.control[68:], creases)
        change = np.abs(own.astype(int) - template).max(axis=2)
        eyes = np.asarray(d.points[36:48]) * (box[2] - box[0]) / bundled.config.image_size + box[:2]
        x0, y0 = (eyes.min(0) - 15).astype(int)
        x1, y1 = (eyes.max(0) + 15).astype(int)
        assert (change[y0:y1, x0:x1] > 8).any() == differs, f"frame {i}: eyes changed by {change.max()}"
        change[y0:y1, x0:x1] = 0
        assert change.max() == 0, f"frame {i}: changed away from the eyes"
        # the creases' switch (the user's "your creases and shading") takes the driver's lids with it
        off = compose_frame(Composer(640, 360), face, avatar, *look, layers, d, frames[i], False, False)
        plain = Composer(640, 360).compose(face, avatar, *look, layers, None, d.points, d.control[68:])
        assert np.array_equal(off, plain)
