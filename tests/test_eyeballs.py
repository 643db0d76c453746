"""Eyes that look (liveavatar.render.eyeballs, issue 21): the portrait's own iris drawn where the driven one is.

A synthetic eye pins the geometry through FullResolutionWarp with a still map (at rest nothing changes; the
iris moves whole by the asked offset; nothing outside the opening changes; the white fills where the iris
was; a closing lid still covers it; an eye without an iris is left alone); a real photo through the pose
renderer pins what a user sees: asked to look left and right, the iris in the output's pixels moves about
as far as asked, where the spline alone moved it a third of the way.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from liveavatar.render.eyeballs import EYE_CONTOURS, LOWER_GROW, UPPER_GROW, PortraitEyes
from liveavatar.render.full_resolution import FullResolutionWarp

SIZE = 256
SKIN, WHITE, IRIS = (200, 160, 140), (235, 235, 235), (60, 40, 30)
CENTRE, HALF_WIDTH, HALF_HEIGHT, RADIUS = (80.0, 100.0), 20.0, 8.0, 7.0


def synthetic_face(gap: float = 2 * HALF_HEIGHT) -> np.ndarray:
    """68×2 points: the right eye (36-41) 40 px wide centred at CENTRE, lids `gap` px apart where the
    ellipse's lid points sit (a third of the way in from each corner); the left eye beside it; brows above;
    the rest far below."""
    p = np.zeros((68, 2))
    p[:] = (128.0, 230.0)
    p[17:22] = np.column_stack([np.linspace(60, 100, 5), np.full(5, 70.0)])
    p[22:27] = np.column_stack([np.linspace(140, 180, 5), np.full(5, 70.0)])
    for corner, base in ((36, 60.0), (42, 140.0)):
        half = gap / 2 * np.sqrt(1 - (7 / 20) ** 2)  # the ellipse's height 13 px in from a corner
        p[corner], p[corner + 3] = (base, 100), (base + 40, 100)
        p[corner + 1], p[corner + 2] = (base + 13, 100 - half), (base + 27, 100 - half)
        p[corner + 5], p[corner + 4] = (base + 13, 100 + half), (base + 27, 100 + half)
    return p


def contour(cx: float) -> np.ndarray:
    """The 16-point contour (EYE_CONTOURS' order) of an elliptic opening centred at (cx, 100)."""
    outer, inner = cx - HALF_WIDTH, cx + HALF_WIDTH
    xs = np.linspace(outer, inner, 9)
    dy = HALF_HEIGHT * np.sqrt(np.clip(1 - ((xs - cx) / HALF_WIDTH) ** 2, 0, 1))
    lower = np.column_stack([xs, 100 + dy])  # outer corner → inner corner
    upper = np.column_stack([xs, 100 - dy])[::-1][1:-1]  # inner → outer, corners left out
    return np.vstack([lower, upper])


def synthetic_portrait() -> tuple[np.ndarray, np.ndarray]:
    """A SIZE² RGB image: skin, the right eye's white opening with a dark iris at its centre; and the
    opening's mask (bool)."""
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    opening = ((xs - CENTRE[0]) / HALF_WIDTH) ** 2 + ((ys - CENTRE[1]) / HALF_HEIGHT) ** 2 < 1
    iris = np.hypot(xs - CENTRE[0], ys - CENTRE[1]) < RADIUS
    image = np.empty((SIZE, SIZE, 3), np.uint8)
    image[:] = SKIN
    image[opening] = WHITE
    image[opening & iris] = IRIS
    return image, opening


def eyes(found_left: bool = False) -> PortraitEyes:
    contours = np.full((2, 16, 2), np.nan, np.float32)
    contours[0] = contour(CENTRE[0])
    irises = np.full((2, 2), np.nan, np.float32)
    irises[0] = CENTRE
    radii = np.array([RADIUS, np.nan], np.float32)
    if found_left:
        contours[1], irises[1], radii[1] = contour(160.0), (160.0, 100.0), RADIUS
    return PortraitEyes(irises, contours, radii)


def drawn(driven: np.ndarray, iris: tuple[float, float], portrait_eyes: PortraitEyes | None = None) -> np.ndarray:
    """The synthetic portrait through FullResolutionWarp with a still map (no flow, no paint), driven by the
    68 points `driven` and the right iris at `iris` (the left where the portrait has it)."""
    image, _ = synthetic_portrait()
    warp = FullResolutionWarp(
        image, (0, 0), np.eye(2, 3), SIZE, 32, (0, 0, SIZE, SIZE), 1, synthetic_face(), portrait_eyes or eyes()
    )
    frame = np.zeros_like(image)
    irises = np.array([iris, (160.0, 100.0)], np.float64)
    warp.apply(frame, np.zeros((32, 32, 2), np.float32), np.zeros((SIZE, SIZE, 4), np.uint8), driven, irises)
    return frame


def dark_centre(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(x, y) centroid of the iris-dark pixels inside `mask`."""
    dark = (image.astype(np.float64).sum(-1) < 300) & mask
    ys, xs = np.nonzero(dark)
    return np.array([xs.mean(), ys.mean()])


def test_the_contours_are_mediapipes_eye_outlines_in_order() -> None:
    from mediapipe.python.solutions.face_mesh_connections import FACEMESH_LEFT_EYE, FACEMESH_RIGHT_EYE

    for indices, edges in zip(EYE_CONTOURS, (FACEMESH_RIGHT_EYE, FACEMESH_LEFT_EYE), strict=True):
        ring = {frozenset((indices[i], indices[(i + 1) % 16])) for i in range(16)}
        assert ring == {frozenset(edge) for edge in edges}  # the same closed outline, walked in order


def test_at_rest_the_eye_is_the_portrait_pixel_for_pixel() -> None:
    image, _ = synthetic_portrait()
    assert np.array_equal(drawn(synthetic_face(), CENTRE), image)


def test_the_iris_moves_whole_by_the_asked_offset_and_nothing_outside_the_opening_changes() -> None:
    image, opening = synthetic_portrait()
    out = drawn(synthetic_face(), (CENTRE[0] + 8, CENTRE[1]))
    moved = dark_centre(out, opening) - dark_centre(image, opening)
    assert abs(moved[0] - 8) < 0.75 and abs(moved[1]) < 0.5
    # the iris keeps its size: as many dark pixels as before (a few lost where the opening narrows)
    dark = lambda im: int(((im.astype(int).sum(-1) < 300) & opening).sum())  # noqa: E731
    assert 0.85 * dark(image) <= dark(out) <= 1.05 * dark(image)
    # where it was is white now, and past the opening (its lids' lines taken UPPER_GROW / LOWER_GROW eye
    # widths out, and a pixel of edge) nothing changed
    assert out[100, 73].min() > 200
    ys, xs = np.mgrid[0:SIZE, 0:SIZE].astype(np.float64)
    reach = 1 + 2 * HALF_WIDTH * max(UPPER_GROW, LOWER_GROW) / HALF_HEIGHT  # the grown lids, in half-heights
    grown = ((xs - CENTRE[0]) / (HALF_WIDTH + 1)) ** 2 + ((ys - CENTRE[1]) / (HALF_HEIGHT * reach + 1)) ** 2 < 1
    assert np.array_equal(out[~grown], image[~grown])


def test_a_shut_lid_still_covers_a_turned_eye(monkeypatch) -> None:
    """The lids are closed on the map first (liveavatar.render.lids); the iris is drawn only where the final
    map reads the opening, so the lid's skin drawn over a shut eye is the same with the eye turned or not.
    (The shut lid's light, liveavatar.render.shut_lid, is left off: the skin is found by its colour.)"""
    from liveavatar.render import full_resolution

    monkeypatch.setattr(full_resolution, "shade_shut_lid", lambda *args: None)
    image, opening = synthetic_portrait()
    shut = synthetic_face(gap=0.0)
    still, turned = drawn(shut, CENTRE), drawn(shut, (CENTRE[0] + 8, CENTRE[1]))
    lid = opening & np.all(np.abs(still.astype(int) - SKIN) <= 12, axis=-1)  # the lids' skin over the eye
    assert lid[opening].mean() > 0.9  # (the rest: slivers by the corners, where the lids' lines cut inside)
    lid = cv2.erode(lid.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0  # less a pixel of the slivers' edges
    # no iris over the skin (it is 140-170 grey levels darker); the slivers' edges blend a little
    assert np.abs(turned[lid].astype(int) - still[lid]).max() <= 16


def test_an_eye_without_an_iris_is_left_to_the_spline() -> None:
    image, _ = synthetic_portrait()
    no_iris = eyes()
    blank = PortraitEyes(np.full((2, 2), np.nan, np.float32), no_iris.contours, no_iris.radii)
    assert np.array_equal(drawn(synthetic_face(), (CENTRE[0] + 8, CENTRE[1]), blank), image)


@pytest.mark.slow
def test_pose_gaze_moves_the_photos_iris_about_as_far_as_asked(portraits) -> None:
    """Audrey Hepburn's photo posed looking left and right (gaze-x ∓1: the control points ask 0.4-0.5 eye
    widths between them): the iris's dark centre in the output moves ≥ 0.3 eye widths, where the spline alone
    (the avatar without its eye contours, as written before them) moved it about 0.1."""
    from dataclasses import replace

    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.landmarks.posing import PoseSettings
    from liveavatar.models.checkpoint import open_checkpoint, resolve_checkpoint
    from liveavatar.pipeline.posing import PoseRenderer

    checkpoint = open_checkpoint(resolve_checkpoint(None))
    avatar = build_avatar([portraits / "photo_audrey_hepburn.jpg"], checkpoint)
    assert avatar.eye_contours is not None and np.isfinite(avatar.eye_contours).all()
    engine = create_engine("onnxruntime", checkpoint).engine
    inverse = np.linalg.inv(np.vstack([avatar.crop_matrix, [0, 0, 1]]))[:2]
    points = avatar.landmarks @ inverse[:, :2].T + inverse[:, 2]  # portrait pixels (= the output's here)
    ph, pw = avatar.portrait.shape[:2]

    irises = avatar.irises @ inverse[:, :2].T + inverse[:, 2]
    radii = avatar.iris_radii * np.sqrt(abs(np.linalg.det(inverse[:, :2])))
    portrait = cv2.cvtColor(avatar.portrait, cv2.COLOR_RGB2GRAY)

    def travel(subject) -> float:
        """Where each eye's iris went between gaze-x −1 and +1, along x in eye widths (mean of both eyes):
        the portrait's iris patch found in the output's eye by normalised cross-correlation."""
        renderer = PoseRenderer(subject, engine, pw, ph, ai_mark=False, warp=warp_avatar_of(subject, checkpoint))
        found = []
        for gaze in (-1.0, 1.0):
            grey = cv2.cvtColor(renderer.render(PoseSettings(gaze_x=gaze)).output, cv2.COLOR_RGB2GRAY)
            per_eye = []
            for e, (a, b) in enumerate(((36, 39), (42, 45))):
                (x, y), r = np.rint(irises[e]).astype(int), int(round(0.6 * radii[e]))
                template = portrait[y - r : y + r + 1, x - r : x + r + 1]
                width = float(np.linalg.norm(points[b] - points[a]))
                x0, x1 = int(min(points[a][0], points[b][0])) - r, int(max(points[a][0], points[b][0])) + r
                box = grey[y - 2 * r : y + 2 * r + 1, x0:x1]
                score = cv2.matchTemplate(box, template, cv2.TM_CCOEFF_NORMED)
                per_eye.append((x0 + r + np.unravel_index(np.argmax(score), score.shape)[1]) / width)
            found.append(np.array(per_eye))
        return float(np.mean(found[1] - found[0]))

    drawn_travel = travel(avatar)
    spline_travel = travel(replace(avatar, eye_contours=None, iris_radii=None))
    engine.close()
    assert drawn_travel >= 0.3, f"the iris moved {drawn_travel:.2f} eye widths"
    assert drawn_travel >= 2 * spline_travel, f"{drawn_travel:.2f} against the spline's {spline_travel:.2f}"


@pytest.mark.slow
def test_run_tells_how_to_rebuild_an_avatar_made_before_the_eye_openings(tmp_path) -> None:
    """An avatar written before the contours still runs (its eyes by the spline alone), and `run` says, once,
    that rebuilding it draws the irises where the driver looks; a current avatar gets no such note."""
    import subprocess
    import sys
    from dataclasses import replace

    import matplotlib.cbook

    from liveavatar.avatar import load_avatar, save_avatar

    portrait = matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)
    command = [sys.executable, "-m", "liveavatar.cli"]
    new = tmp_path / "new.avatar"
    made = subprocess.run([*command, "avatar", str(portrait), "-o", str(new)], capture_output=True, text=True)
    assert made.returncode == 0, made.stderr[-2000:]
    old = save_avatar(replace(load_avatar(new), eye_contours=None, iris_radii=None), tmp_path / "old.avatar")
    for avatar, noted in ((old, True), (new, False)):
        argv = ["run", "--avatar", str(avatar), "--source", "scripted", "--duration", "1", "--quiet"]
        argv += ["--sink", f"record:{tmp_path / (avatar.stem + '.mp4')}"]
        result = subprocess.run([*command, *argv], capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        notes = [line for line in result.stderr.splitlines() if "eyes' openings" in line]
        if noted:
            assert len(notes) == 1 and "liveavatar avatar" in notes[0] and "--force" in notes[0], result.stderr
        else:
            assert not notes, result.stderr
