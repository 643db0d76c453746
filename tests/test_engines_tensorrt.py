"""TensorRT around the runtime: plan cache keys, rebuild on mismatch, the messages when it is missing, and
the engine on the warp presets' frame graph (profile, bindings by name, per-avatar uploads, precision, the
registry's listing).

TensorRT and a GPU cannot exist here, so they are the only stand-ins: the runtime's deserializer (a plan
loads or it does not), and FakeTensorRT, whose execution context runs the graph on ONNX Runtime from the
torch CPU buffers the engine binds. Everything else (keys, files, messages, the CLI, the engine's buffers,
shapes and uploads, the registry) is the real code.
"""

from __future__ import annotations

import importlib.util
import json

import numpy as np
import pytest

from liveavatar.cli import main as cli_main
from liveavatar.engines.base import EngineError, EngineUnavailable
from liveavatar.engines.tensorrt_engine import PlanKey, find_plan, import_tensorrt, load_or_build, read_plan, write_plan

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
KEY = PlanKey("ab" * 32, "10.9.0", "NVIDIA H100 80GB HBM3", "9.0", "fp16", 4)


class FakeRuntime:
    """Stands in for trt.Runtime: a plan deserializes unless TensorRT would refuse it (here: b"bad…")."""

    def deserialize_cuda_engine(self, plan: bytes):
        return None if plan.startswith(b"bad") else ("engine", plan)


class Builds:
    def __init__(self, plan: bytes = b"plan-v1"):
        self.plan, self.count = plan, 0

    def __call__(self) -> bytes:
        self.count += 1
        return self.plan


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here")
def test_missing_tensorrt_says_how_to_get_it(capsys):
    with pytest.raises(EngineUnavailable, match=r"tensorrt: not installed; pip install 'liveavatar\[tensorrt\]'"):
        import_tensorrt()
    assert cli_main(["build-engine"]) == 2
    assert "tensorrt: not installed" in capsys.readouterr().err


def test_plan_key_changes_with_everything_that_makes_a_plan_unusable():
    import dataclasses

    variants = [
        dataclasses.replace(KEY, onnx_sha256="cd" * 32),
        dataclasses.replace(KEY, tensorrt_version="11.0.0"),
        dataclasses.replace(KEY, gpu_name="NVIDIA H200"),
        dataclasses.replace(KEY, compute_capability="8.9"),
        dataclasses.replace(KEY, precision="fp32"),
        dataclasses.replace(KEY, max_batch=1),
    ]
    digests = {KEY.digest(), *(v.digest() for v in variants)}
    assert len(digests) == 1 + len(variants)
    assert KEY.digest() == PlanKey(**dataclasses.asdict(KEY)).digest()  # stable across runs
    assert KEY.differences(variants[2]) == ["gpu_name NVIDIA H200 (here NVIDIA H100 80GB HBM3)"]


def test_plans_are_written_with_their_key_and_read_back_only_for_that_key(tmp_path):
    path, stale = find_plan(tmp_path, KEY)
    assert stale == [] and read_plan(path, KEY) is None
    write_plan(path, b"plan-bytes", KEY)
    assert read_plan(path, KEY) == b"plan-bytes"
    assert json.loads(path.with_suffix(".json").read_text())["gpu_name"] == KEY.gpu_name
    other = PlanKey(**{**json.loads(path.with_suffix(".json").read_text()), "tensorrt_version": "11.0.0"})
    assert read_plan(path, other) is None
    path.with_suffix(".json").write_text("{not json")
    assert read_plan(path, KEY) is None
    assert not list(tmp_path.glob("*.partial"))


def test_first_use_builds_and_the_next_loads_from_the_cache(tmp_path):
    said: list[str] = []
    build = Builds()
    engine, path = load_or_build(FakeRuntime(), tmp_path, KEY, build, said.append)
    assert engine == ("engine", b"plan-v1") and build.count == 1
    assert any("building a TensorRT fp16 engine for NVIDIA H100" in line for line in said)
    said.clear()
    engine, again = load_or_build(FakeRuntime(), tmp_path, KEY, build, said.append)
    assert again == path and build.count == 1 and said == []


def test_a_plan_cached_for_another_gpu_or_tensorrt_is_never_loaded_and_is_named(tmp_path):
    import dataclasses

    old = dataclasses.replace(
        KEY, gpu_name="NVIDIA A100-SXM4-40GB", compute_capability="8.0", tensorrt_version="10.3.0"
    )
    old_path, _ = find_plan(tmp_path, old)
    write_plan(old_path, b"plan-for-a100", old)
    said: list[str] = []
    build = Builds(b"plan-for-h100")
    engine, path = load_or_build(FakeRuntime(), tmp_path, KEY, build, said.append)
    assert engine == ("engine", b"plan-for-h100") and build.count == 1 and path != old_path
    stale = [line for line in said if "not usable here" in line]
    assert len(stale) == 1
    assert "tensorrt_version 10.3.0 (here 10.9.0)" in stale[0] and "NVIDIA A100" in stale[0] and "8.0" in stale[0]
    assert old_path.exists()  # another machine sharing the cache may still use it


def test_a_plan_tensorrt_refuses_is_rebuilt_and_says_so(tmp_path):
    path, _ = find_plan(tmp_path, KEY)
    write_plan(path, b"bad: built by a TensorRT with the same version string but another build", KEY)
    said: list[str] = []
    build = Builds()
    engine, _ = load_or_build(FakeRuntime(), tmp_path, KEY, build, said.append)
    assert engine == ("engine", b"plan-v1") and build.count == 1
    assert any("could not be loaded; rebuilding" in line for line in said)
    assert read_plan(path, KEY) == b"plan-v1"


def test_a_fresh_plan_that_does_not_load_is_an_error_not_a_loop(tmp_path):
    with pytest.raises(EngineError, match="cannot load"):
        load_or_build(FakeRuntime(), tmp_path, KEY, Builds(b"bad plan"), lambda m: None)


# ---- the engine on a fake TensorRT: the warp presets' frame graph ----------------------------------------


class FakeTensorRT:
    """Stands in for the `tensorrt` module, down to the TensorRT 10 Python API calls the engine makes.

    The builder records what it was asked (network flags, the parsed file, the profile, cleared flags) in
    `builds`, and that record is the plan. The execution context runs the parsed ONNX graph on ONNX Runtime,
    reading each input from the address bound to its name, at the shape set for it, and writing `frame` to
    its address: torch CPU tensors here, where a real GPU would have CUDA memory. Like TensorRT, it refuses
    an input shape outside the profile (or, for an input the graph fixes, any other shape).
    """

    __version__ = "10.9.0"

    class Logger:
        WARNING = 2

        def __init__(self, level):
            self.level = level

    class NetworkDefinitionCreationFlag:
        STRONGLY_TYPED = 1

    class MemoryPoolType:
        WORKSPACE = 0

    class BuilderFlag:
        TF32 = 7

    def __init__(self):
        self.builds: list[dict] = []
        self.contexts: list = []
        fake = self

        class Builder:
            def __init__(self, logger):
                pass

            def create_network(self, flags):
                return {"flags": flags}

            def create_builder_config(self):
                return FakeBuilderConfig()

            def create_optimization_profile(self):
                return FakeProfile()

            def build_serialized_network(self, network, config):
                record = {
                    "onnx": network["onnx"],
                    "flags": network["flags"],
                    "profile": config.profiles[0].shapes,
                    "cleared": config.cleared,
                }
                fake.builds.append(record)
                return json.dumps(record).encode()

        class OnnxParser:
            num_errors = 0

            def __init__(self, network, logger):
                self.network = network

            def parse_from_file(self, path):
                self.network["onnx"] = path
                return True

        class Runtime:
            def __init__(self, logger):
                pass

            def deserialize_cuda_engine(self, plan):
                return FakeCudaEngine(fake, json.loads(plan))

        self.Builder, self.OnnxParser, self.Runtime = Builder, OnnxParser, Runtime


class FakeBuilderConfig:
    def __init__(self):
        self.profiles: list = []
        self.cleared: list = []

    def set_memory_pool_limit(self, pool, size):
        pass

    def create_timing_cache(self, data):
        return data

    def set_timing_cache(self, cache, ignore_mismatch):
        pass

    def clear_flag(self, flag):
        self.cleared.append(flag)

    def add_optimization_profile(self, profile):
        self.profiles.append(profile)

    def get_timing_cache(self):
        class Cache:
            def serialize(self):
                return b"timing"

        return Cache()


class FakeProfile:
    def __init__(self):
        self.shapes: dict = {}

    def set_shape(self, name, low, opt, high):
        self.shapes[name] = [list(low), list(opt), list(high)]


class FakeCudaEngine:
    def __init__(self, fake: FakeTensorRT, record: dict):
        self.fake, self.record = fake, record

    def create_execution_context(self):
        context = FakeContext(self.record)
        self.fake.contexts.append(context)
        return context


class FakeContext:
    def __init__(self, record: dict):
        import onnxruntime as ort

        self.session = ort.InferenceSession(record["onnx"], providers=["CPUExecutionProvider"])
        self.profile = record["profile"]
        self.graph_shapes = {i.name: i.shape for i in self.session.get_inputs()}
        self.shapes: dict = {}
        self.addresses: dict = {}
        self.runs: list[dict] = []  # the addresses bound at each run

    def set_input_shape(self, name, shape):
        if name in self.profile:
            low, _, high = self.profile[name]
            ok = len(shape) == len(low) and all(lo <= d <= hi for lo, d, hi in zip(low, shape, high, strict=True))
        else:
            ok = list(shape) == self.graph_shapes[name]
        if ok:
            self.shapes[name] = tuple(shape)
        return ok

    def set_tensor_address(self, name, address):
        self.addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle):
        import ctypes

        def memory(address: int, shape: tuple, dtype) -> np.ndarray:
            size = int(np.prod(shape)) * np.dtype(dtype).itemsize
            return np.ctypeslib.as_array((ctypes.c_uint8 * size).from_address(address)).view(dtype).reshape(shape)

        feeds = {}
        for meta in self.session.get_inputs():
            dtype = np.uint8 if meta.type == "tensor(uint8)" else np.float32
            shape = self.shapes.get(meta.name) or tuple(self.graph_shapes[meta.name])  # static: the plan's own
            feeds[meta.name] = memory(self.addresses[meta.name], shape, dtype).copy()
        names = [o.name for o in self.session.get_outputs()]
        for name, value in zip(names, self.session.run(names, feeds), strict=True):
            memory(self.addresses[name], value.shape, value.dtype)[...] = value
        self.runs.append(dict(self.addresses))
        return True


@pytest.fixture
def fake_tensorrt(monkeypatch, tmp_path):
    """TensorRT and a GPU: the only parts faked. The plan key's GPU name and capability are the GPU's to say."""
    from liveavatar.engines import tensorrt_engine

    fake = FakeTensorRT()
    monkeypatch.setattr(tensorrt_engine, "import_tensorrt", lambda: fake)
    monkeypatch.setattr(
        tensorrt_engine,
        "current_key",
        lambda sha, precision, max_batch, version, device=0: PlanKey(
            sha, version, "Fake GPU", "9.0", precision, max_batch
        ),
    )
    monkeypatch.setenv("LIVEAVATAR_CACHE", str(tmp_path / "cache"))
    return fake


@pytest.fixture(scope="module")
def bundled_warp():
    """The shipped checkpoint's config and its frame graph (the bundled model is a warp preset)."""
    from liveavatar.engines.bundled import bundled_graph
    from liveavatar.models.checkpoint import bundled_checkpoint, open_checkpoint

    checkpoint = open_checkpoint(bundled_checkpoint())
    assert checkpoint.config.warp is not None, "the bundled model is no longer a warp preset"
    return checkpoint, bundled_graph(checkpoint.sha256, "warp_frame", "fp32")


def warp_avatar(config, shift: float, seed: int):
    """A WarpAvatar of the real-face template moved by `shift` crop pixels, with a random texture."""
    from liveavatar.engines.samples import TEMPLATE_68
    from liveavatar.landmarks.irises import with_eye_centres
    from liveavatar.models.tps_system import tps_inverse
    from liveavatar.types import WarpAvatar

    size = config.image_size
    source = with_eye_centres(TEMPLATE_68 * size + shift)  # 70×2: the landmarks, the irises at the eyes' centres
    texture = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    return WarpAvatar(texture, source, tps_inverse(source, size, config.warp.anchors, config.warp.regularization))


def frame_inputs(config, avatar, batch: int, seed: int):
    """Landmark images (N×S×S×3 uint8 RGB) drawn from driven points near the avatar's, ψ, and the points."""
    from liveavatar.render.rasterize import rasterize_landmarks

    rng = np.random.default_rng(seed)
    driven = (avatar.source[None] + rng.normal(0, 1.5, (batch, 70, 2))).astype(np.float32)
    marks = np.stack([rasterize_landmarks(p[:68], config.image_size) for p in driven])
    psi = (0.1 * rng.standard_normal((batch, config_psi_size(config)))).astype(np.float32)
    return marks, psi, driven


def config_psi_size(config) -> int:
    from liveavatar.models.adain_layout import layout_for

    return layout_for(config.generator).size


def test_profile_shapes_come_from_the_graph_and_pin_the_per_avatar_inputs_to_one():
    from liveavatar.engines.tensorrt_engine import GraphTensor, profile_shapes

    inputs = [
        GraphTensor("landmarks", (None, 64, 64, 3), "uint8"),
        GraphTensor("psi", (None, 320), "float32"),
        GraphTensor("texture", (None, 64, 64, 3), "uint8"),  # an export that left the avatar's batch dynamic
        GraphTensor("inverse", (1, 79, 79), "float32"),  # fixed by the graph: no profile needed
    ]
    assert profile_shapes(inputs, 3) == {
        "landmarks": ((1, 64, 64, 3), (1, 64, 64, 3), (3, 64, 64, 3)),
        "psi": ((1, 320), (1, 320), (3, 320)),
        "texture": ((1, 64, 64, 3), (1, 64, 64, 3), (1, 64, 64, 3)),
    }
    with pytest.raises(EngineError, match="only the batch dimension may be dynamic"):
        profile_shapes([GraphTensor("psi", (None, None), "float32")], 3)


def test_the_warp_graph_is_built_in_fp32_with_every_input_shaped_by_the_graph(fake_tensorrt, bundled_warp):
    from liveavatar.engines.tensorrt_engine import TensorRTEngine

    checkpoint, path = bundled_warp
    s = checkpoint.config.image_size
    engine = TensorRTEngine(path, "fp32", say=lambda m: None, device="cpu")
    assert engine.needs_warp and engine.name == "tensorrt-fp32" and engine.image_size == s
    (build,) = fake_tensorrt.builds
    assert build["onnx"] == str(path) and build["flags"] == 0  # fp32: a plain network, no fp16 anywhere
    assert build["cleared"] == [FakeTensorRT.BuilderFlag.TF32]
    assert build["profile"] == {  # texture, source and inverse are fixed at batch 1 by the graph itself
        "landmarks": [[1, s, s, 3], [1, s, s, 3], [4, s, s, 3]],
        "psi": [[1, engine.psi_size], [1, engine.psi_size], [4, engine.psi_size]],
        "driven": [[1, 70, 2], [1, 70, 2], [4, 70, 2]],
    }
    engine.close()


def test_a_warp_graph_is_fp32_only_and_says_so(fake_tensorrt, bundled_warp):
    from liveavatar.engines.tensorrt_engine import TensorRTEngine

    with pytest.raises(EngineError, match="frame graph, which is fp32 only: TensorRT builds it in fp32, not fp16"):
        TensorRTEngine(bundled_warp[1], "fp16", say=lambda m: None, device="cpu")
    assert fake_tensorrt.builds == []


def test_warp_frames_are_the_graphs_and_the_avatar_is_uploaded_only_when_it_changes(fake_tensorrt, bundled_warp):
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.tensorrt_engine import TensorRTEngine

    checkpoint, path = bundled_warp
    config = checkpoint.config
    engine = TensorRTEngine(path, "fp32", say=lambda m: None, device="cpu")
    uploads: list = []
    upload = engine._upload_avatar
    engine._upload_avatar = lambda warp: (uploads.append(warp), upload(warp))
    reference = OrtEngine(path)
    first, second = warp_avatar(config, 0.0, seed=1), warp_avatar(config, 3.0, seed=2)
    calls = [(first, 1, 10), (first, 1, 11), (second, 1, 12), (second, 2, 13), (first, 1, 14)]
    for avatar, batch, seed in calls:
        marks, psi, driven = frame_inputs(config, avatar, batch, seed)
        layers = engine.infer_layers(marks, psi, avatar, driven)
        assert layers.frames.shape == (batch, config.image_size, config.image_size, 3)
        expected = reference.infer_layers(marks, psi, avatar, driven)
        for name in ("frames", "flow", "paint"):
            got, want = getattr(layers, name), getattr(expected, name)
            assert got.dtype == want.dtype and np.array_equal(got, want), name
        assert np.array_equal(engine.infer(marks, psi, avatar, driven), expected.frames)
    assert [a is first for a in uploads] == [True, False, True]  # on each change of avatar, never per frame

    context = fake_tensorrt.contexts[0]
    bound = {"landmarks", "psi", "texture", "source", "inverse", "driven", "frame", "flow", "paint"}
    assert all(set(run) == bound for run in context.runs)
    assert set(context.shapes) == {"landmarks", "psi", "driven"}  # the graph fixes the avatar's: nothing to set
    one, two = context.runs[0], context.runs[6]  # calls 1 and 4 (two runs each): batch 1 and 2, one avatar
    assert [one[n] == two[n] for n in ("texture", "source", "inverse")] == [True] * 3
    assert [one[n] == two[n] for n in ("landmarks", "psi", "driven", "frame")] == [False] * 4
    engine.close()
    reference.close()


def test_an_avatar_of_another_shape_is_refused_before_tensorrt(fake_tensorrt, bundled_warp):
    from liveavatar.engines.base import EngineInputError
    from liveavatar.engines.tensorrt_engine import TensorRTEngine
    from liveavatar.types import WarpAvatar

    checkpoint, path = bundled_warp
    engine = TensorRTEngine(path, "fp32", say=lambda m: None, device="cpu")
    good = warp_avatar(checkpoint.config, 0.0, seed=1)
    other = WarpAvatar(good.texture, good.source, np.eye(70, dtype=np.float32))  # another preset's anchors
    marks, psi, driven = frame_inputs(checkpoint.config, good, 1, 3)
    n = good.inverse.shape[0]
    with pytest.raises(EngineInputError, match=rf"inverse must be \(1, {n}, {n}\) for this graph, got \(1, 70, 70\)"):
        engine.infer(marks, psi, other, driven)
    with pytest.raises(EngineError, match="batch 5 is larger than the engine's 4"):
        engine.infer(*(np.repeat(a, 5, axis=0) for a in (marks, psi)), good, np.repeat(driven, 5, axis=0))
    assert fake_tensorrt.contexts[0].runs == []
    engine.close()


def test_the_plan_follows_the_graph(fake_tensorrt, bundled_warp, tmp_path):
    """Another graph (here: the same one with a byte changed in its metadata) is another plan, built anew."""
    import onnx

    from liveavatar.engines.tensorrt_engine import TensorRTEngine

    path = bundled_warp[1]
    first = TensorRTEngine(path, "fp32", say=lambda m: None, device="cpu")
    again = TensorRTEngine(path, "fp32", say=lambda m: None, device="cpu")
    assert again.plan_path == first.plan_path and len(fake_tensorrt.builds) == 1
    model = onnx.load(str(path))
    onnx.helper.set_model_props(model, {**{p.key: p.value for p in model.metadata_props}, "note": "re-exported"})
    changed = tmp_path / "warp_frame.onnx"
    onnx.save(model, str(changed))
    other = TensorRTEngine(changed, "fp32", say=lambda m: None, device="cpu")
    assert other.plan_path != first.plan_path and len(fake_tensorrt.builds) == 2
    assert fake_tensorrt.builds[1]["onnx"] == str(changed)


# ---- the registry, doctor and the app's menu list TensorRT for the warp model ---------------------------


def test_tensorrt_runs_the_bundled_warp_model_where_it_is_installed(fake_tensorrt, bundled_warp, monkeypatch):
    import functools

    from liveavatar.engines import tensorrt_engine
    from liveavatar.engines.registry import create_engine, engine_availability
    from liveavatar.environment.health import check_engines

    checkpoint, path = bundled_warp
    assert dict(engine_availability(checkpoint.config))["tensorrt"] is None
    # doctor, bench and the app's menu read this
    assert check_engines(engine_availability()).auto_picks == "tensorrt"
    cpu_engine = functools.partial(tensorrt_engine.TensorRTEngine, device="cpu")  # no GPU here
    monkeypatch.setattr(tensorrt_engine, "TensorRTEngine", cpu_engine)
    choice = create_engine("auto", checkpoint, say=lambda m: None)
    assert choice.engine.name == "tensorrt-fp32" and choice.engine.needs_warp and choice.skipped == []
    assert fake_tensorrt.builds[0]["onnx"] == str(path)  # the shipped graph, as ONNX Runtime gets it
    choice.engine.close()


def test_without_a_gpu_tensorrt_is_listed_for_the_warp_model_with_the_papers_reason(monkeypatch, bundled_warp):
    """The real import_tensorrt: a `tensorrt` module is importable, but PyTorch sees no CUDA GPU here."""
    import sys

    from liveavatar.config import PRESETS
    from liveavatar.engines.registry import create_engine, engine_availability

    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA GPU")
    monkeypatch.setitem(sys.modules, "tensorrt", FakeTensorRT())
    checkpoint = bundled_warp[0]
    warp_row = dict(engine_availability(checkpoint.config))["tensorrt"]
    assert warp_row == "tensorrt: no CUDA GPU visible to PyTorch (TensorRT buffers live in torch CUDA memory)"
    assert dict(engine_availability(PRESETS["lite"]))["tensorrt"] == warp_row
    choice = create_engine("auto", checkpoint, say=lambda m: None)
    assert choice.skipped[0] == warp_row and choice.engine.needs_warp
    choice.engine.close()


def test_build_engine_builds_the_warp_model_in_fp32_by_default(fake_tensorrt, bundled_warp, monkeypatch, capsys):
    import functools

    from liveavatar.engines import tensorrt_engine

    cpu_engine = functools.partial(tensorrt_engine.TensorRTEngine, device="cpu")  # no GPU here
    monkeypatch.setattr(tensorrt_engine, "TensorRTEngine", cpu_engine)
    assert cli_main(["build-engine"]) == 0
    assert "tensorrt-fp32: ready at" in capsys.readouterr().out
    assert fake_tensorrt.builds[0]["onnx"] == str(bundled_warp[1])
    assert cli_main(["build-engine", "--precision", "fp16"]) != 0  # the warp graph has no fp16 export
    assert "fp32 only" in capsys.readouterr().err


def _real_tensorrt_and_gpu() -> bool:
    if not HAS_TENSORRT:
        return False
    try:
        import_tensorrt()
    except EngineUnavailable:
        return False
    return True


@pytest.mark.skipif(not _real_tensorrt_and_gpu(), reason="needs TensorRT and a CUDA GPU (none here)")
def test_real_tensorrt_renders_the_warp_frames_onnx_runtime_renders(bundled_warp, tmp_path):
    """On a machine with TensorRT: the shipped frame graph's plan gives ONNX Runtime CPU's frames (fp32 both;
    a few levels for kernel differences), through the CUDA-graph replay and across an avatar switch."""
    from liveavatar.engines.ort_engine import OrtEngine
    from liveavatar.engines.tensorrt_engine import TensorRTEngine

    checkpoint, path = bundled_warp
    config = checkpoint.config
    engine = TensorRTEngine(path, "fp32", cache_dir=tmp_path, say=lambda m: None)
    reference = OrtEngine(path)
    first, second = warp_avatar(config, 0.0, seed=1), warp_avatar(config, 3.0, seed=2)
    for avatar, batch, seed in [(first, 1, 10), (first, 1, 11), (first, 1, 12), (second, 1, 13), (second, 2, 14)]:
        marks, psi, driven = frame_inputs(config, avatar, batch, seed)
        layers = engine.infer_layers(marks, psi, avatar, driven)
        expected = reference.infer_layers(marks, psi, avatar, driven)
        for got, want in ((layers.frames, expected.frames), (layers.paint, expected.paint)):
            diff = np.abs(got.astype(int) - want.astype(int))
            assert diff.max() <= 2 and (diff > 0).mean() < 0.01, (batch, seed, int(diff.max()))
        assert np.abs(layers.flow - expected.flow).max() < 0.01  # crop pixels
    engine.close()
    reference.close()
