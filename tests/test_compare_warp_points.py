"""tools/compare_warp_points.py: which mesh points each warp variant drives, the piecewise-affine warp and the
masked SSIM on synthetic input, and one real clip end to end (skipped without ../shared/data)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

from liveavatar.landmarks.mesh68 import MESH_POINTS, MESH_TO_68

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_warp_points.py"


@pytest.fixture(scope="module")
def tool():
    spec = importlib.util.spec_from_file_location("compare_warp_points", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclass-free, but annotations resolve through the module's name
    spec.loader.exec_module(module)
    return module


def synthetic_mesh(seed: int = 0) -> np.ndarray:
    """468 distinct points inside a 256 px crop: a jittered 22×22 grid over its middle (468 of its 484)."""
    rng = np.random.default_rng(seed)
    g = np.linspace(50, 205, 22)
    grid = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)[:MESH_POINTS]
    return grid + rng.uniform(-2, 2, grid.shape)


def test_driving_indices_start_with_the_68_and_add_each_contour_point_once(tool):
    lips, eyes = tool.contour_indices("lips"), tool.contour_indices("left_eye") + tool.contour_indices("right_eye")
    assert (len(lips), len(eyes)) == (40, 32)  # mediapipe's 20 outer + 20 inner lip points, 16 a lid contour
    # The 68's lips (48-67) and eye corners/lids (36-47) are mesh contour points: the contours extend them.
    assert set(MESH_TO_68[48:68]) <= set(lips) and set(MESH_TO_68[36:48]) <= set(eyes)
    expected = {"68": 68, "68+lips": 88, "68+lips+eyes": 108, "mesh468": MESH_POINTS}
    for variant, count in expected.items():
        idx = tool.driving_indices(variant)
        assert len(idx) == count and len(set(idx.tolist())) == count, variant  # no repeated spline centre
        assert idx[:68].tolist() == list(MESH_TO_68), variant  # the first 68 rows are the 68 points, in order
    assert set(tool.driving_indices("68+lips")[68:]) == set(lips) - set(MESH_TO_68)
    assert set(tool.driving_indices("68+lips+eyes")[68:]) == (set(lips) | set(eyes)) - set(MESH_TO_68)
    assert sorted(tool.driving_indices("mesh468").tolist()) == list(range(MESH_POINTS))


def test_piecewise_affine_carries_every_point_exactly_and_is_the_identity_at_rest(tool):
    rng = np.random.default_rng(1)
    crop = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    source = synthetic_mesh()
    render, folded = tool.pwa_renderer(crop, source)
    image, backward = render(source)
    ys, xs = np.mgrid[0:256, 0:256]
    assert np.abs(backward - np.stack([xs, ys], -1)).max() < 1e-3  # every pixel covered, read from itself
    assert np.abs(image.astype(int) - crop).max() <= 1 and folded(source) == 0.0
    # A smooth motion (no fold): the map reads each driven point from its source point, to rasterization's
    # 1/16 px, which the spline's grid and λ do not promise.
    driven = source + np.stack([3 * np.sin(source[:, 1] / 40), 2 * np.cos(source[:, 0] / 50)], -1)
    _, backward = render(driven)
    assert tool.transfer_error(backward, driven[:68], source[:68]) < 0.1
    assert folded(driven) == 0.0
    # Swapping two neighbouring points turns their triangles over: a fold, with an area.
    swapped = source.copy()
    swapped[[0, 1]] = swapped[[1, 0]]
    assert folded(swapped) > 1.0


def test_masked_ssim_over_the_whole_crop_is_image_metrics_ssim(tool):
    rng = np.random.default_rng(2)
    target = rng.integers(0, 256, (256, 256, 3), dtype=np.uint8)
    output = np.clip(target.astype(int) + rng.integers(-40, 40, target.shape), 0, 255).astype(np.uint8)
    everywhere = np.ones((256, 256), bool)
    face, overall = tool.ssim_pair(output, target, everywhere)
    assert face == pytest.approx(overall, abs=1e-5) and overall < 0.99  # not trivially equal images
    # Damage outside a region leaves that region's SSIM as it was, and lowers the whole crop's.
    region = np.zeros((256, 256), bool)
    region[64:192, 64:192] = True
    damaged = output.copy()
    damaged[:40] = 0
    assert tool.ssim_pair(damaged, target, region)[0] == pytest.approx(tool.ssim_pair(output, target, region)[0])
    assert tool.ssim_pair(damaged, target, region)[1] < overall - 0.05


@pytest.mark.slow
def test_one_real_clip_the_spline_warps_move_the_face_towards_the_target(tool, driving):
    from liveavatar.landmarks.tracker import FaceTracker

    clip = driving / "grid_man_black_tshirt_sbia1a.mpg"
    with FaceTracker("image", max_faces=1) as tracker:
        result, sheet, why = tool.measure_clip(clip, 75, 3, tracker, 32, 3, variants=("68", "68+lips"))
    assert why is None and len(result["targets"]) == 3 and 0 not in result["targets"]
    assert sheet and sheet[0].shape == (256, 256 * 4, 3)  # source | target | the two variants
    rows = result["variants"]
    assert set(rows) == {"68", "68+lips", "none", "target"}
    for v in ("68", "68+lips"):
        # Warping the source to the target's points must resemble the target better than the source does,
        # and carry the 68 points to within a pixel (grid 32, λ 1e-3).
        assert rows[v]["ssim_face"] > rows["none"]["ssim_face"], v
        assert rows[v]["err68"] < rows["none"]["err68"], v
        assert rows[v]["transfer_px"] < 1.0 and rows[v]["points"] == {"68": 68, "68+lips": 88}[v]
        assert rows[v]["face_found"] == 1.0
