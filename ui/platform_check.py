"""Can Qt open a window on this machine? The check `liveavatar doctor` and `liveavatar app` share.

When Qt's platform plugin (xcb on X11, wayland, cocoa, windows) cannot load, Qt prints a message and
aborts the whole process (exit 134). Its message often blames the wrong thing: it names libxcb-cursor0
for any xcb failure, and the folder OpenCV's wheel put in QT_QPA_PLATFORM_PLUGIN_PATH. So the check
starts a QGuiApplication in a child process (an abort there cannot take the caller down), with Qt's
plugin debugging on, and when it fails, reads what really went wrong:

- a plugin that was found but cannot load: `ldd` of the plugin file lists the shared libraries the
  system lacks, and /etc/os-release picks the install line (apt names on Debian/Ubuntu, dnf names on
  Fedora and its relatives);
- a plugin that loads but cannot reach a display server (DISPLAY names none that runs);
- a QT_QPA_PLATFORM that names no plugin.

This module never imports PySide6 itself (only the child does), so doctor can run it without Qt.

    report = check_qt_platform()          # QtPlatformReport(ok, platform, problem, missing, fix)
    require_qt_platform()                 # raises QtPlatformError (one line: problem; fix) unless ok
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from liveavatar.errors import LiveAvatarError

PROBE_TIMEOUT_S = 60.0
# The child prints the platform it got; everything else it says is Qt's (stderr, with QT_DEBUG_PLUGINS).
PROBE = (
    "import sys\n"
    "from PySide6.QtGui import QGuiApplication\n"
    "app = QGuiApplication(sys.argv[:1])\n"
    "print('platform=' + app.platformName(), flush=True)\n"
)
# Set by `import cv2` (opencv-python wheels): they point Qt at OpenCV's own Qt 5 xcb plugin and fonts.
OPENCV_QT_VARIABLES = ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")

# Shared library (soname) → package, for what Qt's platform plugins need beyond a base system.
DEBIAN_PACKAGES = {
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinerama.so.0": "libxcb-xinerama0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
}
FEDORA_PACKAGES = {
    "libxcb-icccm.so.4": "xcb-util-wm",
    "libxcb-keysyms.so.1": "xcb-util-keysyms",
    "libxcb-cursor.so.0": "xcb-util-cursor",
    "libxcb-image.so.0": "xcb-util-image",
    "libxcb-render-util.so.0": "xcb-util-renderutil",
    "libxcb-util.so.1": "xcb-util",
    **{
        name: "libxcb"
        for name in (
            "libxcb-randr.so.0",
            "libxcb-shape.so.0",
            "libxcb-shm.so.0",
            "libxcb-sync.so.1",
            "libxcb-xfixes.so.0",
            "libxcb-render.so.0",
            "libxcb-xkb.so.1",
            "libxcb-xinerama.so.0",
            "libxcb-xinput.so.0",
            "libxcb.so.1",
        )
    },
    "libX11-xcb.so.1": "libX11-xcb",
    "libX11.so.6": "libX11",
    "libxkbcommon.so.0": "libxkbcommon",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11",
    "libGL.so.1": "libglvnd-glx",
    "libEGL.so.1": "libglvnd-egl",
    "libOpenGL.so.0": "libglvnd-opengl",
    "libfontconfig.so.1": "fontconfig",
    "libfreetype.so.6": "freetype",
    "libdbus-1.so.3": "dbus-libs",
    "libglib-2.0.so.0": "glib2",
    "libwayland-client.so.0": "libwayland-client",
    "libwayland-cursor.so.0": "libwayland-cursor",
    "libwayland-egl.so.1": "libwayland-egl",
}
# (family, the command, its package table); a distribution joins a family by ID or ID_LIKE.
FAMILIES = {
    "debian": ("sudo apt-get install", DEBIAN_PACKAGES),
    "fedora": ("sudo dnf install", FEDORA_PACKAGES),
}
FAMILY_IDS = {
    "debian": {"debian", "ubuntu", "linuxmint", "pop", "raspbian", "elementary", "zorin", "kali", "neon"},
    "fedora": {"fedora", "rhel", "centos", "rocky", "almalinux", "nobara"},
}


class QtPlatformError(LiveAvatarError):
    """Qt cannot open a window here (a missing system library, no display, a wrong QT_QPA_PLATFORM)."""


@dataclass(frozen=True)
class QtPlatformReport:
    """What the child process found.

    platform: the plugin Qt used or tried ("xcb", "wayland", "offscreen", ...), "" when unknown.
    problem: one line, empty when ok. missing: sonames the plugin needs that the system lacks.
    fix: one line saying what to do, empty when ok. detail: Qt's own lines about the failure.
    """

    ok: bool
    platform: str = ""
    problem: str = ""
    missing: tuple[str, ...] = ()
    fix: str = ""
    detail: list[str] = field(default_factory=list)

    @property
    def display_unreachable(self) -> bool:
        """The plugin loaded but found no display server: the display, not the libraries, is the problem."""
        return self.problem.startswith("Qt cannot connect to the display")


def qt_environment(env: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of env (default os.environ) where the Qt variables that `import cv2` set to OpenCV's own
    Qt 5 folders are back to what they were before (usually unset): Qt 6 would look for its platform
    plugin there first, and name that folder when it fails."""
    import liveavatar

    env = dict(os.environ if env is None else env)
    opencv_root = _opencv_root()
    if opencv_root is None:
        return env
    for name in OPENCV_QT_VARIABLES:
        value = env.get(name)
        if value and Path(value).resolve().is_relative_to(opencv_root):
            before = liveavatar.QT_ENV_AT_IMPORT.get(name)
            if before and not Path(before).resolve().is_relative_to(opencv_root):
                env[name] = before  # the user's own setting, which cv2 overwrote
            else:
                del env[name]
    return env


def restore_qt_variables() -> None:
    """Undoes OpenCV's Qt variables in this process's environment, before a QApplication is made."""
    clean = qt_environment()
    for name in OPENCV_QT_VARIABLES:
        if name in clean:
            os.environ[name] = clean[name]
        else:
            os.environ.pop(name, None)


def _opencv_root() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("cv2")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))).resolve()


def _pyside_plugins() -> Path | None:
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or not spec.submodule_search_locations:
        return None
    root = Path(next(iter(spec.submodule_search_locations)))
    for folder in (root / "Qt" / "plugins" / "platforms", root / "plugins" / "platforms"):
        if folder.is_dir():
            return folder
    return None


def check_qt_platform(env: dict[str, str] | None = None, timeout_s: float = PROBE_TIMEOUT_S) -> QtPlatformReport:
    """Starts a QGuiApplication in a child process with `env` (default: this process's, without
    OpenCV's Qt variables) and explains a failure. Never raises for a Qt failure; returns the report."""
    import importlib.util

    from liveavatar.environment.install_hint import pip_install

    if importlib.util.find_spec("PySide6") is None:
        return QtPlatformReport(False, problem="PySide6 is not installed", fix=pip_install("ui"))
    env = qt_environment(env)
    env["QT_DEBUG_PLUGINS"] = "1"  # Qt then names the plugin file it tried and the library dlopen missed
    try:
        done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return QtPlatformReport(
            False,
            problem=f"starting Qt took more than {timeout_s:.0f} s",
            fix="run `QT_DEBUG_PLUGINS=1 liveavatar app` to see where Qt waits",
        )
    found = re.search(r"^platform=(\S+)", done.stdout, re.M)
    if done.returncode == 0 and found:
        return QtPlatformReport(True, platform=found.group(1))
    return explain_failure(done.stderr, done.returncode, env)


def explain_failure(stderr: str, returncode: int, env: dict[str, str]) -> QtPlatformReport:
    """Reads a failed child's Qt output (with QT_DEBUG_PLUGINS=1) into a report with the fix."""
    lines = [line for line in stderr.splitlines() if line.strip()]
    wanted = ("cannot load", "Could not", "could not", "Available platform plugins", "open display")
    detail = [line for line in lines if line.startswith("qt.qpa.") or any(w in line for w in wanted)][-8:]
    named = re.search(r'Could not (find|load) the Qt platform plugin "([^"]+)"', stderr)
    platform = named.group(2) if named else env.get("QT_QPA_PLATFORM", "").split(":")[0]
    available = re.search(r"Available platform plugins are: (.*?)\.?$", stderr, re.M)
    choices = available.group(1) if available else ""

    if named and named.group(1) == "find":
        requested = env.get("QT_QPA_PLATFORM", "")
        return QtPlatformReport(
            False,
            platform,
            problem=f'Qt has no platform plugin named "{platform}"'
            + (f" (QT_QPA_PLATFORM={requested})" if requested else ""),
            fix="unset QT_QPA_PLATFORM" + (f", or set it to one of: {choices}" if choices else ""),
            detail=detail,
        )
    if re.search(r"could not connect to display|failed to connect to display|cannot open display", stderr, re.I):
        shown = env.get("DISPLAY") or env.get("WAYLAND_DISPLAY") or "(none set)"
        return QtPlatformReport(
            False,
            platform,
            problem=f"Qt cannot connect to the display {shown}: no display server answers there",
            fix="start the app inside a desktop session (DISPLAY or WAYLAND_DISPLAY must name a running one); "
            "without a display, use `liveavatar run` or `liveavatar app --screenshot OUT.png`",
            detail=detail,
        )
    missing = _missing_libraries(stderr, platform)
    if missing:
        return QtPlatformReport(
            False,
            platform,
            problem=f"Qt's {platform} platform plugin cannot load: the system lacks {', '.join(missing)}",
            missing=tuple(missing),
            fix=install_line(missing, read_os_release()),
            detail=detail,
        )
    why = next((line for line in reversed(lines) if line.startswith("qt.qpa.")), lines[-1] if lines else "")
    return QtPlatformReport(
        False,
        platform,
        problem=f"Qt could not start (exit code {returncode}): {why}".rstrip(": "),
        fix="run `QT_DEBUG_PLUGINS=1 liveavatar app` to see Qt's full account",
        detail=detail,
    )


def _missing_libraries(stderr: str, platform: str) -> list[str]:
    """Sonames the platform plugin needs and cannot find: `ldd` of every plugin file Qt failed to load
    (and of PySide6's own plugin for that platform), plus what dlopen itself named."""
    files = re.findall(r'"([^"]+\.(?:so|dylib|dll))" cannot load', stderr)
    bundled = _pyside_plugins()
    if platform and bundled is not None:
        files.append(str(bundled / f"libq{platform}.so"))
    missing: list[str] = []
    for path in dict.fromkeys(files):
        for name in ldd_missing(Path(path)):
            if name not in missing:
                missing.append(name)
    for name in re.findall(r"([\w.+-]+\.so[\w.]*): cannot open shared object file", stderr):
        if name not in missing:
            missing.append(name)
    return missing


def ldd_missing(library: Path) -> list[str]:
    """The sonames `ldd` reports as "not found" for a shared library ([] where ldd is not available)."""
    ldd = shutil.which("ldd")
    if ldd is None or not library.is_file():
        return []
    try:
        done = subprocess.run([ldd, str(library)], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return list(dict.fromkeys(re.findall(r"^\s*(\S+) => not found", done.stdout, re.M)))


def read_os_release(path: Path = Path("/etc/os-release")) -> dict[str, str]:
    """/etc/os-release as a dict (ID, ID_LIKE, PRETTY_NAME, ...); {} where there is none."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    result = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.startswith("#"):
            result[key.strip()] = value.strip().strip("\"'")
    return result


def distribution_family(os_release: dict[str, str]) -> str | None:
    """ "debian" or "fedora" for those distributions and their relatives (by ID, then ID_LIKE), else None."""
    ids = [os_release.get("ID", "").lower()] + os_release.get("ID_LIKE", "").lower().split()
    for candidate in ids:
        for family, members in FAMILY_IDS.items():
            if candidate in members:
                return family
    return None


def install_line(missing: list[str], os_release: dict[str, str]) -> str:
    """One line that installs the packages providing `missing` on this distribution."""
    family = distribution_family(os_release)
    if family is None:
        debian = " ".join(dict.fromkeys(DEBIAN_PACKAGES.get(s, s) for s in missing))
        fedora = " ".join(dict.fromkeys(FEDORA_PACKAGES.get(s, s) for s in missing))
        return (
            f"install your distribution's packages that provide {', '.join(missing)} "
            f"(Debian/Ubuntu: {debian}; Fedora: {fedora})"
        )
    command, table = FAMILIES[family]
    known = list(dict.fromkeys(table[s] for s in missing if s in table))
    unknown = [s for s in missing if s not in table]
    parts = []
    if known:
        parts.append(f"{command} {' '.join(known)}")
    if unknown:
        parts.append(f"install the packages that provide {', '.join(unknown)}")
    return ", and ".join(parts)


def require_qt_platform(env: dict[str, str] | None = None) -> QtPlatformReport:
    """The app's first step: returns the report when Qt can start, else raises QtPlatformError."""
    report = check_qt_platform(env)
    if not report.ok:
        raise QtPlatformError(f"{report.problem}; fix: {report.fix}")
    return report
