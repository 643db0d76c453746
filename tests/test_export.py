"""Checkpoint → ONNX: the files, their metadata, the parity checks, and the CLI / tools entry points."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from liveavatar.cli import main as cli_main
from liveavatar.engines.base import EngineError
from liveavatar.models.adain_layout import LAYOUT_VERSION

pytest.register_assert_rewrite("engine_catalog")
from engine_catalog import assert_close, run_frames  # noqa: E402

pytest_plugins = ["engine_catalog"]  # the catalog fixtures


@pytest.fixture(scope="module")
def exported(catalog, tmp_path_factory):
    """tiny-shuffle (pixel-shuffle head, two residual blocks) exported with fp16 and embedder, as the CLI does."""
    from liveavatar.engines.export import export_checkpoint

    out = tmp_path_factory.mktemp("export")
    lines: list[str] = []
    report = export_checkpoint(catalog["tiny-shuffle"].checkpoint, out, fp16=True, say=lines.append)
    return out, report, lines


def test_export_writes_three_single_file_graphs_with_metadata(exported, catalog):
    out, report, _ = exported
    case = catalog["tiny-shuffle"]
    assert sorted(p.name for p in out.iterdir()) == ["embedder.onnx", "generator-fp16.onnx", "generator.onnx"]
    for name, graph, precision in (
        ("generator.onnx", "generator", "fp32"),
        ("generator-fp16.onnx", "generator", "fp16"),
        ("embedder.onnx", "embedder", "fp32"),
    ):
        model = onnx.load(str(out / name))
        onnx.checker.check_model(model)
        assert all(init.data_location != onnx.TensorProto.EXTERNAL for init in model.graph.initializer)
        assert max(op.version for op in model.opset_import if op.domain in ("", "ai.onnx")) >= 18
        meta = {p.key: p.value for p in model.metadata_props}
        assert meta["liveavatar.graph"] == graph
        assert meta["liveavatar.preset"] == "tiny-shuffle"
        assert meta["liveavatar.checkpoint_sha256"] == case.checkpoint.sha256
        assert meta["liveavatar.adain_layout_version"] == str(LAYOUT_VERSION)
        assert meta["liveavatar.precision"] == precision
        assert meta["liveavatar.psi_size"] == str(case.checkpoint.model.psi_size)
        assert "uint8 RGB 0..255" in meta["liveavatar.inputs"]
        assert meta["liveavatar.model_config"] == case.checkpoint.config.to_json()
        # The batch dimension is dynamic, the image layout fixed: N×64×64×3 uint8.
        first = model.graph.input[0].type.tensor_type
        assert first.elem_type == onnx.TensorProto.UINT8
        dims = first.shape.dim
        assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [64, 64, 3]


def test_export_parity_report_is_printed_and_within_limits(exported):
    _, report, lines = exported
    assert report.generator_max_levels <= 2 and report.generator_mean_levels < 0.05
    assert 0 <= report.embedder_max_abs < 1e-4
    assert 0 <= report.fp16_mean_levels <= 2.0
    assert any("max abs diff" in line and "ONNX Runtime vs PyTorch" in line for line in lines)
    assert "real faces" in report.landmarks or "synthetic" in report.landmarks


def test_exported_embedder_reproduces_the_avatar_psi(exported, catalog):
    """ψ from the embedder graph drives the generator graph to the same frames as the PyTorch path."""
    from liveavatar.engines.ort_engine import OrtEngine, session_options
    from liveavatar.engines.samples import landmark_samples

    out, _, _ = exported
    case = catalog["tiny-shuffle"]
    samples = landmark_samples(64, 2)
    crops = samples.crops if samples.crops is not None else samples.images
    session = ort.InferenceSession(str(out / "embedder.onnx"), session_options(), providers=["CPUExecutionProvider"])
    psi = session.run(["psi"], {"portraits": crops, "landmarks": samples.images})[0]
    with torch.inference_mode():
        from liveavatar.models.tensors import to_tensor

        expected = case.checkpoint.model.psi(to_tensor(crops)[None], to_tensor(samples.images)[None]).numpy()
    assert psi.shape == (1, case.checkpoint.model.psi_size)
    np.testing.assert_allclose(psi, expected, atol=1e-4 * max(1.0, float(np.abs(expected).max())))
    engine = OrtEngine(out / "generator.onnx")
    frames = engine.infer(case.images, np.repeat(psi, len(case.images), axis=0))
    assert frames.shape == (len(case.images), 64, 64, 3)


def test_fp16_graph_keeps_norm_statistics_in_fp32_and_matches_fp32(exported, catalog):
    from liveavatar.engines.ort_engine import OrtEngine

    out, _, _ = exported
    model = onnx.shape_inference.infer_shapes(onnx.load(str(out / "generator-fp16.onnx")))
    types = {v.name: v.type.tensor_type.elem_type for v in [*model.graph.value_info, *model.graph.input]}
    conv_types = {types.get(n.input[0]) for n in model.graph.node if n.op_type == "Conv"}
    norm_types = {
        types.get(n.input[0]) for n in model.graph.node if n.op_type in ("ReduceMean", "InstanceNormalization")
    }
    assert conv_types == {onnx.TensorProto.FLOAT16}
    assert norm_types == {onnx.TensorProto.FLOAT}
    case = catalog["tiny-shuffle"]
    engine = OrtEngine(out / "generator-fp16.onnx")
    assert engine.name == "onnxruntime-cpu-fp16"
    assert_close(run_frames(engine, case.images, case.psi), case.expected, "fp16", "fp16 graph")


@pytest.mark.slow
def test_failed_parity_leaves_no_files(catalog, tmp_path, monkeypatch):
    import liveavatar.engines.export as export

    monkeypatch.setattr(export, "FP32_MAX_LEVELS", -1)  # any difference, even none, fails
    with pytest.raises(EngineError, match="differs from PyTorch"):
        export.export_checkpoint(catalog["tiny"].checkpoint, tmp_path / "out", embedder=False, say=lambda m: None)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.slow
def test_cli_export_and_tools_script(catalog_paths, tmp_path, capsys):
    out = tmp_path / "graphs"
    assert cli_main(["export", "--checkpoint", str(catalog_paths["tiny"]), "--out", str(out), "--no-embedder"]) == 0
    printed = capsys.readouterr().out
    assert "max abs diff" in printed and "generator.onnx" in printed
    assert [p.name for p in out.iterdir()] == ["generator.onnx"]

    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "tools" / "export_onnx.py"
    spec = importlib.util.spec_from_file_location("export_onnx_tool", script)
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--checkpoint", str(tmp_path / "missing.safetensors"), "--out", str(tmp_path / "x")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_export_refuses_bad_arguments(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    assert cli_main(["export", "--checkpoint", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
    afile = tmp_path / "file"
    afile.write_text("x")
    assert cli_main(["export", "--checkpoint", str(bad), "--out", str(afile)]) == 2
    assert "is not a folder" in capsys.readouterr().err
