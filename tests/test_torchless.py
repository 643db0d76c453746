"""The runtime needs no PyTorch: `import liveavatar` and the everyday verbs run in a subprocess where torch
cannot be imported (a meta-path finder raises ModuleNotFoundError for it, as in an environment with only the
base requirements), and the verbs that do need torch say so in one line with the install command.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import pytest

NO_TORCH = """
import sys

class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r} (blocked by tests/test_torchless.py)", name=name)
        return None

sys.meta_path.insert(0, NoTorch())
"""
RUN_CLI = (
    NO_TORCH
    + """
from liveavatar.cli import main

code = main(sys.argv[1:])
assert "torch" not in sys.modules
sys.exit(code)
"""
)
TIMEOUT_S = 300


def _env(tmp: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        LIVEAVATAR_CACHE=str(tmp / "cache"),
        XDG_DATA_HOME=str(tmp / "data"),
        XDG_CONFIG_HOME=str(tmp / "config"),
        QT_QPA_PLATFORM="offscreen",
    )
    env.pop("DISPLAY", None)
    env.pop("WAYLAND_DISPLAY", None)
    return env


def liveavatar(tmp: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", RUN_CLI, *args],
        env=_env(tmp),
        cwd=tmp,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def bundled_psi_size() -> int:
    """ψ's length for the bundled model, from its checkpoint header (the file names the preset; no weights)."""
    from liveavatar.models.adain_layout import layout_for
    from liveavatar.models.checkpoint import bundled_checkpoint, open_checkpoint

    return layout_for(open_checkpoint(bundled_checkpoint()).config.generator).size


def frame_count(path: Path) -> int:
    capture = cv2.VideoCapture(str(path))
    count = 0
    while capture.read()[0]:
        count += 1
    capture.release()
    return count


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("torchless")


def test_the_blocker_really_blocks_torch(workdir):
    probe = subprocess.run(
        [sys.executable, "-c", NO_TORCH + "import torch"], env=_env(workdir), capture_output=True, text=True
    )
    assert probe.returncode != 0 and "blocked by tests/test_torchless.py" in probe.stderr


def test_import_liveavatar_and_the_runtime_modules_without_torch(workdir):
    code = NO_TORCH + (
        "import liveavatar, liveavatar.cli, liveavatar.avatar, liveavatar.pipeline.runner, liveavatar.engines.registry"
        "\nimport liveavatar.engines.ort_engine, liveavatar.engines.embedder, liveavatar.engines.cache"
        "\nassert 'torch' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], env=_env(workdir), capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_avatar_run_and_demo_work_without_torch(workdir, portraits):
    from liveavatar.avatar import load_avatar
    from liveavatar.sinks.mp4tags import read_tags

    avatar = workdir / "woman.avatar"
    made = liveavatar(workdir, "avatar", str(portraits / "drawing_sketch_woman.jpg"), "-o", str(avatar))
    assert made.returncode == 0, made.stderr
    assert load_avatar(avatar).psi.shape == (bundled_psi_size(),)

    recording = workdir / "run.mp4"
    run = liveavatar(
        workdir, "run", "--avatar", str(avatar), "--source", "scripted", "--sink", f"record:{recording}",
        "--duration", "1", "--quiet",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "engine onnxruntime-cpu" in run.stderr and "torch-cuda: PyTorch is not installed" in run.stderr
    assert frame_count(recording) > 0 and read_tags(recording)

    demo = liveavatar(workdir, "demo", "--frames", "6", "--out", str(workdir / "demo.mp4"))
    assert demo.returncode == 0, demo.stderr
    assert "generator (onnxruntime-cpu)" in demo.stdout and frame_count(workdir / "demo.mp4") == 6
    still = workdir / "pose.png"
    pose = liveavatar(workdir, "pose", str(avatar), "--yaw", "10", "--mouth", "0.5", "-o", str(still))
    assert pose.returncode == 0, pose.stderr
    assert still.stat().st_size > 0
    # The bundled model's graphs ship with the package: nothing was exported into the user's cache.
    assert not list((workdir / "cache").rglob("*.onnx"))


def test_doctor_and_bench_list_the_torch_engines_as_unavailable_with_the_fix(workdir):
    doctor = liveavatar(workdir, "doctor", "--json")
    assert doctor.returncode == 0, doctor.stderr
    engines = json.loads(doctor.stdout)["engines"]
    assert "onnxruntime" in engines["available"] and engines["auto_picks"] == "onnxruntime"
    for name in ("torch", "torch-cuda"):
        assert engines["unavailable"][name].startswith(f"{name}: PyTorch is not installed")
        assert "pip install" in engines["unavailable"][name] and "[train]" in engines["unavailable"][name]

    bench = liveavatar(workdir, "bench", "--engines", "torch,onnxruntime", "--frames", "2", "--json")
    assert bench.returncode == 0, bench.stderr
    results = {r["engine"]: r for r in json.loads(bench.stdout)["engines"]}
    assert results["torch"]["status"] == "skipped" and "PyTorch is not installed" in results["torch"]["reason"]
    assert results["onnxruntime"]["status"] == "ok" and results["onnxruntime"]["frames"] == 2


def test_the_app_renders_without_torch(workdir, driving):
    pytest.importorskip("PySide6")
    avatar = workdir / "woman.avatar"
    if not avatar.is_file():
        pytest.skip("needs the avatar built by test_avatar_run_and_demo_work_without_torch")
    shot = workdir / "app.png"
    app = liveavatar(
        workdir, "app", "--source", str(driving / "aniportrait_theresa_may.mp4"), "--avatar", str(avatar),
        "--screenshot", str(shot), "--after-frames", "3",
    )  # fmt: skip
    assert app.returncode == 0, app.stderr
    image = cv2.imread(str(shot))
    assert image is not None and image.shape[0] > 100 and image.std() > 5


@pytest.mark.parametrize("argv", (["info"], ["export", "--out", "graphs"]))
def test_verbs_that_need_torch_say_how_to_install_it(workdir, argv):
    result = liveavatar(workdir, *argv)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "needs PyTorch" in result.stderr and "pip install -e '.[train]'" in result.stderr
    assert "download.pytorch.org/whl/cpu" in result.stderr  # the CPU line: plain pip pulls CUDA on Linux


def test_a_checkpoint_of_ones_own_needs_torch_and_says_so(workdir, portraits):
    """Only the bundled model ships as ONNX: another checkpoint is exported on first use, which needs torch."""
    torch = pytest.importorskip("torch")
    from liveavatar.avatar import save_avatar
    from liveavatar.config import PRESETS
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import load_checkpoint, save_checkpoint
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    checkpoint_path = workdir / "tiny.safetensors"
    save_checkpoint(checkpoint_path, TalkingHead(PRESETS["tiny"], num_videos=1, discriminator=False))
    portrait = portraits / "drawing_sketch_woman.jpg"
    avatar = workdir / "tiny.avatar"
    save_avatar(build_avatar([portrait], load_checkpoint(checkpoint_path, discriminator=False)), avatar)

    built = liveavatar(workdir, "avatar", str(portrait), "-o", "again.avatar", "--checkpoint", str(checkpoint_path))
    ran = liveavatar(
        workdir, "run", "--avatar", str(avatar), "--checkpoint", str(checkpoint_path), "--source", "scripted",
        "--sink", "record:tiny.mp4", "--duration", "1", "--quiet",
    )  # fmt: skip
    for result, what in ((built, "building an avatar"), (ran, "exporting the tiny generator")):
        assert result.returncode == 2, result.stderr
        assert "Traceback" not in result.stderr
        assert what in result.stderr and "needs PyTorch" in result.stderr and "'.[train]'" in result.stderr
    assert not (workdir / "again.avatar").exists() and not (workdir / "tiny.mp4").exists()


@pytest.mark.slow
def test_a_graph_cached_by_another_torch_is_used_when_torch_is_gone(tmp_path, monkeypatch):
    """Cache keys carry torch's version; without torch nothing can be re-exported, so an older export of the
    same weights is taken rather than refusing to run."""
    torch = pytest.importorskip("torch")
    from liveavatar.config import PRESETS
    from liveavatar.engines import cache
    from liveavatar.environment.optional import TorchMissingError
    from liveavatar.models.checkpoint import open_checkpoint, save_checkpoint
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_checkpoint(path, TalkingHead(PRESETS["tiny"], num_videos=1, discriminator=False))
    exported = cache.cached_generator_onnx(open_checkpoint(path), say=lambda m: None, root=tmp_path / "cache")

    def no_torch(purpose: str):
        raise TorchMissingError(f"{purpose} needs PyTorch")

    monkeypatch.setattr(cache, "torch_version", lambda: None)  # another key: the exact folder is not there
    monkeypatch.setattr(cache, "import_torch", no_torch)
    checkpoint = open_checkpoint(path)
    assert cache.cached_generator_onnx(checkpoint, say=lambda m: None, root=tmp_path / "cache") == exported
    assert not checkpoint.model_loaded
    with pytest.raises(TorchMissingError, match="exporting the tiny generator"):
        cache.cached_generator_onnx(checkpoint, say=lambda m: None, root=tmp_path / "empty")
