"""The user's LiveAvatar config folder: where per-installation things (the signing key) are kept.

LIVEAVATAR_CONFIG_DIR names it outright (tests and portable installs); otherwise the platform's own place:
%APPDATA%/LiveAvatar on Windows, ~/Library/Application Support/LiveAvatar on macOS, and
$XDG_CONFIG_HOME/liveavatar (~/.config/liveavatar) elsewhere, next to the model cache's
$XDG_CACHE_HOME/liveavatar (engines/cache.py). Nothing is created here: callers make what they write.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

CONFIG_DIR_ENV = "LIVEAVATAR_CONFIG_DIR"


def config_dir() -> Path:
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override).expanduser()
    if sys.platform == "win32" and os.environ.get("APPDATA"):
        return Path(os.environ["APPDATA"]) / "LiveAvatar"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "LiveAvatar"
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "liveavatar"
