"""Identity augmentation of the warp presets' episodes (training/augment.py): points move with the pixels,
landmark images are drawn again from the moved points, grey is grey, and open mouths are drawn more."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveavatar.landmarks import PARTS
from liveavatar.training.augment import (
    MIRROR_68,
    grey,
    mirror_and_scale,
    move_frames,
    move_points,
    open_mouth_weights,
)
from liveavatar.training.data import landmark_images, sample_episodes
from liveavatar.training.expression import mouth_opening

SIZE = 128


def face_points(size: int = SIZE) -> np.ndarray:
    """A schematic 68-point face in a size×size crop, in the 68-point order, left-right symmetric: jaw,
    brows, nose, eyes and lips as arcs and ellipses; the subject's right eye (36–41) on the image's left."""

    def ellipse(cx: float, cy: float, rx: float, ry: float, start: float, count: int) -> list[tuple]:
        angles = start + np.arange(count) * 2 * np.pi / count
        return [(cx + rx * np.cos(a), cy + ry * np.sin(a)) for a in angles]

    jaw = [(0.5 - 0.38 * np.cos(a), 0.42 + 0.42 * np.sin(a)) for a in np.linspace(0, np.pi, 17)]
    brows = [(0.2 + 0.05 * i, 0.3 - 0.02 * np.sin(np.pi * i / 4)) for i in range(5)]
    brows += [(1 - x, y) for x, y in reversed(brows)]
    nose = [(0.5, 0.4 + 0.05 * i) for i in range(4)] + [(0.43 + 0.035 * i, 0.6) for i in range(5)]
    right_eye = ellipse(0.33, 0.4, 0.07, 0.03, np.pi, 6)
    left_eye = ellipse(0.67, 0.4, 0.07, 0.03, np.pi, 6)
    outer = ellipse(0.5, 0.72, 0.16, 0.075, np.pi, 12)
    inner = ellipse(0.5, 0.72, 0.1, 0.035, np.pi, 8)
    points = np.array(jaw + brows + nose + right_eye + left_eye + outer + inner, np.float32)
    assert points.shape == (68, 2)
    return points * (size - 1)


def test_mirror_table_is_an_involution_that_swaps_sides() -> None:
    assert sorted(MIRROR_68.tolist()) == list(range(68))
    assert (MIRROR_68[MIRROR_68] == np.arange(68)).all()
    for a, b in ((36, 45), (39, 42), (17, 26), (48, 54), (60, 64), (0, 16), (31, 35)):
        assert MIRROR_68[a] == b
    for centre in (8, 27, 30, 33, 51, 57, 62, 66):
        assert MIRROR_68[centre] == centre
    # every part maps onto its mirror part
    right_eye, left_eye = PARTS["right_eye"].indices, PARTS["left_eye"].indices
    assert sorted(MIRROR_68[list(right_eye)].tolist()) == list(left_eye)


@pytest.mark.parametrize("mirror", [1.0, -1.0])
def test_points_move_with_the_pixels(mirror: float) -> None:
    points = torch.from_numpy(face_points())[None, None]  # 1×1×68×2
    # One dot per point, its brightness its index: after the transform, each moved point must sit on the
    # dot of the point it came from (its mirror twin's index when mirrored, since points are renumbered).
    frame = torch.full((1, 1, 1, SIZE, SIZE), -1.0)
    for i, (x, y) in enumerate(points[0, 0].round().long().tolist()):
        frame[0, 0, 0, y - 1 : y + 2, x - 1 : x + 2] = i / 67
    m, s, t = torch.tensor([mirror]), torch.tensor([1.07]), torch.tensor([[0.02, -0.03]])
    moved = move_points(points, SIZE, m, s, t)
    image = move_frames(frame, m, s, t)[0, 0, 0]
    for i, (x, y) in enumerate(moved[0, 0].round().long().tolist()):
        came_from = MIRROR_68[i] if mirror < 0 else i
        assert image[y, x].item() == pytest.approx(came_from / 67, abs=0.5 / 67), i
    # the subject's right eye stays on the image's left, mirrored or not
    assert moved[0, 0, 36, 0] < moved[0, 0, 45, 0]


def test_landmark_images_are_drawn_again_from_the_moved_points() -> None:
    points = torch.from_numpy(face_points())[None].expand(3, 2, 68, 2).clone()  # 3 episodes × (K+1 = 2)
    frames = torch.rand(3, 2, 3, SIZE, SIZE) * 2 - 1
    out_frames, out_points, marks = mirror_and_scale(frames, points, torch.Generator().manual_seed(5))
    assert out_frames.shape == frames.shape and marks.shape == frames.shape and out_points.shape == points.shape
    drawn = landmark_images(out_points.reshape(6, 68, 2).numpy(), SIZE)
    expected = torch.from_numpy(drawn).permute(0, 3, 1, 2).float().reshape(3, 2, 3, SIZE, SIZE) / 127.5 - 1
    assert torch.allclose(marks, expected, atol=1e-6)
    assert not torch.allclose(out_points, points)  # something moved
    # both frames of an episode moved alike
    assert torch.allclose(out_points[:, 0] - points[:, 0], out_points[:, 1] - points[:, 1])


def test_grey_makes_the_chosen_episodes_grey_and_leaves_the_others() -> None:
    frames = torch.rand(4, 2, 3, 8, 8) * 2 - 1
    g = torch.Generator().manual_seed(0)
    all_grey = grey(frames, g, chance=1.0)
    assert torch.allclose(all_grey[:, :, 0], all_grey[:, :, 1]) and torch.allclose(all_grey[:, :, 1], all_grey[:, :, 2])
    assert torch.equal(grey(frames, g, chance=0.0), frames)


def test_open_mouths_are_drawn_as_targets_more_often() -> None:
    closed = face_points()
    opened = closed.copy()
    opened[[65, 66, 67], 1] += 0.4 * np.linalg.norm(closed[45] - closed[36])  # lower inner lip drops
    points = np.stack([closed] * 9 + [opened])
    assert mouth_opening(points)[-1] > mouth_opening(points)[0] + 0.39
    weights = open_mouth_weights(points)
    g = torch.Generator().manual_seed(1)
    episodes = sample_episodes([10], 2000, 1, g, [weights])
    targets = episodes.frames[:, 1]
    share = (targets == 9).float().mean().item()
    expected = (weights[9] / weights.sum()).item()
    assert share == pytest.approx(expected, abs=0.04) and share > 0.3  # uniform would be 0.1
    assert (episodes.frames[:, 0] != targets).all()  # the source is never the target
