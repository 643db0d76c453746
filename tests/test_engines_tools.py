"""`liveavatar bench`, tools/gpu_bench.sh (run here with --device cpu) and the no-install runner it uses."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from liveavatar.cli import main as cli_main
from liveavatar.config import preset

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_bench_reports_each_engine_against_eager_in_the_same_run():
    from liveavatar.engines.bench import format_report, run_bench
    from liveavatar.models.talking_head import TalkingHead

    torch.manual_seed(0)
    model = TalkingHead(preset("tiny"), spectral=True, discriminator=False).fold_spectral_norm()
    report = run_bench(
        preset("tiny"), model, "x", "random", ["onnxruntime", "torch-fp16-graph"], frames=6, say=lambda m: None
    )
    by_name = {r.engine: r for r in report.engines}
    assert list(by_name) == ["torch", "onnxruntime", "torch-fp16-graph"]  # the reference always first
    ref, ort = by_name["torch"], by_name["onnxruntime"]
    assert ref.status == ort.status == "ok"
    assert ref.speedup == 1.0 and ref.max_diff == 0
    assert ort.median_ms > 0 and ort.p90_ms >= ort.median_ms and ort.fps > 0 and ort.frames == 6
    assert ort.speedup == pytest.approx(ref.median_ms / ort.median_ms, rel=0.02)
    assert 0 <= ort.max_diff <= 2 and ort.runtime_name == "onnxruntime-cpu"
    graph = by_name["torch-fp16-graph"]
    if not torch.cuda.is_available():
        assert graph.status == "skipped" and "CUDA" in graph.reason
    assert report.embedder_ms_per_portrait > 0
    assert report.machine["cpu"] and report.machine["cores"] >= 1
    text = format_report(report)
    assert "vs eager" in text and "embedder" in text and report.machine["cpu"] in text


def test_bench_cli_json(capsys):
    from liveavatar.engines.registry import engine_availability
    from liveavatar.environment.health import check_engines

    code = cli_main(["bench", "--preset", "tiny", "--engines", "torch", "--frames", "3", "--json", "--device", "cpu"])
    assert code == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["preset"] == "tiny" and report["device"] == "cpu"
    assert report["weights"].startswith("random")
    assert [e["engine"] for e in report["engines"]] == ["torch"]
    # doctor's engine section, as doctor --json has it
    assert report["engines_here"] == check_engines(engine_availability()).as_dict()
    assert "landmark images" in captured.err  # progress goes to stderr, so stdout stays JSON


def test_bench_cli_refuses_unknown_engines_and_presets(capsys):
    assert cli_main(["bench", "--engines", "torch,warp-drive"]) == 2
    assert "unknown bench engine(s) warp-drive" in capsys.readouterr().err
    assert cli_main(["bench", "--preset", "huge", "--engines", "torch"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_runner_works_without_the_pip_install(tmp_path):
    """tools/run_from_checkout.py maps engines/ to liveavatar.engines when no editable install does."""
    code = (
        "import sys\n"
        "sys.meta_path[:] = [f for f in sys.meta_path if 'Editable' not in repr(f)]\n"
        f"sys.argv = ['run_from_checkout.py', 'bench', '--list']\n"
        f"sys.path.insert(0, {str(ROOT / 'tools')!r})\n"
        "import run_from_checkout\n"
        "rc = run_from_checkout.main(sys.argv[1:])\n"
        "import liveavatar.engines.bench as b\n"
        "print('FROM', b.__file__)\n"
        "sys.exit(rc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "torch-fp16-graph" in done.stdout
    assert f"FROM {ROOT / 'engines' / 'bench.py'}" in done.stdout


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bash") is None or shutil.which("timeout") is None, reason="needs bash and timeout")
def test_gpu_bench_script_runs_on_the_cpu(tmp_path):
    out = tmp_path / "gpu"
    done = subprocess.run(
        ["bash", str(ROOT / "tools" / "gpu_bench.sh"), str(out), "--device", "cpu", "--presets", "tiny",
         "--frames", "5", "--compile-timeout", "5"],
        capture_output=True, text=True, timeout=300, cwd=tmp_path,
        env={**os.environ, "PYTHON": sys.executable},  # this interpreter, not whatever python3 is on PATH
    )  # fmt: skip
    steps = (out / "steps.txt").read_text()
    assert "bench-tiny: exit 0" in steps, (steps, (out / "bench-tiny.log").read_text())
    report = json.loads((out / "bench-tiny.json").read_text())
    ok = {e["engine"] for e in report["engines"] if e["status"] == "ok"}
    assert {"torch", "torch-cl", "onnxruntime"} <= ok
    assert "torch" in (out / "environment.txt").read_text()
    # torch.compile may not finish in 5 s: the step is then cut off and reported, and the script says so.
    assert "bench-tiny-compile: exit" in steps and "total" in steps
    assert done.returncode in (0, 1)
