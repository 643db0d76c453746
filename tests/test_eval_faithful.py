"""eval's identity and expression measures, and cross-reenactment of portraits by clips (tiny model, real faces)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from liveavatar.config import PRESETS
from liveavatar.files.imageio import read_image
from liveavatar.models.checkpoint import save_checkpoint
from liveavatar.models.talking_head import TalkingHead
from liveavatar.training.expression import expression_signals, follow_measures, pearson
from liveavatar.training.identity import SAME_PERSON, summarize_identity, unavailable_reason


@pytest.fixture(scope="module")
def face(portraits: Path) -> np.ndarray:
    """A real frontal face's 68 points (mediapipe on Grace Hopper's photo), image pixels."""
    from liveavatar.landmarks.tracker import detect_portrait

    found, _ = detect_portrait(read_image(portraits / "photo_grace_hopper.jpg"), "photo_grace_hopper.jpg")
    return found.points68.astype(np.float64)


def _open_mouth(points: np.ndarray, amount: float) -> np.ndarray:
    """The lower lip moved down by `amount` eye distances (outer eye corners 36–45)."""
    p = points.copy()
    p[[65, 66, 67, 55, 56, 57, 58, 59], 1] += amount * np.linalg.norm(p[45] - p[36])
    return p


def test_mouth_signal_grows_as_the_lower_lip_drops_and_the_rest_stays(face: np.ndarray) -> None:
    base = face
    closed, opened = expression_signals(base), expression_signals(_open_mouth(base, 0.3))
    assert opened["mouth"] > closed["mouth"] + 0.1
    for name in ("eyes", "yaw", "roll"):
        assert opened[name] == pytest.approx(closed[name], abs=1e-9)


def test_roll_reads_a_rotated_face(face: np.ndarray) -> None:
    base = face
    angle = 0.2
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    turned = (base - 128) @ rot.T + 128
    assert expression_signals(turned)["roll"] - expression_signals(base)["roll"] == pytest.approx(angle, abs=1e-6)


def test_follow_measures_see_a_follower_and_a_statue(face: np.ndarray) -> None:
    base = face
    amounts = [0, 0.1, 0.25, 0.05, 0.35, 0.15, 0, 0.2]
    driver = [_open_mouth(base, a) for a in amounts]
    follower = [_open_mouth(base, a / 2) for a in amounts]  # opens half as wide, in step
    statue = [base.copy() for _ in amounts]
    follows = follow_measures(driver, follower)
    assert follows["r_mouth"] == pytest.approx(1.0, abs=1e-3)
    assert follows["mouth_range_ratio"] == pytest.approx(0.5, abs=0.05)
    still = follow_measures(driver, statue)
    assert still["r_mouth"] is None  # a constant output has no correlation, not r = 0
    assert still["mouth_range_ratio"] == pytest.approx(0.0, abs=1e-9)
    assert follows["driver_mouth_still"] is False
    missing = follow_measures(driver, [None] * len(driver))
    assert missing["r_mouth"] is None and missing["mouth_range_ratio"] is None
    assert pearson([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)


def test_a_driver_whose_mouth_stays_shut_has_no_mouth_r(face: np.ndarray) -> None:
    """Tracker wobble on a closed mouth correlates with anything by chance: it must not count as following."""
    wobble = [0.0, 0.012, 0.004, 0.018, 0.002, 0.015, 0.007, 0.01]
    driver = [_open_mouth(face, a) for a in wobble]
    echo = [_open_mouth(face, a) for a in wobble]  # would score r = 1 on pure noise
    measures = follow_measures(driver, echo)
    assert measures["driver_mouth_still"] is True
    assert measures["r_mouth"] is None and measures["mouth_range_ratio"] is None
    assert measures["r_yaw"] is None  # the other signals are measured as before (constant here: undefined)


def test_identity_summary_counts_frames_without_a_face_against_the_model() -> None:
    s = summarize_identity([0.2, 0.3, None, 0.7])
    assert s["identity_median"] == pytest.approx(0.3)
    assert s["identity_same_share"] == pytest.approx(0.5)
    assert s["identity_face_found"] == pytest.approx(0.75)


def test_dlib_descriptor_tells_a_portrait_from_another_person(portraits: Path) -> None:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    from liveavatar.training.identity import FaceDescriber

    describer = FaceDescriber()
    hopper = read_image(portraits / "photo_grace_hopper.jpg")
    einstein = read_image(portraits / "photo_albert_einstein.jpg")
    a, b = describer.describe(hopper), describer.describe(einstein)
    flipped = describer.describe(np.ascontiguousarray(hopper[:, ::-1]))
    assert a is not None and b is not None and flipped is not None
    assert np.linalg.norm(a - flipped) < SAME_PERSON  # the same face, mirrored
    assert np.linalg.norm(a - b) > SAME_PERSON
    assert describer.describe(np.full((256, 256, 3), 128, np.uint8)) is None


@pytest.mark.slow
def test_cross_reenactment_reports_model_warp_and_live_rows_per_kind(tmp_path: Path, portraits: Path, driving: Path):
    torch.manual_seed(0)
    ckpt = tmp_path / "tiny.safetensors"
    save_checkpoint(ckpt, TalkingHead(PRESETS["tiny"], num_videos=2), {})
    faces, clips = tmp_path / "faces", tmp_path / "clips"
    faces.mkdir()
    clips.mkdir()
    for name in ("photo_grace_hopper.jpg", "painting_mona_lisa.jpg", "statue_apollo_bust.png"):
        (faces / name).symlink_to(portraits / name)
    (clips / "mouth.mp4").symlink_to(driving / "lp_d18_man_mouth_open.mp4")
    out = tmp_path / "report"
    cmd = [
        sys.executable,
        "-c",
        "from liveavatar.cli import main; raise SystemExit(main())",
        "eval",
        "--checkpoint",
        str(ckpt),
        "--portraits",
        str(faces),
    ]
    cmd += ["--drivers", str(clips), "--out", str(out), "--frames-per-clip", "12"]
    env = {**os.environ, "TQDM_DISABLE": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=500, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads((out / "cross_metrics.json").read_text())
    assert (out / "cross_sheet.png").is_file()
    kinds = {p["portrait"]: p["kind"] for p in report["pairs"]}
    assert kinds.get("photo_grace_hopper.jpg") == "photo" and kinds.get("painting_mona_lisa.jpg") == "painting"
    assert set(report["summary"]) == {"model", "warp", "live"}
    assert {"photo", "painting", "all"} <= set(report["summary"]["warp"])
    for row in report["pairs"]:
        assert row["frames"] >= 3 and 0 <= row["face_found"] <= 1
        assert {"r_mouth", "r_eyes", "r_yaw", "r_pitch", "r_roll", "mouth_range_ratio"} <= set(row)
    warp_rows = [r for r in report["pairs"] if r["row"] == "warp"]
    # the warp moves the portrait's own pixels: mediapipe finds the face on every frame of a photo
    assert all(r["face_found"] == 1.0 for r in warp_rows if r["kind"] == "photo")
    if unavailable_reason() is None:
        # and dlib calls it the same person; a random tiny model's 64 px smear is not
        assert all(r["identity_median"] < SAME_PERSON for r in warp_rows if r["kind"] == "photo")
        assert "identity_median" in done.stdout or "id med" in done.stdout
    else:
        assert "identity not measured" in done.stdout
    # a portrait mediapipe cannot find is reported as skipped, with the reason, not dropped silently
    assert any("statue_apollo_bust" in s.get("portrait", "") for s in report["skipped"]) or any(
        p["portrait"] == "statue_apollo_bust.png" for p in report["pairs"]
    )


def test_eval_needs_something_to_evaluate_and_both_cross_folders(tmp_path: Path) -> None:
    from liveavatar.cli import main

    assert main(["eval", "--out", str(tmp_path / "r")]) == 2
    assert main(["eval", "--out", str(tmp_path / "r"), "--portraits", str(tmp_path)]) == 2


@pytest.mark.slow
def test_the_live_row_measures_what_run_shows_with_the_bundled_model(tmp_path: Path, portraits: Path, driving: Path):
    """`eval`'s live row runs the shipping path (the Processor, the frame graph on the engine `run` picks, the
    Composer at 1280×720 with the driver's own mouth, the lids and the irises) and reads the output's face
    square with mediapipe and dlib. Grace Hopper's portrait, driven by a man whose mouth opens wide: her mouth
    follows his (r 0.96 by mediapipe, 0.72 by dlib; its opening's range 0.58 / 0.50 of his, which reaches a
    third of his eye distance) and she stays herself (identity 0.34). dlib read 0.79 without the driver's
    creases: where he presses his lips together the shade they lay under her lower lip reads to it as a mouth
    a little open. Driven by a woman who glances aside: her irises follow (gaze r 0.80 / 0.84, range 0.77 /
    0.59 of the driver's), where the graph's crop, which does not redraw them, moves them a fifth as far. (The
    gaze r by mediapipe read 0.85 before the driver's teeth were bent under white: its mesh reads the whole
    face, and the eyes' pixels did not change; the issue's bar is 0.7.)"""
    import cv2

    from liveavatar.cli import main

    faces, clips = tmp_path / "faces", tmp_path / "clips"
    faces.mkdir()
    clips.mkdir()
    (faces / "photo_grace_hopper.jpg").symlink_to(portraits / "photo_grace_hopper.jpg")
    (clips / "glances.mp4").symlink_to(driving / "hellomeme_tiktok_young_woman_glances.mp4")
    (clips / "mouth.mp4").symlink_to(driving / "lp_d18_man_mouth_open.mp4")
    out = tmp_path / "report"
    # 48 frames at stride 2: the man opens his mouth wide from the 32nd
    args = ["eval", "--portraits", str(faces), "--drivers", str(clips), "--out", str(out), "--frames-per-clip", "48"]
    assert main(args) == 0
    report = json.loads((out / "cross_metrics.json").read_text())
    rows = {(p["row"], p["driver"]): p for p in report["pairs"]}
    live = rows[("live", "mouth.mp4")]
    assert live["frames"] == 48 - 5  # the neutral's capture left out: the avatar holds its rest then
    assert live["face_found"] == 1.0
    assert live["r_mouth"] > 0.75 and live["mouth_range_ratio"] > 0.4
    looks, crop = rows[("live", "glances.mp4")], rows[("model", "glances.mp4")]
    assert looks["gaze_r"] > 0.75 and looks["gaze_range"] > 0.5
    assert crop["gaze_range"] < 0.3 * looks["gaze_range"]
    if unavailable_reason() is None:
        assert live["identity_median"] < SAME_PERSON
        assert live["dlib_r_mouth"] > 0.65 and live["dlib_mouth_range_ratio"] > 0.4
        assert looks["dlib_gaze_r"] > 0.6 and looks["dlib_gaze_range"] > 0.4
    sheet = cv2.imread(str(out / "cross_sheet.png"))
    assert sheet.shape[1] == 5 * 256  # portrait | driver | model | warp | live


@pytest.mark.slow
def test_without_an_engine_the_live_row_is_skipped_and_says_why(tmp_path: Path, portraits: Path, driving: Path):
    from liveavatar.engines.embedder import create_embedder
    from liveavatar.models.checkpoint import load_checkpoint, resolve_checkpoint
    from liveavatar.training.cross_eval import CrossSettings, cross_reenact

    faces, clips = tmp_path / "faces", tmp_path / "clips"
    faces.mkdir()
    clips.mkdir()
    (faces / "photo_grace_hopper.jpg").symlink_to(portraits / "photo_grace_hopper.jpg")
    (clips / "mouth.mp4").symlink_to(driving / "lp_d18_man_mouth_open.mp4")
    checkpoint = load_checkpoint(resolve_checkpoint(None), discriminator=False)
    settings = CrossSettings(frames_per_clip=6, rows=("warp", "live"))
    report = cross_reenact(checkpoint, faces, clips, settings, tmp_path, torch.device("cpu"), create_embedder)
    assert {p["row"] for p in report["pairs"]} == {"warp"}
    assert {"row": "live", "skipped": "no engine was given to run the shipping path with"} in report["skipped"]
