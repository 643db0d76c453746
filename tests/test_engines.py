"""Every engine that can run here against the PyTorch reference, on the catalog's models and real landmark images.

Engines needing a GPU or TensorRT cannot run on this machine: they are skipped with the registry's reason
(their code is exercised on GPU machines by tools/gpu_bench.sh).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from liveavatar.engines.base import EngineError, EngineInputError, EngineUnavailable, GeneratorEngine
from liveavatar.engines.registry import AUTO_ORDER, ENGINES, create_engine, engine_availability
from liveavatar.errors import AvatarError, LiveAvatarError

pytest.register_assert_rewrite("engine_catalog")
from engine_catalog import assert_close, run_frames  # noqa: E402

pytest_plugins = ["engine_catalog"]  # the catalog fixtures

CATALOG_NAMES = ("tiny", "tiny-shuffle")
PRECISION = {
    "tensorrt": "fp16",
    "onnxruntime-cuda": "fp16",
    "torch-cuda": "fp16",
    "onnxruntime": "fp32",
    "torch": "fp32",
}


def _unavailable_reason(engine: str) -> str | None:
    return dict(engine_availability())[engine]


def test_the_catalog_uses_real_landmark_images_when_the_shared_data_is_here(catalog, shared_data):
    assert all(case.real for case in catalog.values())
    images = catalog["tiny"].images
    assert images.shape == (4, 64, 64, 3)
    # Drawn faces: coloured lines on black, different from image to image.
    assert 0.02 < (images.max(axis=3) > 0).mean() < 0.5
    assert len({img.tobytes() for img in images}) == len(images)


@pytest.mark.slow
@pytest.mark.parametrize("model", CATALOG_NAMES)
@pytest.mark.parametrize("engine_name", AUTO_ORDER)
def test_engine_matches_pytorch_reference(engine_name, model, catalog, engine_cache):
    reason = _unavailable_reason(engine_name)
    if reason is not None:
        pytest.skip(reason)
    case = catalog[model]
    engine = create_engine(engine_name, case.checkpoint, say=lambda m: None).engine
    try:
        assert isinstance(engine, GeneratorEngine)
        assert (engine.image_size, engine.psi_size) == (64, case.checkpoint.model.psi_size)
        frames = run_frames(engine, case.images, case.psi)
        assert engine.last_ms > 0
    finally:
        engine.close()
    assert_close(frames, case.expected, PRECISION[engine_name], f"{engine_name} on {model}")
    # Not a constant image: the frames follow the landmark images.
    assert len({f.tobytes() for f in frames}) == len(frames)


@pytest.mark.parametrize(
    "options",
    [dict(channels_last=True), dict(precision="bf16", channels_last=True)],
    ids=["channels-last", "bf16"],
)
@pytest.mark.parametrize("model", CATALOG_NAMES)
def test_torch_cpu_variants_match_the_reference(options, model, catalog):
    from liveavatar.engines.torch_engine import TorchEngine, TorchOptions

    case = catalog[model]
    opts = TorchOptions(**options)
    engine = TorchEngine(case.checkpoint.model.generator, "cpu", opts)
    assert engine.name == f"torch-cpu{opts.suffix()}"
    assert_close(run_frames(engine, case.images, case.psi), case.expected, opts.precision, engine.name)


def test_torch_cuda_variants_need_a_gpu(catalog):
    from liveavatar.engines.torch_engine import CUDA_DEFAULT, TorchEngine

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: the parity test above covers torch-cuda")
    with pytest.raises(EngineUnavailable, match="no CUDA GPU"):
        TorchEngine(catalog["tiny"].checkpoint.model.generator, "cuda", CUDA_DEFAULT)


def test_batches_give_the_same_frames_as_single_calls(catalog, engine_cache):
    case = catalog["tiny-shuffle"]
    for name in ("onnxruntime", "torch"):
        engine = create_engine(name, case.checkpoint, say=lambda m: None).engine
        batched = engine.infer(case.images, case.psi)
        single = run_frames(engine, case.images, case.psi)
        assert np.abs(batched.astype(int) - single.astype(int)).max() <= 1, name


def test_ort_io_binding_gives_the_same_frames(catalog, engine_cache):
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    case = catalog["tiny"]
    path = cached_generator_onnx(case.checkpoint, say=lambda m: None)
    plain, bound = OrtEngine(path), OrtEngine(path, io_binding=True)
    first = bound.infer(case.images[:2], case.psi[:2])
    bound.infer(case.images[2:], case.psi[2:])  # reuses the bound buffer: `first` must not change
    np.testing.assert_array_equal(first, plain.infer(case.images[:2], case.psi[:2]))


def test_auto_picks_the_fastest_engine_here_and_says_why_the_others_were_skipped(catalog, engine_cache):
    checkpoint = catalog["tiny"].checkpoint
    choice = create_engine("auto", checkpoint, say=lambda m: None)
    rows = engine_availability(checkpoint.config)  # the listing for this model (an engine may not fit a preset)
    unavailable = [name for name, reason in rows if reason is not None]
    expected = next(name for name, reason in rows if reason is None)
    assert choice.engine.name.startswith(expected)
    assert len(choice.skipped) == AUTO_ORDER.index(expected)
    for line, name in zip(choice.skipped, unavailable, strict=False):
        assert line.startswith(f"{name}:") and len(line) > len(name) + 10, line
    # One table: auto skips an engine for exactly the reason doctor and the app list for it.
    listed = dict(rows)
    assert [name for name, _ in engine_availability()] == list(AUTO_ORDER) == [e.name for e in ENGINES]
    for line in choice.skipped:
        reason = listed[line.split(":")[0]]
        assert reason is None or line == reason, line  # None: it could run but failed (e.g. a TensorRT build)
    if expected == "onnxruntime":
        assert any("pip install" in line for line in choice.skipped)


@pytest.mark.slow
def test_auto_exports_once_and_says_so(catalog_paths, tmp_path, monkeypatch):
    from liveavatar.models.checkpoint import load_checkpoint

    monkeypatch.setenv("LIVEAVATAR_CACHE", str(tmp_path))
    checkpoint = load_checkpoint(catalog_paths["tiny"], discriminator=False)
    said: list[str] = []
    create_engine("onnxruntime", checkpoint, say=said.append).engine.close()
    graphs = list(tmp_path.glob("onnx/tiny-*/generator-fp32.onnx"))
    assert len(graphs) == 1 and checkpoint.sha256[:16] in graphs[0].parent.name
    assert any("exporting" in line for line in said)
    mtime = graphs[0].stat().st_mtime_ns
    said.clear()
    create_engine("onnxruntime", checkpoint, say=said.append).engine.close()
    assert said == [] and graphs[0].stat().st_mtime_ns == mtime

    graphs[0].write_bytes(b"\x00garbage, not a protobuf")
    create_engine("onnxruntime", checkpoint, say=said.append).engine.close()
    assert any("unusable" in line for line in said) and any("exporting" in line for line in said)


@pytest.mark.slow
def test_finetuned_avatar_weights_get_their_own_graph(catalog, engine_cache):
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.graph_writer import reference_frames
    from liveavatar.engines.ort_engine import OrtEngine

    case = catalog["tiny"]
    state = {k: v.clone() for k, v in case.checkpoint.model.generator.state_dict().items()}
    state["head.weight"] = state["head.weight"] * 1.5 + 0.01
    path = cached_generator_onnx(case.checkpoint, state, say=lambda m: None)
    assert "-ft-" in path.parent.name
    assert path != cached_generator_onnx(case.checkpoint, say=lambda m: None)
    tuned = type(case.checkpoint.model.generator)(case.checkpoint.config, spectral=False)
    tuned.load_state_dict(state)
    expected = reference_frames(tuned, case.images, case.psi)
    assert not np.array_equal(expected, case.expected)
    assert_close(run_frames(OrtEngine(path), case.images, case.psi), expected, "fp32", "fine-tuned graph")
    engine = create_engine("torch", case.checkpoint, state).engine
    assert_close(run_frames(engine, case.images, case.psi), expected, "fp32", "fine-tuned torch")


def test_avatar_weights_for_another_preset_are_refused(catalog, engine_cache):
    other = catalog["tiny-shuffle"].checkpoint.model.generator.state_dict()
    with pytest.raises(EngineError, match="do not fit preset 'tiny'"):
        create_engine("auto", catalog["tiny"].checkpoint, other, say=lambda m: None)


# ---- bad input: clear errors before native code -------------------------------------------------


@pytest.mark.parametrize("engine_name", ("onnxruntime", "torch"))
def test_psi_of_the_wrong_length_is_a_clear_error(engine_name, catalog, engine_cache):
    case = catalog["tiny"]
    engine = create_engine(engine_name, case.checkpoint, say=lambda m: None).engine
    wrong = catalog["tiny-shuffle"].psi  # another preset's ψ
    with pytest.raises(AvatarError, match=r"ψ must be N×320 .* another preset"):
        engine.infer(case.images, wrong)
    with pytest.raises(AvatarError, match="one row per landmark image"):
        engine.infer(case.images, case.psi[:2])
    with pytest.raises(EngineInputError, match="uint8 RGB"):
        engine.infer(case.images.astype(np.float32), case.psi)
    with pytest.raises(EngineInputError, match=r"N×64×64×3"):
        engine.infer(np.zeros((4, 32, 32, 3), np.uint8), case.psi)
    with pytest.raises(EngineInputError, match="float32"):
        engine.infer(case.images, case.psi.astype(np.int64))
    with pytest.raises(EngineInputError, match="empty batch"):
        engine.infer(case.images[:0], case.psi[:0])
    # A float64 ψ is converted, not refused: numpy's default dtype is what callers often have.
    assert engine.infer(case.images[:1], case.psi[:1].astype(np.float64)).shape == (1, 64, 64, 3)


def test_missing_and_corrupt_onnx_files_are_clear_errors(tmp_path):
    from liveavatar.engines.ort_engine import OrtEngine

    with pytest.raises(EngineError, match="does not exist"):
        OrtEngine(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(b"\x08\x07\x12\x04junk" * 50)
    with pytest.raises(EngineError, match="not a readable ONNX file|not a LiveAvatar generator"):
        OrtEngine(corrupt)


def test_truncated_graph_is_a_clear_error(catalog, engine_cache, tmp_path):
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    data = cached_generator_onnx(catalog["tiny"].checkpoint, say=lambda m: None).read_bytes()
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(EngineError):
        OrtEngine(cut)


def test_foreign_onnx_without_our_metadata_is_refused(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from liveavatar.engines.ort_engine import OrtEngine

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "foreign",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    path = tmp_path / "foreign.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(EngineError, match="not a LiveAvatar generator graph"):
        OrtEngine(path)


def test_graph_from_another_preset_is_refused(catalog, engine_cache):
    from liveavatar.engines.cache import cached_generator_onnx
    from liveavatar.engines.ort_engine import OrtEngine

    tiny = catalog["tiny"].checkpoint
    shuffle = catalog["tiny-shuffle"].checkpoint
    path = cached_generator_onnx(shuffle, say=lambda m: None)
    with pytest.raises(EngineError, match=r"exported from preset 'tiny-shuffle' .* preset 'tiny'"):
        OrtEngine(path, expected=(tiny.config, tiny.model.psi_size))


def test_unknown_and_unavailable_engines_are_named(catalog):
    with pytest.raises(EngineUnavailable, match="unknown engine 'fastest'.*auto"):
        create_engine("fastest", catalog["tiny"].checkpoint)
    for name, reason in engine_availability():
        if reason is not None:
            with pytest.raises(EngineUnavailable) as info:
                create_engine(name, catalog["tiny"].checkpoint, say=lambda m: None)
            assert str(info.value).startswith(f"{name}")
            assert isinstance(info.value, LiveAvatarError)


def test_graph_cache_key_changes_with_the_code_that_exports_it(monkeypatch):
    """A graph exported by other model/export code (or another torch) is never reused for the same weights."""
    from liveavatar.engines import cache
    from liveavatar.environment.optional import torch_version

    before = cache.code_fingerprint()
    assert before == cache.code_fingerprint()
    assert torch_version() == __import__("torch").__version__  # read from metadata, without importing torch
    monkeypatch.setattr(cache, "torch_version", lambda: torch_version() + "+other")
    assert cache.code_fingerprint() != before
    monkeypatch.undo()
    monkeypatch.setattr(cache, "_GRAPH_SOURCES", (("liveavatar.models", ("blocks.py", "embedder.py")),))
    assert cache.code_fingerprint() != before
