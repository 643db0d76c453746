"""The ONNX graphs shipped in liveavatar/assets/NAME-onnx: they belong to the shipped checkpoint, they match
PyTorch, and the runtime uses them instead of exporting anything.

When this fails after a change to the checkpoint, the networks or the export code, re-export them with
`python tools/export_bundled_graphs.py` (needs the train extra) and commit the result.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from liveavatar.engines.bundled import bundled_graph, files_for, graphs_dir, read_manifest
from liveavatar.engines.export import EMBEDDER_MAX_RELATIVE, FP16_MAX_MEAN_LEVELS, FP32_MAX_LEVELS
from liveavatar.models.checkpoint import bundled_checkpoint, file_sha256, load_checkpoint, open_checkpoint

REPO = Path(__file__).resolve().parents[1]
REEXPORT = "re-export them with `python tools/export_bundled_graphs.py`"
GRAPHS_DIR = graphs_dir()
FILES = files_for(open_checkpoint(bundled_checkpoint()).config) if bundled_checkpoint() else {}


@pytest.fixture(scope="module")
def checkpoint():
    path = bundled_checkpoint()
    assert path is not None, "the package ships no bundled checkpoint (liveavatar/assets/NAME.safetensors)"
    return load_checkpoint(path, discriminator=False)


def test_the_manifest_names_the_shipped_checkpoint_and_every_file():
    manifest = read_manifest()
    assert manifest is not None, f"{GRAPHS_DIR}/manifest.json is missing or unreadable"
    assert manifest["checkpoint"] == bundled_checkpoint().name
    assert manifest["checkpoint_sha256"] == file_sha256(bundled_checkpoint()), (
        f"another checkpoint's graphs; {REEXPORT}"
    )
    assert set(manifest["files"]) == set(FILES.values())
    for name, entry in manifest["files"].items():
        assert file_sha256(GRAPHS_DIR / name) == entry["sha256"], f"{name} changed after its export; {REEXPORT}"
        assert FILES[(entry["graph"], entry["precision"])] == name
    made_by = manifest["exported_by"]
    assert "export_checkpoint" in made_by["tool"] and made_by["code_fingerprint"] and made_by["git_commit"]
    assert made_by["torch"] and made_by["opset"]
    assert manifest["parity"]["checks"], "the manifest must record the parity measured at export"


def test_each_graph_says_it_holds_the_shipped_weights(checkpoint):
    from liveavatar.engines.graph_info import read_graph_info
    from liveavatar.engines.graph_writer import weights_sha256

    for (graph, precision), name in FILES.items():
        info = read_graph_info(GRAPHS_DIR / name, graph)
        expected = (checkpoint.config.preset, precision, checkpoint.sha256)
        assert (info.preset, info.precision, info.checkpoint_sha256) == expected
        module = checkpoint.model.embedder if graph == "embedder" else checkpoint.model.generator
        assert info.weights_sha256 == weights_sha256(module), f"{name} holds other weights; {REEXPORT}"


def test_the_shipped_graphs_match_pytorch(checkpoint):
    """Real faces from the shared portraits when present (else the real-face template), as at export."""
    from liveavatar.engines.embedder import OrtEmbedder
    from liveavatar.engines.graph_writer import EmbedderIO, frame_difference, reference_frames
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.samples import landmark_samples

    torch = pytest.importorskip("torch")
    model = checkpoint.model
    samples = landmark_samples(checkpoint.config.image_size, 4)
    crops = samples.crops if samples.crops is not None else samples.images
    with torch.inference_mode():
        expected_psi = EmbedderIO(model)(torch.from_numpy(crops), torch.from_numpy(samples.images)).numpy()
    embedder = OrtEmbedder(bundled_graph(checkpoint.sha256, "embedder"), checkpoint.sha256)
    psi = embedder.psi(crops, samples.images)
    embedder.close()
    assert psi.shape == expected_psi.shape == (1, model.psi_size)
    assert np.abs(psi - expected_psi).max() <= EMBEDDER_MAX_RELATIVE * max(float(np.abs(expected_psi).max()), 1.0)

    if checkpoint.config.warp is not None:  # the whole frame graph, checked as at export
        from liveavatar.engines.samples import smooth_texture, synthetic_points
        from liveavatar.engines.warp_graph import warp_frame_difference

        motion = synthetic_points(checkpoint.config.image_size, 4)
        driven = samples.points[0] + (motion - motion[0])
        texture = samples.crops[0] if samples.crops is not None else smooth_texture(checkpoint.config.image_size)
        path = bundled_graph(checkpoint.sha256, "warp_frame")
        worst, _ = warp_frame_difference(path, model, driven, texture, expected_psi)
        assert worst <= FP32_MAX_LEVELS, f"the warp frame graph differs by {worst} levels; {REEXPORT}"
        return
    rows = np.repeat(expected_psi, len(samples.images), axis=0)
    expected = reference_frames(model.generator, samples.images, rows)
    for precision in ("fp32", "fp16"):
        engine = OrtEngine(bundled_graph(checkpoint.sha256, "generator", precision))
        frames = np.concatenate([engine.infer(samples.images[i : i + 1], rows[i : i + 1]) for i in range(len(rows))])
        engine.close()
        worst, mean = frame_difference(frames, expected)
        if precision == "fp32":
            assert worst <= FP32_MAX_LEVELS, f"fp32 generator differs by {worst} levels; {REEXPORT}"
        else:
            assert mean <= FP16_MAX_MEAN_LEVELS, f"fp16 generator differs by {mean:.2f} levels on average"


def test_a_control_point_on_a_coarse_cells_centre_gives_a_finite_map():
    """The spline's kernel r² log r² at r = 0: the exporter folded the `+ 1e-12` that kept log 0 away, and
    the shipped frame graph put NaN in every coarse cell whose Newton iterate met a control point (on a real
    clip, a square of the Mona Lisa's landscape over her eye). Here all 70 points sit on cell centres, at rest
    (where the map must be exactly 0) and moved a little."""
    from liveavatar.engines.registry import create_engine
    from liveavatar.models.tps_system import tps_inverse
    from liveavatar.types import WarpAvatar

    bundled = open_checkpoint(bundled_checkpoint())
    if bundled.config.warp is None:
        pytest.skip("the bundled model has no warp frame graph")
    size, cells, spline = bundled.config.image_size, bundled.config.warp.coarse, bundled.config.warp
    rng = np.random.default_rng(0)
    index = rng.choice(np.arange(4 * cells + 4, (cells - 4) * cells), 70, replace=False)
    step = size / cells  # crop pixels a cell; its centre at step·(i + 0.5) − 0.5
    source = (np.stack([index % cells, index // cells], 1) * step + step / 2 - 0.5).astype(np.float32)
    inverse = tps_inverse(source, size, spline.anchors, spline.regularization).astype(np.float32)
    warp = WarpAvatar(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), source, inverse)
    engine = create_engine("onnxruntime", bundled).engine
    try:
        landmarks, psi = np.zeros((1, size, size, 3), np.uint8), np.zeros((1, engine.psi_size), np.float32)
        rest = engine.infer_layers(landmarks, psi, warp, source[None])
        assert np.isfinite(rest.flow).all() and np.abs(rest.flow).max() < 1e-3, REEXPORT
        moved = engine.infer_layers(landmarks, psi, warp, (source + rng.normal(0, 0.5, source.shape))[None])
        assert np.isfinite(moved.flow).all(), REEXPORT
    finally:
        engine.close()


def test_the_shipped_graph_paints_marble_in_its_own_tint_and_colour_faces_in_gs_colours(checkpoint, portraits):
    """G's paint (the graph's `paint` RGB) on the Apollo bust, a warm-white statue in front of a white
    backdrop, and on the marble head: G's light in the face's own tint, one colour offset from its luma over
    the whole crop. The graph before read the whole crop and left the bust G's colours (the offset varied by
    24 levels of R: a pink smear beside its lips). Courbet, the least colourful face among the shared
    portraits, keeps G's varied colours."""
    from liveavatar.avatar import warp_avatar_of
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.engines.registry import create_engine
    from liveavatar.render.rasterize import rasterize_landmarks

    if checkpoint.config.warp is None:
        pytest.skip("the bundled model has no warp frame graph")
    engine = create_engine("onnxruntime", checkpoint).engine
    tint = {}
    try:
        for name in ("statue_apollo_bust.png", "statue_marble_head.jpg", "painting_courbet_desperate_man.jpg"):
            avatar = build_avatar([portraits / name], checkpoint)
            warp = warp_avatar_of(avatar, checkpoint)
            driven = warp.source.copy()
            driven[[56, 57, 58, 59, 65, 66, 67], 1] += 4.0  # the lower lip drops: G paints the inside
            marks = rasterize_landmarks(driven[:68], checkpoint.config.image_size)[None]
            layers = engine.infer_layers(marks, avatar.psi[None].astype(np.float32), warp, driven[None])
            rgb = layers.paint[0, ..., :3].reshape(-1, 3).astype(np.float64)
            tint[name] = rgb - (rgb @ np.array([0.299, 0.587, 0.114]))[:, None]  # each pixel's colour less its luma
    finally:
        engine.close()
    for name in ("statue_apollo_bust.png", "statue_marble_head.jpg"):
        spread, mean = tint[name].std(axis=0), tint[name].mean(axis=0)
        assert spread.max() < 1.5, f"{name}: G's paint varies in colour by {spread.round(2)} levels (std)"
        assert mean[0] > mean[2] + 2, f"{name}: the paint's tint {mean.round(1)} is not the marble's warm white"
    assert tint["painting_courbet_desperate_man.jpg"].std(axis=0)[0] > 10  # G's own colours (measured 25)


def test_the_runtime_takes_the_shipped_graphs_and_exports_nothing(tmp_path):
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.graph_info import frame_graph

    checkpoint = open_checkpoint(bundled_checkpoint())
    graph = frame_graph(checkpoint.config)
    said: list[str] = []
    for precision in [p for g, p in FILES if g == graph]:
        path = cached_generator_onnx(checkpoint, None, precision, said.append, root=tmp_path)
        assert path == GRAPHS_DIR / FILES[(graph, precision)]
    assert not checkpoint.model_loaded and said == [] and not any(tmp_path.iterdir())


def test_shipped_graphs_serve_only_the_checkpoint_they_came_from():
    sha = read_manifest()["checkpoint_sha256"]
    assert bundled_graph(sha, "embedder") == GRAPHS_DIR / "embedder.onnx"
    assert bundled_graph("0" * 64, "generator") is None and bundled_graph("0" * 64, "warp_frame") is None
    assert bundled_graph("", "generator") is None
    assert bundled_graph(sha, "generator", "bf16") is None


@pytest.mark.slow
def test_a_warp_checkpoint_becomes_the_bundled_model_with_one_command(
    warp_checkpoint_path, checkpoint_path, portraits, driving, tmp_path
):
    """tools/export_bundled_graphs.py --checkpoint into a scratch assets folder: the old model goes, the warp
    model and its checked graphs come, and the runtime (torch blocked) builds an avatar and runs it from them."""
    import importlib.util
    import json
    import shutil
    import subprocess
    import sys

    from test_torchless import NO_TORCH, TIMEOUT_S, _env, frame_count

    from liveavatar.engines.bundled import graphs_dir_for

    assets = tmp_path / "assets"
    (assets / "lite-onnx").mkdir(parents=True)  # the model bundled before: it must go, with its graphs
    shutil.copy(checkpoint_path, assets / "lite.safetensors")
    (assets / "lite-onnx" / "manifest.json").write_text("{}")
    (assets / "lite_discriminator.safetensors").write_bytes(b"D")
    spec = importlib.util.spec_from_file_location("export_bundled_graphs", REPO / "tools/export_bundled_graphs.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--checkpoint", str(warp_checkpoint_path), "--assets", str(assets)]) == 0

    graphs = graphs_dir_for(assets / "warp-tiny.safetensors")
    assert sorted(p.name for p in assets.iterdir()) == ["warp-tiny-onnx", "warp-tiny.safetensors"]
    assert sorted(p.name for p in graphs.iterdir()) == ["embedder.onnx", "manifest.json", "warp_frame.onnx"]
    manifest = json.loads((graphs / "manifest.json").read_text())
    assert manifest["preset"] == "warp-tiny" and manifest["checkpoint"] == "warp-tiny.safetensors"
    assert manifest["checkpoint_sha256"] == file_sha256(assets / "warp-tiny.safetensors")
    assert {(f["graph"], f["precision"]) for f in manifest["files"].values()} == {
        ("warp_frame", "fp32"),
        ("embedder", "fp32"),
    }
    assert manifest["parity"]["checks"][0].startswith("warp frame fp32, ONNX Runtime vs PyTorch: max abs diff")

    use_assets = f"import liveavatar.models.checkpoint as c, pathlib; c.BUNDLED_DIR = pathlib.Path({str(assets)!r})\n"
    script = NO_TORCH + use_assets + "from liveavatar.cli import main\ncode = main(sys.argv[1:])\n"
    script += "assert 'torch' not in sys.modules\nsys.exit(code)\n"
    env = _env(tmp_path)

    def liveavatar(*args: str) -> subprocess.CompletedProcess:
        run = [sys.executable, "-c", script, *args]
        return subprocess.run(run, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT_S)

    built = liveavatar("avatar", str(portraits / "painting_mona_lisa.jpg"), "-o", "mona.avatar")
    assert built.returncode == 0, built.stderr[-2000:]
    assert "preset warp-tiny" in built.stdout
    from liveavatar.avatar import load_avatar
    from liveavatar.landmarks.irises import spline_source
    from liveavatar.models.tps_system import tps_inverse

    built_avatar = load_avatar(tmp_path / "mona.avatar")
    warp = open_checkpoint(assets / "warp-tiny.safetensors").config.warp
    control = spline_source(built_avatar.landmarks, built_avatar.irises)
    expected = tps_inverse(control, 64, warp.anchors, warp.regularization)
    assert built_avatar.warp_inverse is not None and np.allclose(built_avatar.warp_inverse, expected)
    clip = str(driving / "lp_d0_man_greenscreen.mp4")
    ran = liveavatar("run", "--avatar", "mona.avatar", "--source", clip, "--sink", "record:out.mp4", "--duration", "2")
    assert ran.returncode == 0, ran.stderr[-2000:]
    assert "engine onnxruntime-cpu" in ran.stderr and frame_count(tmp_path / "out.mp4") > 0
    assert not (tmp_path / "cache").exists()  # the shipped graphs ran: nothing was exported
    timed = liveavatar("bench", "--frames", "3", "--engines", "onnxruntime,tensorrt", "--json")
    assert timed.returncode == 0, timed.stderr[-2000:]
    rows = {row["engine"]: row for row in json.loads(timed.stdout)["engines"]}
    assert rows["onnxruntime"]["status"] == "ok" and rows["onnxruntime"]["frames"] == 3
    # TensorRT runs the warp model where it is installed; without torch (and here without TensorRT) it cannot.
    assert rows["tensorrt"]["status"] == "skipped"
    assert rows["tensorrt"]["reason"].startswith(("tensorrt: not installed", "tensorrt: its buffers live in PyTorch"))
