"""The spline's backward map unfolded where a wide-open mouth folds it (liveavatar.render.unfold).

Synthetic maps pin the rule (a sound map is left as it is; a fold is refilled from around it and nothing else
changes); the bundled model on a real closed-mouth portrait, posed wide open, pins what a user saw: the lower
lip drawn twice, a loop of lip outline inside it, because the portrait's pixels were sampled backwards there.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from liveavatar.render.unfold import folded_cells, unfold

S, G = 256, 32  # crop side and coarse grid, as the bundled model's


def smooth_flow() -> np.ndarray:
    """A G×G×2 float32 backward map (crop pixels) that moves without folding: a gentle swirl and a shift."""
    c = (np.arange(G) + 0.5) / G
    x, y = np.meshgrid(c, c)
    flow = np.dstack([3 + 4 * np.sin(2 * np.pi * y), -2 + 4 * np.cos(2 * np.pi * x)])
    return flow.astype(np.float32)


def test_a_map_that_does_not_fold_is_returned_as_it_is():
    flow = smooth_flow()
    assert not folded_cells(flow, S).any()
    assert unfold(flow, S) is flow
    still = np.zeros((G, G, 2), np.float32)
    assert not folded_cells(still, S).any() and unfold(still, S) is still


def test_a_fold_is_refilled_from_the_cells_around_it_and_nothing_else_changes():
    flow = smooth_flow()
    # what a failed inversion leaves: one cell below a lip sampling 40 px above it, its neighbours pulled along
    flow[20, 12, 1] -= 40.0
    flow[21, 12, 1] -= 12.0
    assert folded_cells(flow, S).any()
    fixed = unfold(flow, S)
    assert not folded_cells(fixed, S).any()
    changed = np.any(fixed != flow, axis=-1)
    near = np.zeros((G, G), bool)
    near[16:26, 8:17] = True  # the fold, its neighbours, and a round or two of growth at most
    assert changed[20, 12] and not changed[~near].any()
    # refilled from its surroundings: the spike is gone, the cell lies between its sound neighbours' values
    assert abs(fixed[20, 12, 1] - smooth_flow()[20, 12, 1]) < 1.0


def bilinear(flow: np.ndarray, point: np.ndarray) -> np.ndarray:
    """The map's offset at a crop point (x, y), bilinear between its grid points as the output samples it."""
    x, y = (point + 0.5) * G / S - 0.5
    c, r = int(x), int(y)
    fx, fy = x - c, y - r
    top = (1 - fx) * flow[r, c] + fx * flow[r, c + 1]
    return (1 - fy) * top + fy * ((1 - fx) * flow[r + 1, c] + fx * flow[r + 1, c + 1])


def test_a_refilled_map_still_takes_each_control_point_to_its_source():
    """Pins (the spline's driven control points and their sources) hold inside the refilled patch, by least
    squares against its smoothness: the map there takes a driven point most of the way to its source point,
    where the fill alone would not; a pin on sound grid points changes nothing."""
    flow = smooth_flow()
    flow[20, 12, 1] -= 40.0
    cell = S / G
    inside = np.array([12.3, 20.6]) * cell + cell / 2 - 0.5  # crop pixels, within the fold's patch
    far = np.array([3.0, 3.0]) * cell + cell / 2 - 0.5  # on a sound grid point
    want = bilinear(smooth_flow(), inside) + (-3.0, 4.0)  # the offset the pin asks for there (crop px)
    driven = np.vstack([inside, far])
    fixed = unfold(flow, S, (driven, driven + np.vstack([want, (40.0, 40.0)])))
    assert not folded_cells(fixed, S).any()
    alone = bilinear(unfold(flow, S), inside)
    pinned = bilinear(fixed, inside)
    assert np.linalg.norm(pinned - want) < 0.25 * np.linalg.norm(alone - want)
    assert np.array_equal(fixed[3, 3], flow[3, 3])  # a sound point stays, pinned or not


def test_pins_that_only_a_fold_could_honour_are_dropped():
    """Two control points whose driven order is the reverse of their sources' (a retargeted inner-lip corner
    past the outer one) ask for a fold: the map comes out unfolded all the same, as the fill alone makes it."""
    flow = smooth_flow()
    flow[20, 12, 1] -= 40.0
    cell = S / G
    left, right = np.array([12.0, 20.0]) * cell + cell / 2 - 0.5, np.array([13.0, 20.0]) * cell + cell / 2 - 0.5
    driven = np.vstack([left, right])
    source = np.vstack([right + (12.0, 0.0), left - (12.0, 0.0)])  # swapped and pulled apart: a mirror
    fixed = unfold(flow, S, (driven, source))
    assert not folded_cells(fixed, S).any()
    assert np.array_equal(fixed, unfold(flow, S))


def test_a_fold_inside_the_driven_opening_is_left_to_what_covers_it():
    """The driver's mouth or G's paint covers the opening, so a fold wholly inside it changes nothing; the
    same fold outside it is refilled."""
    flow = smooth_flow()
    flow[20, 12, 1] -= 40.0
    cell = S / G
    around = np.array([[8.0, 16.0], [17.0, 16.0], [17.0, 25.0], [8.0, 25.0]]) * cell + cell / 2 - 0.5
    assert unfold(flow, S, opening=around) is flow
    elsewhere = around - 10 * cell
    assert not folded_cells(unfold(flow, S, opening=elsewhere), S).any()


def test_a_fold_over_the_whole_crop_is_left_alone():
    """Nothing sound to interpolate from: the map is returned as it is rather than made up."""
    c = (np.arange(G) + 0.5) * S / G - 0.5
    x, y = np.meshgrid(c, c)
    mirrored = np.dstack([S - 1 - 2 * x, np.zeros_like(y)]).astype(np.float32)  # x → −x: folded everywhere
    assert folded_cells(mirrored, S).all()
    assert unfold(mirrored, S) is mirrored


def folds_around_the_mouth(composer, points: np.ndarray) -> int:
    """On the composer's last frame: how many samples of the final map (output → portrait) turn over around
    the mouth, between the nose and the chin, the driven opening left out (the driver's mouth or G's paint
    covers it, and there the map reads the lips' seam again and again, which may waver by a fraction of a
    pixel). points: the frame's driven 68×2 crop pixels."""
    from liveavatar.render.align import apply_affine
    from liveavatar.render.driver_mouth import GROW, INNER_LIP

    (_, full), *_ = composer._warps.values()
    x0, y0 = full.region[:2]
    k = full.supersample
    face = (apply_affine(full.from_crop, np.asarray(points, np.float64)) - (x0, y0)) * k
    m = full._map.astype(np.float64)
    det = np.diff(m[..., 0], axis=1)[:-1] * np.diff(m[..., 1], axis=0)[:, :-1]
    det -= np.diff(m[..., 0], axis=0)[:, :-1] * np.diff(m[..., 1], axis=1)[:-1]
    around = np.zeros(det.shape, np.uint8)
    (c0, r0), (c1, r1) = face[[*range(3, 14), 33]].min(0).astype(int), face[3:14].max(0).astype(int)
    around[r0:r1, c0:c1] = 1
    inner = face[INNER_LIP]
    grown = inner.mean(0) + (inner - inner.mean(0)) * (1 + GROW)
    cv2.fillPoly(around, [np.rint(grown).astype(np.int32)], (0,))
    return int(((det < 0) & (around > 0)).sum())


@pytest.fixture(scope="module")
def olsen(portraits):
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "photo_elizabeth_olsen.jpg"], checkpoint)
    engine = create_engine("onnxruntime", checkpoint).engine
    yield checkpoint, avatar, warp_avatar_of(avatar, checkpoint), engine
    engine.close()


@pytest.mark.slow
def test_a_closed_mouth_posed_wide_open_reads_the_portrait_in_order(olsen):
    """Elizabeth Olsen's closed mouth at `pose --mouth 1`: the frame graph's backward map folds, mostly
    inside the opening; around it, the output's map no longer turns over."""
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint, avatar, warp, engine = olsen
    renderer = PoseRenderer(avatar, engine, 1280, 720, ai_mark=False, warp=warp)
    posed = renderer.render(PoseSettings(mouth=1.0))
    layers = engine.infer_layers(posed.landmark_image[None], renderer._psi, warp, posed.control[None])
    assert folded_cells(layers.flow[0], checkpoint.config.image_size).any()  # the graph's map folds here
    assert folds_around_the_mouth(renderer._composer, posed.points) == 0  # 46 samples before


@pytest.mark.slow
def test_a_driver_laughing_wide_open_leaves_one_lower_lip(olsen, driving):
    """The same portrait driven live by a laughing talker (styletalk_happy_woman_2, held out of training) at
    her widest frame: the graph's map folded below the lips and the lower lip showed twice, a loop of its
    outline inside it. Through the live path's parts, the map around the mouth no longer turns over."""
    from liveavatar.live.spec import Background, TrackingConfig
    from liveavatar.pipeline.stages import Composer, Processor, compose_frame

    checkpoint, avatar, warp, engine = olsen
    capture = cv2.VideoCapture(str(driving / "styletalk_happy_woman_2.mp4"))
    frames = [cv2.cvtColor(capture.read()[1], cv2.COLOR_BGR2RGB) for _ in range(63)]  # H×W×3 uint8 RGB
    capture.release()
    processor = Processor(TrackingConfig(), checkpoint.config.image_size)
    try:
        driven = [processor.process(f, None, i / 30, avatar, "relative")[0] for i, f in enumerate(frames)]
    finally:
        processor.close()
    d = driven[62]  # her mouth at its widest in these frames
    psi = avatar.psi[None].astype(np.float32)
    layers = engine.infer_layers(d.landmark_image[None], psi, warp, d.control[None])
    assert folded_cells(layers.flow[0], checkpoint.config.image_size).any()
    composer = Composer(1280, 720)
    compose_frame(composer, layers.frames[0], avatar, Background(), False, False, layers, d, frames[62])
    assert folds_around_the_mouth(composer, d.points) == 0  # 1485 samples before
