"""A shut lid's shading (liveavatar/render/shut_lid.py): the bundled asset laid on a synthetic shut eye."""

from __future__ import annotations

import numpy as np
import pytest
from test_lids import identity_map, synthetic_face

from liveavatar.errors import InputError
from liveavatar.render import shut_lid
from liveavatar.render.lids import eye_shapes, lids_now
from liveavatar.render.shut_lid import LIGHT_FROM, SIZE, shade_shut_lid, shading


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
