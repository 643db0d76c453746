"""Lids that meet (liveavatar.render.lids, issue 21): the portrait's lid skin drawn over a closing eye.

A synthetic eye pins the geometry of the map (an open eye is left alone, a shut one reads no pixel of the
opening, half shut shows half of it, nothing moves past the eye's bands); a real portrait through the pose
renderer pins what a user sees: asked to close, the eye's opening is covered by the colour of its own lid,
where the spline alone left the eye open.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from conftest import SHARED_DATA

from liveavatar.render.lids import (
    CORNER_MARGIN,
    LINE_SOFT,
    LOWER_MARGIN,
    LOWER_SKIN,
    UPPER_MARGIN,
    UPPER_SHARE,
    close_lid,
    eye_shapes,
    find_lash,
    openness,
    shade_lash_line,
    smooth_lid_edges,
)


def synthetic_face(gap: float = 10.0) -> np.ndarray:
    """68×2 points with two level eyes 40 px wide, lids `gap` px apart, brows 40 px above them (the rest of
    the points far below)."""
    p = np.zeros((68, 2))
    p[:] = (200.0, 300.0)
    p[17:22] = np.column_stack([np.linspace(60, 100, 5), np.full(5, 60.0)])
    p[22:27] = np.column_stack([np.linspace(140, 180, 5), np.full(5, 60.0)])
    for corner, base in ((36, 60.0), (42, 140.0)):
        p[corner] = (base, 100)  # outer corner (for the left eye the order along x does not matter)
        p[corner + 3] = (base + 40, 100)  # inner
        p[corner + 1], p[corner + 2] = (base + 13, 100 - gap / 2), (base + 27, 100 - gap / 2)  # upper lid
        p[corner + 5], p[corner + 4] = (base + 13, 100 + gap / 2), (base + 27, 100 + gap / 2)  # lower lid
    return p


def identity_map(h: int = 200, w: int = 240) -> np.ndarray:
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.dstack([xs, ys])


def test_openness_is_the_lid_gap_over_the_rests_and_ignores_zoom():
    rest = synthetic_face(10)
    assert np.allclose(openness(rest, rest), 1)
    assert np.allclose(openness(synthetic_face(5), rest), 0.5)
    assert np.allclose(openness(synthetic_face(0), rest), 0)
    assert np.allclose(openness(rest * 1.7 + 3, rest), 1)  # a closer face is not a wider eye
    # a portrait whose eyes are shut has no opening to close: nothing is drawn over it
    assert np.allclose(openness(rest, synthetic_face(0)), 1)


def test_an_open_eye_is_left_alone():
    shape = eye_shapes(synthetic_face())[0]
    m = identity_map()
    close_lid(m, shape, 0.0)
    assert np.array_equal(m, identity_map())


def test_a_shut_eye_reads_only_skin_and_nothing_past_its_bands_moves():
    shape = eye_shapes(synthetic_face())[0]
    m = identity_map()
    close_lid(m, shape, 1.0)
    moved = np.any(m != identity_map(), axis=-1)
    # the opening (lids at y 95…105 between x 60…100): no sample reads inside it, away from the lash line
    ys, xs = m[..., 1], m[..., 0]
    inside = (xs > 66) & (xs < 94) & (ys > 96.5) & (ys < 103.5)
    assert not inside.any()
    assert moved[100, 80] and moved[90, 80]  # the middle of the eye and the lid above it
    width = 40.0
    top = 95 - UPPER_MARGIN * width - shape.skin
    bottom = 105 + (LOWER_MARGIN + LOWER_SKIN) * width
    rows, cols = np.nonzero(moved)
    assert rows.min() >= np.floor(top) and rows.max() <= np.ceil(bottom)
    assert cols.min() >= 60 - CORNER_MARGIN * width and cols.max() <= 100 + CORNER_MARGIN * width


def test_half_shut_shows_the_lower_part_of_the_opening_unsquashed():
    shape = eye_shapes(synthetic_face())[0]
    m = identity_map()
    close_lid(m, shape, 0.5)
    column = m[:, 80]  # the eye's middle: lids at 95 and 105, taken out by their margins
    upper, lower = 95 - UPPER_MARGIN * 40, 105 + LOWER_MARGIN * 40
    upper_now = upper + 0.5 * UPPER_SHARE * (lower - upper)
    lower_now = lower - 0.5 * (1 - UPPER_SHARE) * (lower - upper)
    shown = [y for y in range(200) if column[y, 1] == y and upper < y < lower]  # rows that read themselves
    assert shown == list(range(int(np.ceil(upper_now)), int(np.floor(lower_now)) + 1))
    assert 95 < shown[0] < 100  # the opening's upper part is under the lid, the rest as it was
    # the lid's skin is stretched over it: the rows above the drawn lid line read from higher up, the line
    # itself (the lid's edge) lands just above the opening
    above = column[int(np.floor(upper_now)), 1]
    assert upper - 1 < above < upper + 0.1


def eye_image(h: int = 200, w: int = 240) -> np.ndarray:
    """An RGB (uint8) eye where synthetic_face's right eye is (x 60…100, tracked lids at y 95 and 105), drawn
    larger than the tracker read it, as on many portraits: the white from y 90 to 107 (past both lids' margins),
    dark lashes on rows 87-89 above it, a light wet rim on rows 108-109 below it, skin elsewhere."""
    image = np.full((h, w, 3), (190, 150, 130), np.uint8)
    image[90:108, 58:103] = (235, 235, 230)
    image[87:90, 58:103] = (30, 25, 25)
    image[108:110, 58:103] = (225, 205, 200)
    return image


def test_the_lash_line_and_the_rim_are_found_in_the_pixels():
    shape = find_lash(eye_shapes(synthetic_face())[0], eye_image())
    assert shape.lash is not None and shape.rim is not None
    # rows 87-89: 11-13 px above the eye's axis at y 100 (at the knots next to the corners, where the lid line
    # runs down to the corner, the line lies further below the flat drawn lashes than the search reaches)
    assert np.allclose(shape.lash[1:-1, 1], -12, atol=1.01)
    # the lower lid's line (105 + the margin, moved down over the white) and the rim below it reach row 109
    # at least, and stop short of the skin
    lower = 100 + np.interp(shape.rim[:, 0], *shape.lower.T) + shape.rim[:, 1]
    assert (lower >= 109.5).all() and (lower < 105 + LOWER_MARGIN * 40 + 0.15 * 40).all()


def test_a_shut_eye_meets_at_its_lash_line_with_no_white_or_rim_left():
    """The lids meet at the lashes: before, the meeting read what lay at the tracked lids (the white above the
    tracked upper lid, the rim below the lower), a light slit that read as an open eye."""
    import cv2

    image = eye_image()
    found = eye_shapes(synthetic_face())[0]
    for shape, slit in ((found, True), (find_lash(found, image), False)):
        m = identity_map()
        close_lid(m, shape, 1.0)
        shut = cv2.remap(image, m, None, cv2.INTER_LINEAR)[75:125, 66:95].astype(int).sum(2)
        light = (shut > 600).any(0)  # per column: white or rim left anywhere around the eye
        assert light.all() == slit, f"columns with a light slit left: {light.sum()} of {light.size}"
        if not slit:
            assert (shut.min(0) < 150).all()  # every column crosses the lash line
    # half shut, nothing changes: the lash line and the rim act only as the eye shuts (closing over LASH_FROM)
    half = [identity_map(), identity_map()]
    lashed = find_lash(found, image)
    close_lid(half[0], replace(lashed, lash=None, rim=None), 0.5)
    close_lid(half[1], lashed, 0.5)
    assert np.array_equal(*half)


def white_above_the_lid() -> np.ndarray:
    """eye_image (its white already reaching 2 px above the tracked upper lid's margin) with the white of the
    eye's inner half reaching 6 px higher (rows 84-89, x 80-95; its lashes moved up to rows 81-83 there), as on
    the Girl with a Pearl Earring's turned eye."""
    image = eye_image()
    image[81:84, 78:97] = (30, 25, 25)
    image[84:90, 80:96] = (235, 235, 230)
    return image


def test_white_above_a_tracked_lid_is_covered_as_the_eye_shuts():
    """A tracker's upper lid point that lies low in the white: the lid's line is moved up to the white's top,
    so a shut eye shows no white there. Before, the upper band read that white and stretched it down over the
    shut eye, a white patch."""
    import cv2

    image = white_above_the_lid()
    found = eye_shapes(synthetic_face())[0]
    shape = find_lash(found, image)
    inner = np.linspace(0.6, 0.8, 5)  # u along the eye (0 at x 60): the higher white's columns
    assert np.allclose(np.interp(inner, *shape.upper.T), 84 - 100, atol=1.5)  # its top: row 84
    outer = np.linspace(0.1, 0.3, 5)
    assert np.allclose(np.interp(outer, *shape.upper.T), 90 - 100, atol=1.0)  # elsewhere the white's top, row 90
    m = identity_map()
    close_lid(m, shape, 1.0)
    shut = cv2.remap(image, m, None, cv2.INTER_LINEAR)[70:125, 60:100].astype(int).sum(2)
    assert not (shut > 600).any(), f"white left in {(shut > 600).any(0).sum()} columns"


def test_white_past_a_tracked_corner_is_covered_as_the_eye_shuts():
    """A painted eye larger than the tracked one (a cartoon's, a turned painted eye's far corner): its white runs
    past the tracked corner along the eye's axis, and the eye's end is moved out over it."""
    import cv2

    image = eye_image()
    image[93:107, 46:60] = (235, 235, 230)  # the white, 14 px (0.35 eye widths) past the outer corner at x 60
    found = eye_shapes(synthetic_face())[0]
    shape = find_lash(found, image)
    assert shape.upper[0, 0] <= -0.35 and np.array_equal(shape.upper[[0, -1], 0], shape.lower[[0, -1], 0])
    for eye, left in ((found, True), (shape, False)):
        m = identity_map()
        close_lid(m, eye, 1.0)
        shut = cv2.remap(image, m, None, cv2.INTER_LINEAR)[85:115, 40:62].astype(int).sum(2)
        assert (shut > 600).any() == left


def test_coloured_lit_skin_and_a_grey_portraits_lid_are_not_taken_for_white():
    """Only the white moves a lid's line: pale but coloured skin above the lid (a lit lid, a painting's pink
    highlight) is skin; on a grey portrait the white cannot be told from skin by its colour, and nothing
    moves."""
    import cv2

    found = eye_shapes(synthetic_face())[0]
    lit = white_above_the_lid()
    lit[84:90, 80:96] = (245, 205, 185)  # lighter than the skin below the eye, and as coloured
    grey = cv2.cvtColor(cv2.cvtColor(white_above_the_lid(), cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
    u = np.linspace(-0.1, 1.1, 25)
    for image, line in ((lit, find_lash(found, eye_image()).upper), (grey, found.upper)):
        assert np.allclose(np.interp(u, *find_lash(found, image).upper.T), np.interp(u, *line.T))
    # the lit image's line: at the white's top (row 90) across the eye, below the lit skin (rows 84-89)
    middle = np.linspace(0.3, 0.8, 6)
    assert np.allclose(np.interp(middle, *find_lash(found, lit).upper.T), 90 - 100, atol=1.0)


def test_a_glasses_rim_above_the_lid_stays_where_it_is_as_the_eye_shuts():
    """A dark frame across the lid's skin band, lit skin between it and the lashes (Grace Hopper's glasses, the
    built-in sample): the stretched skin stops below it, so a blink leaves it in place. Before, the band
    reached the rim and bowed it down into every blink, torn where the band ended."""
    import cv2

    image = eye_image()
    image[79:82, 40:120] = (20, 15, 15)  # the frame's rim, 7-9 px above the lashes (rows 87-89)
    found = eye_shapes(synthetic_face())[0]
    capped = find_lash(found, image)
    assert capped.skin < found.skin
    # the rim's rows lie above the capped band, inside the uncapped one
    assert 95 - UPPER_MARGIN * 40 - found.skin < 79 and 95 - UPPER_MARGIN * 40 - capped.skin > 81
    rim = slice(78, 83), slice(52, 108)  # the rim over the eye and past its corners
    for shape, bowed in ((replace(capped, skin=found.skin), True), (capped, False)):
        m = identity_map()
        close_lid(m, shape, 1.0)
        shut = cv2.remap(image, m, None, cv2.INTER_LINEAR)
        assert np.array_equal(shut[rim], image[rim]) != bowed


def test_the_sample_portraits_glasses_are_found_and_creases_kept():
    """On real faces: the built-in sample's glasses rim (Grace Hopper's, 6-9 px above her lids at her
    portrait's size) caps both eyes' skin bands; a crease (Obama's, Elizabeth Olsen's, from ../shared/data
    where it is there) is skin and leaves the band whole."""
    import cv2

    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.sample import sample_portrait

    paths = [sample_portrait()]  # always here (matplotlib is a dependency); the shared faces where they are
    if (SHARED_DATA / "MANIFEST.tsv").is_file():
        paths += [SHARED_DATA / "portraits" / name for name in ("photo_barack_obama.jpg", "photo_elizabeth_olsen.jpg")]
    tracker = FaceTracker("image", max_faces=1)
    try:
        for path in paths:
            image = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
            found = tracker.track(image).landmarks
            assert found is not None, path.name
            for shape in eye_shapes(found.points68):
                capped = find_lash(shape, image).skin
                if path == paths[0]:
                    assert capped < 0.7 * shape.skin, f"{path.name}: band {capped:.1f} of {shape.skin:.1f} px"
                else:
                    assert capped == shape.skin, f"{path.name}: band {capped:.1f} of {shape.skin:.1f} px"
    finally:
        tracker.close()


def test_dark_makeup_that_runs_up_from_the_lashes_is_lid_and_is_kept():
    """Eyeliner and shadow from the lashes up, no lit skin between (Princess Diana's): the lid itself, which
    stretches over the eye as before."""
    image = eye_image()
    image[78:90, 58:103] = (40, 30, 35)
    found = eye_shapes(synthetic_face())[0]
    assert find_lash(found, image).skin == found.skin


def test_the_lash_line_thins_to_nothing_past_the_corners():
    """A line of even width ended in a square cut at each end of a shut eye (drawn in ink on dark lashes). An
    eye 160 px wide (the synthetic face × 4: corners at x 240 and 400, y 400), its lashes 10 px above its axis,
    so the line is LASH_WIDTH × 160 = 6.4 px thick where the lids meet."""
    shape = eye_shapes(synthetic_face() * 4)[0]
    shape = replace(shape, lash=np.column_stack([np.linspace(0.1, 0.9, 9), np.full(9, -10.0)]))
    m = identity_map(800, 960)
    close_lid(m, shape, 1.0)
    # the line's rows are moved by the lash row's distance from where the lids meet (u = (x - 240) / 160)
    u = (np.arange(960) - 240) / 160
    vu, vl = (np.interp(u, knots[:, 0], knots[:, 1]) for knots in (shape.upper, shape.lower))
    shift = -10.0 - np.clip(meeting_arc(shape, u), vu, vl)
    ys = np.arange(800)[:, None]
    thickness = (np.abs(m[..., 1] - ys - shift[None]) < 1e-3).sum(0)  # per column: rows drawn with the lashes
    middle = int(thickness[260:380].min())
    assert middle >= 6
    assert thickness[:223].max() == 0 and thickness[418:].max() == 0  # past the eye's ends
    assert 0 < thickness[228] < middle / 2 and 0 < thickness[412] < middle / 2  # thinning to the ends


def meeting_arc(shape, u: np.ndarray) -> np.ndarray:
    """Where a shut eye's lids meet, as the module docstring draws it: an arc through the corners (v = 0 on the
    eye's axis), as deep at the middle as UPPER_SHARE of the gap there."""
    mid = [float(np.interp(0.5, knots[:, 0], knots[:, 1])) for knots in (shape.upper, shape.lower)]
    t = np.clip(u, 0.0, 1.0)
    return 4 * (mid[0] + UPPER_SHARE * (mid[1] - mid[0])) * t * (1 - t)


def test_a_shut_eyes_lids_meet_on_a_smooth_arc():
    """Between the lids' few knots the meeting was a polyline: flat over the eye's middle third (the synthetic
    lids are) and bent towards each corner, a ruled line on every shut eye. Found to 0.01 px per column of an
    eye 160 px wide: the first sample, down the column, that reads from below (the lower lid's skin)."""
    shape = eye_shapes(synthetic_face() * 4)[0]  # corners at x 240 and 400, y 400
    xs = np.arange(250, 391, dtype=np.float32)
    ys = np.arange(370, 440, 0.01, dtype=np.float32)
    m = np.dstack(np.meshgrid(xs, ys)).astype(np.float32)
    close_lid(m, shape, 1.0)
    meet = ys[np.argmax(m[..., 1] > ys[:, None] + 1e-3, axis=0)] - 400.0  # per column, below the axis
    u = (xs - 240) / 160
    assert np.abs(meet - meeting_arc(shape, u)).max() < 0.05
    middle, third = meet[u == 0.5][0], meet[np.abs(u - 0.35).argmin()]
    assert middle > 5 and third < middle - 0.5  # deepest at the middle, curving over its third
    assert np.abs(np.diff(meet, 2)).max() < 0.06  # no kink: the polyline bent by 0.16 px a column


def tilted_eye(degrees: float = 8.0, image: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """`image` (eye_image by default) and synthetic_face's points turned `degrees` about the right eye's centre
    (80, 100): the lids' meeting then runs across the pixel rows, as on most faces."""
    import cv2

    turn = cv2.getRotationMatrix2D((80.0, 100.0), degrees, 1.0)
    image = eye_image() if image is None else image
    image = cv2.warpAffine(image, turn, (240, 200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return image, synthetic_face() @ turn[:, :2].T + turn[:, 2]


def test_a_shut_eyes_edges_are_drawn_from_sub_samples():
    """Where the lids meet the map jumps from the lash line to the skin below the eye. Sampled once per pixel
    that edge was a staircase (the Mona Lisa's and Audrey Hepburn's shut eyes); from sub-samples the pixels it
    crosses take its share of each side, as a camera's do; nothing past what the lids moved changes."""
    import cv2

    image, points = tilted_eye()
    shape = find_lash(eye_shapes(points)[0], image)
    before = identity_map()
    after = before.copy()
    close_lid(after, shape, 1.0)
    hard = cv2.remap(image, after, None, cv2.INTER_LINEAR)
    smooth = hard.copy()
    redrawn = smooth_lid_edges(smooth, image, before, after, shape, 1.0, interpolation=cv2.INTER_LINEAR)
    changed = np.any(smooth != hard, axis=-1)
    assert 0 < changed.sum() <= redrawn < 0.1 * changed.size
    moved = np.any(after != before, axis=-1)  # where the lids moved anything, and a pixel around it
    assert not (changed & ~cv2.dilate(moved.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)).any()
    # a camera's view of the shut eye: every pixel the mean of 8×8 sub-samples
    fine = cv2.resize(before, (240 * 8, 200 * 8), interpolation=cv2.INTER_LINEAR)
    close_lid(fine, shape, 1.0)
    camera = cv2.resize(cv2.remap(image, fine, None, cv2.INTER_LINEAR), (240, 200), interpolation=cv2.INTER_AREA)
    errors = [float(np.abs(im[changed].astype(float) - camera[changed]).mean()) for im in (hard, smooth)]
    assert errors[1] < 0.3 * errors[0], f"grey levels off a camera's view where redrawn: {errors}"
    assert np.abs(smooth.astype(float) - camera).max() <= np.abs(hard.astype(float) - camera).max()
    # an open eye, or one closed too little to move anything, is left as it is
    assert smooth_lid_edges(hard.copy(), image, before, before.copy(), shape, 0.0) == 0


def test_the_lid_meets_the_skin_beside_the_eye_without_a_step():
    """As the eye shuts its lid is taken down to the lash line; that cover thins to nothing towards the eye's
    ends, as the gap does. Taken whole up to the very end, it stopped there in a step against the skin beside
    the eye (Audrey Hepburn's liner's wing, cut square). The eye 160 px wide (corners at x 240 and 400, y 400),
    its lashes 10 px above its axis, above the tracked lid's ends."""
    shape = eye_shapes(synthetic_face() * 4)[0]
    shape = replace(shape, lash=np.column_stack([np.linspace(0.1, 0.9, 9), np.full(9, -10.0)]))
    m = identity_map(800, 960)
    close_lid(m, shape, 1.0)
    move = m[..., 1] - identity_map(800, 960)[..., 1]
    # between neighbouring columns, in the upper band's rows above the eye's ends (x 224 and 416: the corners
    # less CORNER_MARGIN), where the lids' meeting does not cross them
    band = slice(int(400 - shape.skin), 396)
    for end in (slice(214, 236), slice(404, 426)):
        step = np.abs(np.diff(move[band, end], axis=1)).max()
        assert step < 2.0, f"a step of {step:.1f} px at the eye's end"  # 9.2 before: the cover whole to the end


def broken_lashes() -> np.ndarray:
    """eye_image with its lashes dark only in 4-pixel runs, skin between them, as a painted lid's darkest row
    is uneven along the eye (the Mona Lisa's)."""
    image = eye_image()
    for x in range(62, 100, 8):
        image[87:90, x : x + 4] = (190, 150, 130)
    return image


def luma(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float64) @ [0.299, 0.587, 0.114]


def test_a_shut_eyes_lids_meet_in_an_unbroken_line_of_the_lashes_colour():
    """The lids' meeting read the portrait's lash row, as broken as its lashes (the Mona Lisa's shut eyes, a
    dashed line); the lashes' colour is laid along it, unbroken even where the shut eye's map spans 4 source
    pixels a row (a line thinner than a row fell between rows in dashes)."""
    import cv2

    image, points = tilted_eye(5.0, broken_lashes())  # the meeting crosses the rows, as on most faces
    shape = find_lash(eye_shapes(points)[0], image)
    assert shape.lash_colour is not None and np.abs(shape.lash_colour - (30, 25, 25)).max() < 25
    before = identity_map()
    before[..., 1] = 100 + (before[..., 1] - 100) * 4  # the eye's rows 4 source pixels apart
    after = before.copy()
    close_lid(after, shape, 1.0)
    shut = cv2.remap(image, after, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    drawn = shut.copy()
    shade_lash_line(drawn, before, shape, 1.0)
    columns = slice(66, 95)  # the eye (x 60-100) but for its thinning ends
    darkest = [luma(im[:, columns]).min(0) for im in (shut, drawn)]
    assert darkest[0].max() > 120, "the lash row alone already made an unbroken line: nothing tested"
    assert darkest[1].max() < 60, f"columns where the line is lighter than the lashes: {(darkest[1] >= 60).sum()}"
    # only around where the lids meet (the eye turned 5°: a few rows) and between the eye's ends
    changed = np.any(drawn != shut, axis=-1)
    rows, cols = np.nonzero(changed)
    ends = 60 + 40 * shape.upper[[0, -1], 0]  # moved out over the white past the corners (find_lash)
    assert 0 < np.ptp(rows) <= 4 and ends[0] - 1 <= cols.min() and cols.max() <= ends[1] + 1


def test_the_lashes_colour_waits_for_the_eye_to_shut():
    """A closing eye keeps its own lash row (the line thins in with the last few percent of the closing, as
    the lash line does); an eye with no lashes found (narrower than MIN_LASH_EYE) gets no line."""
    import cv2

    image = broken_lashes()
    found = eye_shapes(synthetic_face())[0]
    shape = find_lash(found, image)
    for eye, closing in ((shape, 0.9), (found, 1.0)):
        after = identity_map()
        close_lid(after, eye, closing)
        shut = cv2.remap(image, after, None, cv2.INTER_LINEAR)
        drawn = shut.copy()
        shade_lash_line(drawn, identity_map(), eye, closing)
        assert np.array_equal(drawn, shut)


def test_a_soft_portraits_line_is_as_soft_as_its_lashes_and_no_darker_in_all():
    """On a soft portrait (a small face in a large painting, a blurred photo) a crisp line read as drawn in ink
    over the shut eye: the line takes the softness of the portrait's own lashes, and spreads the same darkness
    wider rather than adding to it."""
    import cv2

    found = eye_shapes(synthetic_face())[0]
    sharp, soft = (find_lash(found, image) for image in (eye_image(), cv2.GaussianBlur(eye_image(), (0, 0), 2.5)))
    assert soft.lash_edge > 1.5 * max(sharp.lash_edge, LINE_SOFT * 40), (sharp.lash_edge, soft.lash_edge)
    covers = []
    for shape in (sharp, soft):
        skin = np.full((200, 240, 3), 190, np.uint8)  # flat, so only the line is measured
        shade_lash_line(skin, identity_map(), shape, 1.0)
        lash = float(shape.lash_colour @ [0.299, 0.587, 0.114])
        covers.append((190 - luma(skin)[:, 80]) / (190 - lash))  # the eye's middle column: 0 … 1 of the lashes
    peaks, areas, reach = ([f(c) for c in covers] for f in (np.max, np.sum, lambda c: int((c > 0.02).sum())))
    assert peaks[1] < 0.8 * peaks[0] and reach[1] > reach[0], (peaks, reach)
    assert abs(areas[1] - areas[0]) < 0.15 * areas[0], areas


@pytest.mark.slow
def test_pose_eyes_closed_covers_the_opening_with_the_lids_colour(portraits, monkeypatch):
    """Obama's photo posed with --eyes 1: the eye's opening takes the colour of the lid above it, but for the
    lash line where the lids meet, which is unbroken. The cover, measured without the lashes' colour and the
    shut lid's light laid (as
    the share of the opening's pixels far, over 100 in RGB, from the lid's mean colour): 0.44 and 0.48 at rest
    (white, iris, lashes), 0.10 and 0.09 shut (the portrait's lash row, about a tenth of the opening). The mean
    distance, which this test measured before the lash line was drawn at the meeting: 90 at rest, 90–103 with
    the spline alone (the eye stayed open), 43 with the lids drawn, 57 with the lash line. With the lashes'
    colour laid, 0.27 and 0.35 of the opening are far from the lid's colour, and every column across the eye's
    middle has a pixel 60 grey levels darker than the lid (the line), where the lash row alone left 5 of 27 and
    10 of 28 columns without."""
    import cv2

    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer
    from liveavatar.render import full_resolution

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "photo_barack_obama.jpg"], checkpoint)
    engine = create_engine("onnxruntime", checkpoint).engine
    ph, pw = avatar.portrait.shape[:2]
    renderer = PoseRenderer(avatar, engine, pw, ph, ai_mark=False, warp=warp_avatar_of(avatar, checkpoint))
    rest, lined = (renderer.render(PoseSettings(eyes=e)).output.astype(np.float64) for e in (0.0, 1.0))
    monkeypatch.setattr(full_resolution, "shade_lash_line", lambda *args: None)
    monkeypatch.setattr(full_resolution, "shade_shut_lid", lambda *args: None)  # its shadow under the lashes too
    shut = renderer.render(PoseSettings(eyes=1.0)).output.astype(np.float64)
    engine.close()
    inverse = np.linalg.inv(np.vstack([avatar.crop_matrix, [0, 0, 1]]))[:2]
    points = avatar.landmarks @ inverse[:, :2].T + inverse[:, 2]  # portrait pixels (= the output's here)
    for eye in (list(range(36, 42)), list(range(42, 48))):
        opening = np.zeros(rest.shape[:2], np.uint8)
        cv2.fillPoly(opening, [np.rint(points[eye]).astype(np.int32)], (1,))
        opening = cv2.erode(opening, np.ones((3, 3), np.uint8)) > 0
        width = float(np.linalg.norm(points[eye[3]] - points[eye[0]]))
        upper = points[eye[:4]]  # corner, upper lid, corner
        band = np.vstack([upper - [0, 0.12 * width], (upper - [0, 0.3 * width])[::-1]])  # the lid above it
        lid_mask = np.zeros_like(opening, np.uint8)
        cv2.fillPoly(lid_mask, [np.rint(band).astype(np.int32)], (1,))
        lid = rest[lid_mask > 0].mean(0)
        open_, closed = (float((np.linalg.norm(image[opening] - lid, axis=1) > 100).mean()) for image in (rest, shut))
        assert open_ > 0.3  # an open eye (white, iris, lashes) is far from its lid's colour
        assert closed < 0.35 * open_, f"{closed:.2f} of the opening far from the lid's colour, {open_:.2f} at rest"
        # the line: in each column across the eye's middle, from the lid above the eye to the cheek below it
        x0, x1 = np.sort(points[[eye[0], eye[3]], 0])
        columns = np.arange(int(x0 + 0.2 * (x1 - x0)), int(x1 - 0.2 * (x1 - x0)))
        y0, y1 = int(points[eye, 1].min() - 0.2 * width), int(points[eye, 1].max() + 0.2 * width)
        darkest = (lined[y0:y1, columns] @ [0.299, 0.587, 0.114]).min(0)
        light = darkest >= lid @ [0.299, 0.587, 0.114] - 60
        assert not light.any(), f"{light.sum()} of {light.size} columns with no line"
