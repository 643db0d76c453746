"""Meta-learning, fine-tuning and evaluation on real clips with the tiny preset (CPU, seconds each)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from liveavatar.cli import main as cli
from liveavatar.errors import CheckpointError, InputError
from liveavatar.models.checkpoint import load_checkpoint
from liveavatar.training.meta_train import RESUME, TrainSettings, train
from liveavatar.training.prepare import PrepareSettings, prepare_dataset

REPO = Path(__file__).resolve().parents[1]
CLIPS = ("grid_man_swiz3n.mpg", "pcavs_vox_matt_damon.mp4", "pcavs_vox_id06209_mo_farah.mp4")


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    # Two intra-op threads on a shared 2-core machine spin against each other; one is faster and the
    # results are the same.
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data(driving: Path, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("train_data")
    videos = root / "videos"
    videos.mkdir()
    for name in CLIPS:
        (videos / name).symlink_to(driving / name)
    prepare_dataset(videos, root / "data", PrepareSettings(frames_per_video=8, min_frames=6, held_out_fraction=0.34))
    return root / "data"


def tiny(data: Path, out: Path, **changes) -> TrainSettings:
    base = TrainSettings(
        preset="tiny",
        data=data,
        out=out,
        steps=4,
        batch=2,
        k=2,
        log_every=1,
        sample_every=0,
        checkpoint_every=1000,
        progress=False,
        device="cpu",
    )
    return dataclasses.replace(base, **changes)


def log_column(run: Path, name: str) -> list[float]:
    with open(run / "log.csv", newline="") as f:
        return [float(row[name]) for row in csv.DictReader(f)]


@pytest.fixture(scope="module")
def trained(data: Path, tmp_path_factory) -> Path:
    """A tiny run that overfits the few training frames (rates well above the paper's, for speed)."""
    run = tmp_path_factory.mktemp("run") / "tiny"
    train(tiny(data, run, steps=40, lr_g=2e-3, lr_d=2e-3, sample_every=20))
    return run


def test_loss_goes_down_on_a_few_frames(trained: Path):
    l1 = log_column(trained, "l1")
    assert len(l1) == 40
    assert np.mean(l1[-5:]) < 0.8 * np.mean(l1[:5])
    content = log_column(trained, "content")
    assert np.mean(content[-5:]) < np.mean(content[:5])


def test_run_folder_has_checkpoint_logs_and_sample_grids(trained: Path):
    checkpoint = load_checkpoint(trained / "checkpoint.safetensors")
    assert checkpoint.config.preset == "tiny" and checkpoint.model.num_videos == 2
    info = checkpoint.training
    assert info["steps"] == 40 and info["stopped_by"] == "steps"
    assert info["losses"]["content"] == {"l1": 10.0, "ms_ssim": 5.0}
    assert info["losses"]["feature_matching"] == 10.0 and info["losses"]["embedding_match"] == 80.0
    run = json.loads((trained / "run.json").read_text())
    assert run["status"] == "finished" and run["data"]["videos"] == 2 and run["amp"] == "off"
    from liveavatar.files.imageio import read_image

    grid = read_image(trained / "samples" / "step_00000040.png")
    assert grid.shape == (2 * 64, 4 * 64, 3)  # rows: episodes; columns: source | landmarks | target | generated
    assert sorted(p.name for p in (trained / "samples").iterdir()) == [
        "step_00000001.png",
        "step_00000020.png",
        "step_00000040.png",
    ]


def test_resume_continues_bit_for_bit(data: Path, tmp_path: Path):
    straight = tmp_path / "straight"
    train(tiny(data, straight, steps=4, checkpoint_every=1))  # saving mid-run must not disturb training
    split = tmp_path / "split"
    train(tiny(data, split, steps=2))
    result = train(tiny(data, split, steps=4, resume=True))
    assert result.step == 4
    a = torch.load(straight / RESUME, weights_only=True)
    b = torch.load(split / RESUME, weights_only=True)
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert log_column(split, "loss_g") == log_column(straight, "loss_g")  # the log reads as one run
    sa, sb = load_file(straight / "checkpoint.safetensors"), load_file(split / "checkpoint.safetensors")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_time_budget_stops_and_writes_the_checkpoint(data: Path, tmp_path: Path):
    result = train(tiny(data, tmp_path / "run", steps=10_000, minutes=1e-4))
    assert result.stopped_by == "time" and 1 <= result.step < 10_000
    assert load_checkpoint(tmp_path / "run" / "checkpoint.safetensors").training["stopped_by"] == "time"
    assert len(log_column(tmp_path / "run", "loss_g")) == result.step


def test_bf16_autocast_path_runs(data: Path, tmp_path: Path):
    train(tiny(data, tmp_path / "run", steps=2, amp="bf16"))
    assert all(np.isfinite(log_column(tmp_path / "run", "loss_g")))
    assert json.loads((tmp_path / "run" / "run.json").read_text())["amp"] == "bf16"


def test_existing_run_is_never_overwritten_without_force(data: Path, trained: Path, tmp_path: Path, capsys):
    before = {p.name: p.stat().st_mtime_ns for p in trained.iterdir()}
    argv = ["train", "--preset", "tiny", "--data", str(data), "--out", str(trained), "--steps", "1", "--device", "cpu"]
    assert cli(argv) == 2
    assert "already holds a training run" in capsys.readouterr().err
    assert cli([*argv[:2], "lite", *argv[3:], "--resume"]) == 2
    assert "trains preset 'tiny', not 'lite'" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in trained.iterdir()} == before
    assert cli(["train", "--preset", "tiny", "--data", str(tmp_path / "nope"), "--out", str(tmp_path / "r")]) == 2
    assert "no such dataset folder" in capsys.readouterr().err
    assert cli(["train", "--preset", "tiny", "--data", str(data), "--out", str(tmp_path / "r"), "--resume"]) == 2
    assert "no run to continue" in capsys.readouterr().err


def test_corrupt_resume_state_and_checkpoint_are_clear_errors(data: Path, trained: Path, tmp_path: Path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    (run / RESUME).write_bytes((trained / RESUME).read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt"):
        train(tiny(data, run, resume=True))
    broken = tmp_path / "broken.safetensors"
    broken.write_bytes((trained / "checkpoint.safetensors").read_bytes()[:5000])
    assert cli(["eval", "--checkpoint", str(broken), "--data", str(data), "--out", str(tmp_path / "ev")]) == 2
    assert "checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "ev").exists()


def test_vgg_content_loss_from_local_weight_files(data: Path, tmp_path: Path):
    from liveavatar.training.vgg import VGG16_LAYOUT, VGG19_LAYOUT, VGGFACE_TAPS, VGGFeatures, vgg19_features

    torch.manual_seed(0)
    # torchvision's key layout for VGG19, Caffe-style conv names for VGGFace; random weights stand in for
    # the real files (which we may not download), the loading and the loss are what is tested.
    vgg19 = VGGFeatures(VGG19_LAYOUT, (1, 6, 11, 20, 29), (0.5,) * 3, (0.25,) * 3, 1.0)
    torch.save({f"features.{k}": v for k, v in vgg19.features.state_dict().items()}, tmp_path / "v19.pth")
    face = VGGFeatures(VGG16_LAYOUT, VGGFACE_TAPS, (0.5,) * 3, (1.0,) * 3, 255.0)
    convs = [m for m in face.features if isinstance(m, torch.nn.Conv2d)]
    names = [f"conv{b}_{i}" for b, n in ((1, 2), (2, 2), (3, 3), (4, 3), (5, 3)) for i in range(1, n + 1)]
    caffe = {}
    for name, conv in zip(names, convs, strict=False):
        caffe[f"{name}.weight"], caffe[f"{name}.bias"] = conv.weight, conv.bias
    caffe["fc6.weight"] = torch.zeros(4, 4)  # classifier weights are ignored
    torch.save(caffe, tmp_path / "face.pth")
    loaded = vgg19_features(tmp_path / "v19.pth")
    assert torch.equal(loaded.features[28].weight, vgg19.features[28].weight)
    train(
        tiny(data, tmp_path / "run", steps=1, vgg19_weights=tmp_path / "v19.pth", vggface_weights=tmp_path / "face.pth")
    )
    losses = load_checkpoint(tmp_path / "run" / "checkpoint.safetensors").training["losses"]
    assert losses["content"] == {"vgg19": 0.15, "vggface": 0.025} and losses["content_kind"] == "paper (VGG)"
    assert np.isfinite(log_column(tmp_path / "run", "vgg19")[0])
    torch.save({"features.0.weight": torch.zeros(3)}, tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="does not hold VGG19 weights"):
        vgg19_features(tmp_path / "wrong.pth")
    with pytest.raises(InputError, match="never downloaded"):
        vgg19_features(tmp_path / "absent.pth")


def test_split_export_loads_back(trained: Path, tmp_path: Path):
    from liveavatar.training.shipping import load_discriminator, split_checkpoint

    main, disc_path = split_checkpoint(trained / "checkpoint.safetensors", tmp_path / "tiny.safetensors")
    small = load_checkpoint(main)
    assert small.model.discriminator is None
    full = load_checkpoint(trained / "checkpoint.safetensors")
    y = torch.rand(1, 3, 64, 64) * 2 - 1
    psi = full.model.psi(y[:, None], y[:, None]).detach()
    with torch.no_grad():
        diff = (small.model.generator(y, psi) - full.model.generator(y, psi)).abs().mean() * 127.5
    assert diff < 1.0  # float16 weights: well under one grey level on average
    disc = load_discriminator(disc_path, small)
    assert disc.video_embeddings.num_embeddings == 2
    from liveavatar.training.finetune import find_discriminator

    # Fine-tuning the shipped pair finds D beside the inference checkpoint on its own.
    found = find_discriminator(load_checkpoint(main, spectral=True), None)
    assert found is not None and torch.equal(found.w0, disc.w0)


def test_finetune_makes_an_avatar_with_its_own_generator(trained: Path, portraits: Path, tmp_path: Path, capsys):
    ckpt = trained / "checkpoint.safetensors"
    out = tmp_path / "mona.avatar"
    portrait = portraits / "painting_mona_lisa.jpg"
    argv = ["finetune", "--checkpoint", str(ckpt), str(portrait), "--steps", "8", "-o", str(out), "--device", "cpu"]
    assert cli([*argv, "--lr-scale", "20"]) == 0
    assert "content loss" in capsys.readouterr().out
    from liveavatar.avatar import load_avatar
    from liveavatar.engines.embedder import build_avatar

    plain = load_checkpoint(ckpt, discriminator=False)
    avatar = load_avatar(out, plain.sha256)  # pairs with the checkpoint it was tuned from
    assert avatar.is_finetuned and avatar.generator_weights.keys() == plain.model.generator.state_dict().keys()
    reference = build_avatar([portrait], plain)
    assert not np.allclose(avatar.psi, reference.psi)  # ψ′ moved away from P·ê
    generator = plain.model.generator
    tuned = type(generator)(plain.config, spectral=False)
    tuned.load_state_dict({k: torch.from_numpy(v) for k, v in avatar.generator_weights.items()})  # numpy on disk
    y = torch.rand(1, 3, 64, 64) * 2 - 1
    psi = torch.from_numpy(avatar.psi)[None]
    with torch.no_grad():
        assert not torch.allclose(tuned(y, psi), generator(y, psi))
    assert cli(argv) == 2  # the avatar exists: not replaced without --force
    assert "already exists" in capsys.readouterr().err


@pytest.mark.slow
def test_eval_reports_finite_metrics_and_reproduces_them(trained: Path, data: Path, tmp_path: Path):
    ckpt = trained / "checkpoint.safetensors"
    argv = ["eval", "--checkpoint", str(ckpt), "--data", str(data), "--shots", "1,2", "--frames-per-video", "3"]
    assert cli([*argv, "--out", str(tmp_path / "a")]) == 0
    metrics = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert metrics["data"]["part"] == "held_out" and metrics["data"]["videos"] == 1
    for k in ("1", "2"):
        s = metrics["self_reenactment"][k]
        assert s["frames"] == 3 and 0 <= s["face_found"] <= 1
        assert all(np.isfinite(s[m]) for m in ("ssim", "psnr", "l1"))
        assert s["landmark_error"] is None or np.isfinite(s["landmark_error"])
    assert (tmp_path / "a" / "sheet.png").is_file()
    warp = metrics["self_reenactment"]["warp"]  # the training-free baseline row, on the smallest K
    assert warp["videos"] == 1 and warp["frames"] == 3
    # the first frame's own pixels moved to the later frames' landmarks beat a tiny model trained for seconds
    assert warp["ssim"] > metrics["self_reenactment"]["1"]["ssim"]
    assert warp["face_found"] == 1.0 and warp["landmark_error"] < 0.1
    assert {"r_mouth", "r_yaw", "mouth_range_ratio"} <= set(warp)
    assert cli([*argv, "--out", str(tmp_path / "b"), "--finetune-steps", "2"]) == 0
    assert cli([*argv, "--out", str(tmp_path / "a")]) == 2  # no overwrite without --force
    assert cli([*argv, "--out", str(tmp_path / "a"), "--force"]) == 0
    again = json.loads((tmp_path / "a" / "metrics.json").read_text())
    assert again["self_reenactment"] == metrics["self_reenactment"]


def test_landmark_error_is_small_for_the_real_frame(data: Path):
    from liveavatar.landmarks.tracker import FaceTracker
    from liveavatar.training.data import decode_video, open_dataset
    from liveavatar.training.metrics import image_metrics, landmark_error

    record = open_dataset(data).select("all")[0]
    frames, points = decode_video(record, 256, [0, 5])
    with FaceTracker("image", max_faces=1) as tracker:
        same = landmark_error(tracker, frames[0], points[0])
        other = landmark_error(tracker, frames[0], points[1] + np.array([20.0, 0.0], np.float32))
    assert same is not None and same < 0.08
    assert other is not None and other > same
    scores = image_metrics(frames[:1], frames[:1])
    assert scores["ssim"][0] == pytest.approx(1.0) and scores["psnr"][0] == 100.0 and scores["l1"][0] == 0


@pytest.mark.slow
def test_two_process_gloo_run_ends_with_identical_weights(data: Path, tmp_path: Path):
    run = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "liveavatar.commands.train",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--out",
        str(run),
        "--steps",
        "3",
        "--batch",
        "2",
        "--k",
        "2",
        "--device",
        "cpu",
        "--log-every",
        "1",
        "--sample-every",
        "0",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    info = json.loads((run / "run.json").read_text())
    digests = info["weights_sha256_per_process"]
    assert info["world_size"] == 2 and len(digests) == 2 and digests[0] == digests[1]
    assert load_checkpoint(run / "checkpoint.safetensors").training["world_size"] == 2


@pytest.mark.slow
def test_sigterm_saves_the_last_state(data: Path, tmp_path: Path):
    run = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "liveavatar.commands.train",
        "--preset",
        "tiny",
        "--data",
        str(data),
        "--out",
        str(run),
        "--steps",
        "100000",
        "--batch",
        "2",
        "--k",
        "2",
        "--device",
        "cpu",
        "--log-every",
        "1",
        "--sample-every",
        "0",
    ]
    proc = subprocess.Popen(
        cmd, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while not (run / "log.csv").is_file() and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err[-2000:]
    assert "signal: step" in out
    info = load_checkpoint(run / "checkpoint.safetensors").training
    assert info["stopped_by"] == "signal" and info["steps"] >= 1
    train(tiny(data, run, steps=info["steps"] + 1, resume=True))  # and it resumes from there


@pytest.mark.slow
def test_gpu_script_runs_end_to_end_on_cpu(data: Path, tmp_path: Path):
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "BATCH": "2",
        "K": "2",
        "STEPS": "2",
        "PYTHON": sys.executable,
        "OMP_NUM_THREADS": "1",
    }
    done = subprocess.run(
        ["bash", str(REPO / "tools" / "gpu_train.sh"), str(data), str(tmp_path / "out"), "5", "tiny"],
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    names = sorted(p.name for p in (tmp_path / "out").iterdir() if p.is_file())
    assert names == ["log.csv", "run.json", "samples.png", "tiny.safetensors", "tiny_discriminator.safetensors"]
    assert load_checkpoint(tmp_path / "out" / "tiny.safetensors").training["steps"] == 2


@pytest.mark.slow
def test_warp_preset_trains_fine_tunes_and_evaluates(data: Path, tmp_path: Path):
    """warp-tiny: the loop runs on warped episodes and learns, and eval and finetune accept its checkpoint."""
    run = tmp_path / "warp"
    train(tiny(data, run, preset="warp-tiny", steps=30, lr_g=2e-3, lr_d=2e-3, sample_every=30))
    # The mask starts at the warp, so the frame's losses start near the warp's and 30 steps of 64 px do not
    # reliably lower them (L1, mouth); the objective G minimises must fall and the content must not diverge.
    loss_g, content = log_column(run, "loss_g"), log_column(run, "content")
    assert len(loss_g) == 30 and np.mean(loss_g[-10:]) < np.mean(loss_g[:10])
    assert np.mean(content[-10:]) < 1.2 * np.mean(content[:10])
    checkpoint = load_checkpoint(run / "checkpoint.safetensors")
    assert checkpoint.config.preset == "warp-tiny" and checkpoint.config.warp is not None
    from liveavatar.files.imageio import read_image

    grid = read_image(run / "samples" / "step_00000030.png")
    assert grid.shape[1] == 5 * 64  # shot | landmarks | real | generated | warped shot
    argv = ["eval", "--checkpoint", str(run / "checkpoint.safetensors"), "--data", str(data)]
    argv += ["--shots", "1", "--frames-per-video", "3", "--finetune-steps", "2", "--out", str(tmp_path / "e")]
    assert cli(argv) == 0
    metrics = json.loads((tmp_path / "e" / "metrics.json").read_text())
    model, warp = metrics["self_reenactment"]["1"], metrics["self_reenactment"]["warp"]
    assert model["frames"] == 3 and np.isfinite(model["ssim"]) and np.isfinite(warp["ssim"])
