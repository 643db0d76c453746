"""`liveavatar prepare` on real clips: shards, report, split, resume, grouping, and every kind of bad input."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from liveavatar.cli import main as cli
from liveavatar.errors import InputError, NoFaceError
from liveavatar.training.data import decode_video, landmark_images, open_dataset
from liveavatar.training.discover import find_videos
from liveavatar.training.prepare import PrepareSettings, prepare_dataset
from liveavatar.training.shards import make_split, read_shard

CLIPS = ("grid_man_swiz3n.mpg", "pcavs_vox_matt_damon.mp4", "pcavs_vox_id06209_mo_farah.mp4")
SETTINGS = PrepareSettings(frames_per_video=10, min_frames=6, held_out_fraction=0.34)


def _link(driving: Path, folder: Path, names=CLIPS) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / name).symlink_to(driving / name)
    return folder


def _write_video(path: Path, frames: list[np.ndarray], fps: float = 25.0) -> Path:
    h, w = frames[0].shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (w, h))
    assert writer.isOpened()
    for f in frames:
        writer.write(cv2.cvtColor(f, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


def _first_frames(video: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        assert ok
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    return frames


@pytest.fixture(scope="module")
def prepared(driving: Path, tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("prep")
    videos = _link(driving, root / "videos")
    report = prepare_dataset(videos, root / "data", SETTINGS, workers=0)
    return root / "data", report


def test_shards_hold_aligned_crops_with_their_landmarks(prepared):
    data, report = prepared
    assert report["videos_used"] == 3 and report["skipped"] == []
    assert report["frames_kept"] == sum(v["frames"] for v in json.loads((data / "index.json").read_text())["videos"])
    shard = read_shard(data / "shards" / "pcavs_vox_matt_damon.mp4.npz")
    assert len(shard) == 10 and shard.points.shape == (10, 68, 2) and shard.meta["size"] == 256
    assert list(shard.frame_index) == sorted(shard.frame_index) and shard.frame_index[-1] == 105  # spread to the end
    image = cv2.imdecode(shard.jpeg_bytes(0), cv2.IMREAD_COLOR)
    assert image.shape == (256, 256, 3)
    # The face sits in the crop as the live path frames it: landmarks well inside, eyes in the upper half.
    pts = shard.points[0]
    assert pts.min() > 10 and pts.max() < 246
    assert pts[36:48, 1].mean() < 128 < pts[48:60, 1].mean()
    # The landmarks belong to the stored crop: mediapipe finds the same face in the decoded JPEG.
    from liveavatar.landmarks.tracker import FaceTracker

    with FaceTracker("image") as tracker:
        found = tracker.track(cv2.cvtColor(image, cv2.COLOR_BGR2RGB)).landmarks
    eye_distance = np.linalg.norm(pts[36] - pts[45])
    assert np.linalg.norm(found.points68 - pts, axis=1).mean() < 0.1 * eye_distance


def test_crop_box_is_smoothed_over_the_clip(prepared):
    data, _ = prepared
    boxes = read_shard(data / "shards" / "grid_man_swiz3n.mpg.npz").boxes  # GRID: a speaker sitting still
    assert np.abs(np.diff(boxes[:, 2])).max() < 0.03 * boxes[:, 2].mean()


def test_report_and_split_are_written_and_deterministic(prepared):
    data, report = prepared
    assert json.loads((data / "report.json").read_text())["videos_used"] == 3
    split = json.loads((data / "split.json").read_text())
    assert len(split["held_out"]) == 1 and len(split["train"]) == 2
    assert not set(split["held_out"]) & set(split["train"])
    persons = [Path(c).stem for c in CLIPS]
    assert make_split(list(reversed(persons)), 0.34, 0) == split  # order of discovery does not matter
    assert make_split(persons, 0.34, 1)["seed"] == 1


def test_dataset_reads_back_at_any_model_size(prepared):
    data, _ = prepared
    dataset = open_dataset(data)
    assert len(dataset.select("train")) == 2 and len(dataset.select("held_out")) == 1
    record = dataset.select("all")[0]
    big, big_pts = decode_video(record, 256)
    small, small_pts = decode_video(record, 64, [0, 3])
    assert big.shape == (10, 256, 256, 3) and small.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(small_pts[1], (big_pts[3] + 0.5) / 4 - 0.5, atol=1e-4)
    marks = landmark_images(small_pts, 64)
    assert marks.shape == (2, 64, 64, 3) and marks.max() > 0


def test_rerun_resumes_and_other_settings_are_refused(prepared, driving, tmp_path):
    data, _ = prepared
    before = {p: p.stat().st_mtime_ns for p in (data / "shards").iterdir()}
    report = prepare_dataset(Path(json.loads((data / "dataset.json").read_text())["video_dir"]), data, SETTINGS)
    assert report["videos_processed_now"] == 0 and report["videos_used"] == 3
    assert {p: p.stat().st_mtime_ns for p in (data / "shards").iterdir()} == before
    with pytest.raises(InputError, match="other settings"):
        prepare_dataset(Path(report["video_dir"]), data, PrepareSettings(frames_per_video=20))
    assert {p: p.stat().st_mtime_ns for p in (data / "shards").iterdir()} == before


def test_voxceleb_layout_groups_clips_by_person(driving, tmp_path):
    for person, video, clip in (("id001", "vidA", CLIPS[0]), ("id001", "vidB", CLIPS[1]), ("id002", "vidC", CLIPS[2])):
        folder = tmp_path / "vox" / "mp4" / person / video
        folder.mkdir(parents=True)
        (folder / "00001.mp4").symlink_to(driving / clip)
    items = find_videos(tmp_path / "vox")
    assert [(i.person, i.video) for i in items] == [("id001", "vidA"), ("id001", "vidB"), ("id002", "vidC")]
    flat = find_videos(_link(driving, tmp_path / "flat"))
    assert [i.person for i in flat] == sorted(Path(c).stem for c in CLIPS)


@pytest.mark.slow
def test_broken_videos_are_skipped_with_their_reasons_in_parallel_workers(driving, tmp_path):
    videos = _link(driving, tmp_path / "videos", CLIPS[:1])
    (videos / "corrupt.mp4").write_bytes(b"\x00\x01 not a video" * 100)
    rng = np.random.default_rng(0)
    _write_video(videos / "noface.mp4", [rng.integers(0, 255, (120, 160, 3), dtype=np.uint8) for _ in range(20)])
    _write_video(videos / "short.mp4", _first_frames(driving / CLIPS[1], 4))
    report = prepare_dataset(videos, tmp_path / "data", SETTINGS, workers=2)
    assert report["videos_used"] == 1
    reasons = {s["key"]: s["reason"] for s in report["skipped"]}
    assert reasons == {"corrupt.mp4": "unreadable", "noface.mp4": "no face", "short.mp4": "too short"}
    assert json.loads((tmp_path / "data" / "report.json").read_text())["skipped_by_reason"] == {
        "unreadable": 1,
        "no face": 1,
        "too short": 1,
    }
    # Skipped videos are remembered: a re-run does not try them again.
    assert prepare_dataset(videos, tmp_path / "data", SETTINGS)["videos_processed_now"] == 0


def test_empty_folder_and_folder_without_videos(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli(["prepare", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "is empty" in capsys.readouterr().err
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("no videos here")
    assert cli(["prepare", str(tmp_path / "docs"), "-o", str(tmp_path / "out")]) == 2
    assert "holds no video files" in capsys.readouterr().err
    assert cli(["prepare", str(tmp_path / "missing"), "-o", str(tmp_path / "out")]) == 2
    assert not (tmp_path / "out").exists()


def test_no_usable_video_is_an_error_but_the_report_is_kept(tmp_path, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    _write_video(videos / "grey.mp4", [np.full((96, 128, 3), 128, np.uint8)] * 12)
    assert cli(["prepare", str(videos), "-o", str(tmp_path / "data"), "--workers", "0"]) == 2
    assert "none of the 1 videos" in capsys.readouterr().err
    assert json.loads((tmp_path / "data" / "report.json").read_text())["skipped"][0]["reason"] == "no face"
    with pytest.raises(NoFaceError):
        prepare_dataset(videos, tmp_path / "data2", SETTINGS)


def test_foreign_output_folder_is_not_touched_without_force(driving, tmp_path, capsys):
    videos = _link(driving, tmp_path / "videos", CLIPS[:1])
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.txt").write_text("precious")
    assert cli(["prepare", str(videos), "-o", str(out), "--workers", "0"]) == 2
    assert "not a LiveAvatar dataset" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == ["thesis.txt"]
