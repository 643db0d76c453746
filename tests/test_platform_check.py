"""Qt's platform check, shared by `liveavatar doctor` and `liveavatar app`, on real Qt failures: a platform
plugin whose library is missing (a patched copy of PySide6's own xcb plugin, and on machines that lack
them the real xcb libraries), a platform name Qt does not have, a display nobody serves. Doctor and the
app run as real subprocesses, so a Qt abort would show as exit 134 instead of the one-line fix."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from liveavatar.ui import platform_check as pc

pytest.importorskip("PySide6")
LINUX = platform.system() == "Linux"
MISSING = "libla-missing.so.0"  # same length as the soname it replaces in the patched plugin


def liveavatar(*args: str, env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "liveavatar.cli", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
    )


def clean_env(**changes: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("QT_", "DISPLAY", "WAYLAND"))}
    env.update(changes)
    return env


@pytest.fixture
def broken_plugin(tmp_path) -> Path:
    """A platforms folder holding PySide6's xcb plugin, renamed to the platform "lax" (so Qt cannot fall
    back to the real xcb) and made to need a library no system has. Laid out as Qt's own folders are, so
    the plugin's $ORIGIN/../../lib finds PySide6's Qt libraries."""
    bundled = pc._pyside_plugins()
    if not LINUX or bundled is None or not (bundled / "libqxcb.so").is_file() or shutil.which("ldd") is None:
        pytest.skip("needs Linux, ldd and PySide6's xcb plugin")
    data = (bundled / "libqxcb.so").read_bytes()
    keys, needed = b"\x64Keys\x81\x63xcb", b"libxcb-cursor.so.0\x00"
    assert data.count(keys) == 1 and data.count(needed) == 1, "PySide6's xcb plugin changed its layout"
    folder = tmp_path / "qt" / "plugins" / "platforms"
    folder.mkdir(parents=True)
    (folder / "libqxcb.so").write_bytes(
        data.replace(keys, b"\x64Keys\x81\x63lax").replace(needed, MISSING.encode() + b"\x00")
    )
    (tmp_path / "qt" / "lib").symlink_to(bundled.parents[1] / "lib")
    return folder


def test_offscreen_qt_starts():
    report = pc.check_qt_platform(clean_env(QT_QPA_PLATFORM="offscreen"))
    assert report.ok and report.platform == "offscreen" and report.problem == ""


def test_a_plugin_that_cannot_load_is_named_with_its_missing_library(broken_plugin):
    env = clean_env(QT_QPA_PLATFORM="lax", QT_QPA_PLATFORM_PLUGIN_PATH=str(broken_plugin), DISPLAY=":199")
    report = pc.check_qt_platform(env)
    assert not report.ok and report.platform == "lax"
    assert MISSING in report.missing and report.problem.startswith("Qt's lax platform plugin cannot load")
    assert MISSING in report.fix

    doctor = liveavatar("doctor", "--json", env=env)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    section = json.loads(doctor.stdout)["desktop_app"]
    assert not section["ok"] and MISSING in section["missing"] and MISSING in section["fix"]

    app = liveavatar("app", env=env)
    assert app.returncode == 2, app.stderr[-2000:]  # not 134: Qt never aborted this process
    assert app.stderr.count("\n") == 1 and "Traceback" not in app.stderr
    assert (
        app.stderr.startswith("liveavatar app: error: Qt's lax platform plugin cannot load") and MISSING in app.stderr
    )


def test_the_real_xcb_plugin_missing_system_libraries_gets_the_install_line():
    """Where the system lacks some of xcb's libraries (this machine lacks libxcb-icccm4 and
    libxcb-keysyms1, the issue's case), doctor and app name exactly those and the distribution's packages."""
    bundled = pc._pyside_plugins()
    missing = pc.ldd_missing(bundled / "libqxcb.so") if LINUX and bundled else []
    if not missing:
        pytest.skip("Qt's xcb plugin has every library it needs here")
    env = clean_env(QT_QPA_PLATFORM="xcb", DISPLAY=":199")
    expected = pc.install_line(missing, pc.read_os_release())

    doctor = liveavatar("doctor", env=env)
    assert doctor.returncode == 0, doctor.stderr[-2000:]
    assert f"[--] desktop app: Qt's xcb platform plugin cannot load: the system lacks {', '.join(missing)}" in (
        doctor.stdout
    )
    assert f"fix: {expected}" in doctor.stdout
    assert "[ok] display" not in doctor.stdout  # :199 is set, but nothing serves it

    app = liveavatar("app", env=env)
    assert app.returncode == 2 and expected in app.stderr and "libxcb-cursor0" not in app.stderr


def test_a_platform_qt_does_not_have():
    env = clean_env(QT_QPA_PLATFORM="no-such-platform")
    app = liveavatar("app", env=env)
    assert app.returncode == 2, app.stderr[-2000:]
    assert 'Qt has no platform plugin named "no-such-platform"' in app.stderr
    assert "unset QT_QPA_PLATFORM, or set it to one of: " in app.stderr and "offscreen" in app.stderr


def test_doctor_does_not_call_an_unserved_display_fine(monkeypatch):
    from liveavatar.environment.health import DesktopApp, check_display

    if not LINUX or Path("/tmp/.X11-unix/X199").exists():
        pytest.skip("needs Linux without an X server on :199")
    monkeypatch.setenv("DISPLAY", ":199")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = check_display(None)
    assert not result.ok and result.detail == "no display server listens at :199"
    # Qt's word, when it could reach the plugin, decides.
    problem = "Qt cannot connect to the display :199: no display server answers there"
    qt = DesktopApp(ok=False, platform="xcb", problem=problem, missing=(), fix="x", detail=())
    assert check_display(qt).ok is False
    monkeypatch.delenv("DISPLAY")
    assert check_display(None).ok is False


@pytest.mark.parametrize(
    ("os_release", "line"),
    [
        ('ID=debian\nVERSION_ID="12"\n', "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0"),
        ("ID=ubuntu\nID_LIKE=debian\n", "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0"),
        (
            'ID=linuxmint\nID_LIKE="ubuntu debian"\n',
            "sudo apt-get install libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0",
        ),
        ("ID=fedora\n", "sudo dnf install xcb-util-wm xcb-util-keysyms xcb-util-cursor"),
        ('ID="rocky"\nID_LIKE="rhel centos fedora"\n', "sudo dnf install xcb-util-wm xcb-util-keysyms xcb-util-cursor"),
        (
            "ID=arch\n",
            "install your distribution's packages that provide libxcb-icccm.so.4, libxcb-keysyms.so.1, "
            "libxcb-cursor.so.0 (Debian/Ubuntu: libxcb-icccm4 libxcb-keysyms1 libxcb-cursor0; "
            "Fedora: xcb-util-wm xcb-util-keysyms xcb-util-cursor)",
        ),
    ],
)
def test_install_line_per_distribution(tmp_path, os_release, line):
    path = tmp_path / "os-release"
    path.write_text(os_release)
    missing = ["libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-cursor.so.0"]
    assert pc.install_line(missing, pc.read_os_release(path)) == line


def test_install_line_names_what_it_has_no_package_for():
    line = pc.install_line(["libxcb-icccm.so.4", "libweird.so.3"], {"ID": "debian"})
    assert line == "sudo apt-get install libxcb-icccm4, and install the packages that provide libweird.so.3"
    assert pc.read_os_release(Path("/nonexistent/os-release")) == {}


def test_opencv_qt_folders_are_undone_for_qt(tmp_path):
    import cv2

    opencv = Path(cv2.__file__).parent
    env = {"QT_QPA_PLATFORM_PLUGIN_PATH": str(opencv / "qt" / "plugins"), "QT_QPA_FONTDIR": str(opencv / "qt")}
    assert "QT_QPA_PLATFORM_PLUGIN_PATH" not in pc.qt_environment(env)
    assert "QT_QPA_FONTDIR" not in pc.qt_environment(env)
    mine = {"QT_QPA_PLATFORM_PLUGIN_PATH": str(tmp_path)}
    assert pc.qt_environment(mine) == mine  # a user's own folder stays


def test_a_users_plugin_path_survives_importing_cv2(tmp_path):
    """cv2 overwrites QT_QPA_PLATFORM_PLUGIN_PATH on import; the value from before it comes back for Qt."""
    code = (
        "import liveavatar, cv2, os\n"
        "from liveavatar.ui.platform_check import qt_environment\n"
        "print(qt_environment()['QT_QPA_PLATFORM_PLUGIN_PATH'])\n"
    )
    env = clean_env(QT_QPA_PLATFORM_PLUGIN_PATH=str(tmp_path))
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == str(tmp_path)


def test_install_hints_follow_the_checkout(tmp_path, monkeypatch):
    from liveavatar.environment.install_hint import install_source, pip_install

    kind, folder = install_source()
    if kind != "checkout":
        pytest.skip("LiveAvatar is installed from a package here, not run from a checkout")
    monkeypatch.chdir(folder)
    assert pip_install("ui") == "pip install -e '.[ui]'"
    monkeypatch.chdir(tmp_path)
    assert pip_install("vcam") == f"pip install -e '{folder}[vcam]'"
