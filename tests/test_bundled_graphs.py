"""The ONNX graphs shipped in liveavatar/assets/lite-onnx: they belong to the shipped checkpoint, they match
PyTorch, and the runtime uses them instead of exporting anything.

When this fails after a change to the checkpoint, the networks or the export code, re-export them with
`python tools/export_bundled_graphs.py` (needs the train extra) and commit the result.
"""

from __future__ import annotations

import numpy as np
import pytest

from liveavatar.engines.bundled import FILES, GRAPHS_DIR, bundled_graph, read_manifest
from liveavatar.engines.export import EMBEDDER_MAX_RELATIVE, FP16_MAX_MEAN_LEVELS, FP32_MAX_LEVELS
from liveavatar.models.checkpoint import bundled_checkpoint, file_sha256, load_checkpoint, open_checkpoint

REEXPORT = "re-export them with `python tools/export_bundled_graphs.py`"


@pytest.fixture(scope="module")
def checkpoint():
    path = bundled_checkpoint()
    assert path is not None, "the package ships no lite.safetensors"
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
        assert (info.preset, info.precision, info.checkpoint_sha256) == ("lite", precision, checkpoint.sha256)
        module = checkpoint.model.generator if graph == "generator" else checkpoint.model.embedder
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


def test_the_runtime_takes_the_shipped_graphs_and_exports_nothing(tmp_path):
    from liveavatar.engines.cache import cached_generator_onnx

    checkpoint = open_checkpoint(bundled_checkpoint())
    said: list[str] = []
    for precision in ("fp32", "fp16"):
        path = cached_generator_onnx(checkpoint, None, precision, said.append, root=tmp_path)
        assert path == GRAPHS_DIR / FILES[("generator", precision)]
    assert not checkpoint.model_loaded and said == [] and not any(tmp_path.iterdir())


def test_shipped_graphs_serve_only_the_checkpoint_they_came_from():
    sha = read_manifest()["checkpoint_sha256"]
    assert bundled_graph(sha, "embedder") == GRAPHS_DIR / "embedder.onnx"
    assert bundled_graph("0" * 64, "generator") is None
    assert bundled_graph("", "generator") is None
    assert bundled_graph(sha, "generator", "bf16") is None
