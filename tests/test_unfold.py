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


def test_a_fold_over_the_whole_crop_is_left_alone():
    """Nothing sound to interpolate from: the map is returned as it is rather than made up."""
    c = (np.arange(G) + 0.5) * S / G - 0.5
    x, y = np.meshgrid(c, c)
    mirrored = np.dstack([S - 1 - 2 * x, np.zeros_like(y)]).astype(np.float32)  # x → −x: folded everywhere
    assert folded_cells(mirrored, S).all()
    assert unfold(mirrored, S) is mirrored


def backward_steps(composer, points: np.ndarray) -> float:
    """On the composer's last frame, down 9 columns across the mouth from under the nose to the chin: the
    smallest step between the portrait rows that consecutive output rows read (positive: read in order; an
    opening reads nearly one row over and over; a fold reads them backwards). points: 68×2 crop pixels."""
    from liveavatar.render.align import apply_affine

    (_, full), *_ = composer._warps.values()
    x0, y0 = full.region[:2]
    k = full.supersample
    face = apply_affine(full.from_crop, np.asarray(points, np.float64))
    rows = np.arange(int(face[33, 1]) - y0, int(face[8, 1]) - y0) * k
    steps = [
        np.diff(full._map[rows, int(round(x - x0)) * k, 1]).min() for x in np.linspace(face[49, 0], face[53, 0], 9)
    ]
    return float(min(steps))


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
    """Elizabeth Olsen's closed mouth at `pose --mouth 1`: the frame graph's backward map folds inside the
    opening; the output reads the portrait's rows in order from the nose to the chin all the same."""
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint, avatar, warp, engine = olsen
    renderer = PoseRenderer(avatar, engine, 1280, 720, ai_mark=False, warp=warp)
    posed = renderer.render(PoseSettings(mouth=1.0))
    layers = engine.infer_layers(posed.landmark_image[None], renderer._psi, warp, posed.control[None])
    assert folded_cells(layers.flow[0], checkpoint.config.image_size).any()  # the graph's map folds here
    assert backward_steps(renderer._composer, posed.points) > 0


@pytest.mark.slow
def test_a_driver_laughing_wide_open_leaves_one_lower_lip(olsen, driving):
    """The same portrait driven live by a laughing talker (styletalk_happy_woman_2, held out of training) at
    her widest frame: the graph's map folded below the lips and the lower lip showed twice, a loop of its
    outline inside it (4 output rows read backwards). Through the live path's parts, it reads in order."""
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
    assert backward_steps(composer, d.points) > 0
