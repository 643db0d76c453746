"""doctor's checks (liveavatar.environment.health) and their other callers: `run` refuses a missing webcam or
virtual camera with health's line before anything opens, `bench` lists the engines doctor lists, and the
app's engine menu and virtual camera row say what health says. Real pyvirtualcam on this machine, which
has no v4l2loopback device; only the camera listing is replaced where a camera must seem present."""

from __future__ import annotations

import dataclasses
import json
import platform
import sys

import pytest

from liveavatar.cli import main
from liveavatar.engines import registry
from liveavatar.engines.registry import engine_availability
from liveavatar.environment import health


def _has_virtual_camera() -> bool:
    import pyvirtualcam

    try:
        pyvirtualcam.Camera(640, 480, 30).close()
    except RuntimeError:
        return False
    return True


@pytest.fixture(scope="module")
def no_virtual_camera():
    if _has_virtual_camera():
        pytest.skip("this machine has a virtual camera device")


@pytest.fixture(scope="module")
def avatar_path(checkpoint_path, portraits, tmp_path_factory):
    from liveavatar.avatar import save_avatar
    from liveavatar.engines.embedder import build_avatar
    from liveavatar.models.checkpoint import load_checkpoint

    avatar = build_avatar([portraits / "painting_mona_lisa.jpg"], load_checkpoint(checkpoint_path, discriminator=False))
    return save_avatar(avatar, tmp_path_factory.mktemp("avatar") / "mona.avatar")


@pytest.fixture
def nothing_opens(monkeypatch):
    """Fails the test if the run gets as far as starting its runner (engine, source, sinks)."""
    from liveavatar.pipeline.runner import Runner

    def start(self):
        raise AssertionError("the runner started: the device check came too late")

    monkeypatch.setattr(Runner, "start", start)


def test_virtual_camera_section_and_problem_come_from_one_failure(no_virtual_camera):
    from liveavatar.sinks.vcam import vcam_fix

    section = health.check_virtual_camera()
    problem = health.virtual_camera_problem()
    assert not section.ok and section.fix == vcam_fix()
    assert section.detail is not None and section.detail.startswith("no virtual camera device (")
    # The line run and the app print is doctor's two lines joined the way the sink itself says it.
    assert problem == f"{section.detail}; to get one, {section.fix}"


def test_virtual_camera_without_pyvirtualcam_names_the_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)  # import fails as when it is not installed
    section = health.check_virtual_camera()
    assert section.detail == "pyvirtualcam is not installed" and section.fix and "pip install" in section.fix
    assert health.virtual_camera_problem() == section.fix


def test_run_with_only_a_virtual_camera_is_refused_before_anything_opens(
    no_virtual_camera, checkpoint_path, avatar_path, nothing_opens, capsys, tmp_path
):
    from liveavatar.sinks.vcam import vcam_fix

    args = ["run", "--avatar", str(avatar_path), "--checkpoint", str(checkpoint_path), "--source", "scripted"]
    assert main([*args, "--sink", "vcam"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"liveavatar run: error: {health.virtual_camera_problem()}"
    assert vcam_fix() in err[-1]  # doctor's fix line, word for word
    assert len(err) == 1


def test_a_virtual_camera_beside_other_outputs_is_left_to_the_runner(monkeypatch, tmp_path):
    """The runner reports it and runs the other sinks on (test_pipeline), so run does not probe it."""
    from liveavatar.commands.run import check_devices
    from liveavatar.live.spec import RunnerConfig, parse_sink, parse_source

    monkeypatch.setattr(health, "virtual_camera_problem", lambda: pytest.fail("probed"))
    sinks = (parse_sink("vcam"), parse_sink(f"record:{tmp_path / 'o.mp4'}"))
    check_devices(RunnerConfig(source=parse_source("scripted"), sinks=sinks))


@pytest.mark.skipif(platform.system() != "Linux", reason="only Linux lists cameras without opening them")
def test_run_from_a_webcam_that_is_not_there_says_which_exist(
    checkpoint_path, avatar_path, nothing_opens, capsys, tmp_path, monkeypatch
):
    import liveavatar.capture as capture

    args = ["run", "--avatar", str(avatar_path), "--checkpoint", str(checkpoint_path)]
    args += ["--sink", f"record:{tmp_path / 'o.mp4'}"]
    monkeypatch.setattr(capture, "list_cameras", lambda: [])
    assert main([*args, "--source", "webcam:0"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line == f"liveavatar run: error: webcam 0: {health.check_cameras().fix}"

    monkeypatch.setattr(capture, "list_cameras", lambda: [capture.CameraInfo(2, "USB Camera")])
    assert main([*args, "--source", "webcam:0"]) == 2
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert "webcam 0 is not on this machine (cameras found: webcam:2 (USB Camera))" in line
    assert health.camera_problem(2) is None  # that one would be opened by the runner
    assert list(tmp_path.iterdir()) == []


def test_run_on_this_machine_without_cameras(checkpoint_path, avatar_path, nothing_opens, capsys, tmp_path):
    """Nothing replaced: where this machine lists no camera at all, run says doctor's fix."""
    section = health.check_cameras()
    if platform.system() != "Linux" or section.cameras:
        pytest.skip("needs a Linux machine without cameras")
    args = ["run", "--avatar", str(avatar_path), "--checkpoint", str(checkpoint_path), "--source", "webcam:0"]
    assert main([*args, "--sink", f"record:{tmp_path / 'o.mp4'}"]) == 2
    assert section.fix and section.fix in capsys.readouterr().err


def test_bench_lists_the_engines_doctor_lists(capsys):
    assert main(["bench", "--list"]) == 0
    out = capsys.readouterr().out
    assert "torch-fp16-graph" in out  # the bench names come first, one a line
    assert "\n".join(health.engine_lines(health.check_engines(engine_availability()))) in out
    assert out.count("machine: ") == 1


def test_bench_skips_an_engine_for_doctors_reason(monkeypatch):
    from liveavatar.engines import bench
    from liveavatar.engines.base import EngineUnavailable

    rows = [(name, why) for name, why in engine_availability() if name != "tensorrt"]
    monkeypatch.setattr(registry, "engine_availability", lambda: [("tensorrt", "tensorrt: not here (a test)"), *rows])
    with pytest.raises(EngineUnavailable, match=r"tensorrt: not here \(a test\)"):
        bench._runtime_available("tensorrt")


def test_doctor_json_sections_keep_their_keys(capsys):
    """doctor --json is read by scripts: each section's keys stay as they were when run, bench and the app
    began to share its checks."""
    assert main(["doctor", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report) == {
        "system", "cameras", "virtual_camera", "engines", "mediapipe", "gpu", "desktop_app", "display", "checkpoint"
    }  # fmt: skip
    assert set(report["cameras"]) == {"ok", "cameras", "fix"}
    linux = {"v4l2loopback_loaded"} if platform.system() == "Linux" else set()
    assert set(report["virtual_camera"]) == {"ok", "device", "backend", "fix", "detail"} | linux
    assert set(report["engines"]) == {"ok", "available", "unavailable", "auto_picks"}


def test_health_answers_are_frozen_typed_and_doctor_json_is_their_one_serialisation(capsys):
    """Each section is a frozen dataclass a caller reads by attribute, and doctor --json prints its as_dict()."""
    from liveavatar.commands import doctor

    report = doctor.collect()
    sections = {f.name: getattr(report, f.name) for f in dataclasses.fields(report) if f.name != "system"}
    assert set(sections) == {
        "cameras", "virtual_camera", "engines", "mediapipe", "gpu", "desktop_app", "checkpoint", "display"
    }  # fmt: skip
    for name, section in sections.items():
        assert isinstance(section, health.CheckResult) and dataclasses.is_dataclass(section), name
        assert not isinstance(section, health.CheckFailed), f"{name}: {section.fix}"
        assert isinstance(section.ok, bool) and (section.fix is None or isinstance(section.fix, str)), name
        with pytest.raises(dataclasses.FrozenInstanceError):
            section.ok = not section.ok
    assert isinstance(report.engines, health.Engines) and isinstance(report.engines.available, tuple)
    assert report.engines.available == tuple(name for name, why in engine_availability() if why is None)
    as_json = report.as_dict()
    assert as_json == json.loads(json.dumps(as_json))  # JSON's own types all through: no tuple, no dataclass

    assert main(["doctor", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert list(printed) == list(as_json)
    for name, section in printed.items():
        if name == "gpu":  # its free memory may move between the two runs
            assert list(section) == list(as_json[name])
        else:
            assert section == as_json[name], name


def test_a_key_doctor_never_printed_empty_stays_out(monkeypatch):
    monkeypatch.setitem(sys.modules, "mediapipe", None)  # import fails as when it is not installed
    section = health.check_mediapipe()
    assert section.models is None and section.missing == health.MEDIAPIPE_MODELS
    assert section.as_dict() == {
        "ok": False,
        "version": None,
        "missing": list(health.MEDIAPIPE_MODELS),
        "fix": section.fix,
    }
    assert section.fix is not None and section.fix.startswith("pip install mediapipe (")


def test_a_check_that_raises_is_a_failed_section_and_the_others_still_answer():
    from liveavatar.commands import doctor

    def broken_engine_table() -> health.EngineRows:
        raise RuntimeError("the engine table broke")

    report = health.collect(broken_engine_table)  # no Qt start handed in: no desktop_app section
    assert report.engines == health.CheckFailed(
        ok=False, fix="the check itself failed: RuntimeError('the engine table broke')"
    )
    assert report.engines.as_dict() == {"ok": False, "fix": report.engines.fix}
    assert isinstance(report.mediapipe, health.Mediapipe) and report.mediapipe.ok
    assert report.desktop_app is None and "desktop_app" not in report.as_dict()
    text = doctor.render(report)
    assert f"[--] engines: \n     fix: {report.engines.fix}\n" in text and "desktop app" not in text


def test_the_app_shows_healths_engines_and_virtual_camera(no_virtual_camera, qapp, qtbot, tmp_path, monkeypatch):
    pytest.importorskip("PySide6")
    pytest.importorskip("pytestqt")
    from test_ui_window import close_cleanly, open_window

    from liveavatar.ui.app import make_application

    make_application()
    monkeypatch.setenv("LIVEAVATAR_DATA_DIR", str(tmp_path / "data"))
    window = open_window(qtbot, tmp_path / "data", None)
    row = window.outputs_panel.vcam
    problem = health.virtual_camera_problem()
    qtbot.waitUntil(lambda: row.state.text() == f"Not available: {problem}", timeout=30_000)
    assert not row.button.isChecked() and row.button.isEnabled()  # a click tries again
    combo = window.engine_panel.combo
    listed = [combo.itemData(i) for i in range(combo.count())]
    assert listed == ["auto", *(name for name, _ in engine_availability())]
    for name, why in engine_availability():
        assert (combo.model().item(listed.index(name)).isEnabled()) == (why is None)
    close_cleanly(qtbot, window)
