"""TensorRT around the runtime: plan cache keys, rebuild on mismatch, and the messages when it is missing.

TensorRT and a GPU cannot exist here, so the only stand-in is the TensorRT runtime's deserializer (a plan
loads or it does not); everything else (keys, files, messages, the CLI) is the real code.
"""

from __future__ import annotations

import importlib.util
import json

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
