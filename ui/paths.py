"""Where the app keeps its things: the data folder (avatars, settings) and the recordings folder.

The data folder is QStandardPaths' AppDataLocation (e.g. ~/.local/share/LiveAvatar/LiveAvatar on Linux,
%APPDATA%/LiveAvatar/LiveAvatar on Windows), or the folder named by LIVEAVATAR_DATA_DIR, which tests and
portable installs use so nothing touches the user's real data.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QStandardPaths

DATA_DIR_ENV = "LIVEAVATAR_DATA_DIR"
ORGANIZATION = "LiveAvatar"
APPLICATION = "LiveAvatar"


def data_dir() -> Path:
    """The data folder, created if needed. Needs QCoreApplication's organization/application names set
    (app.make_application does it) for the standard location to be the app's own."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        path = Path(override).expanduser()
    else:
        path = Path(QStandardPaths.writableLocation(QStandardPaths.StandardLocation.AppDataLocation))
    path.mkdir(parents=True, exist_ok=True)
    return path


def avatars_dir() -> Path:
    path = data_dir() / "avatars"
    path.mkdir(parents=True, exist_ok=True)
    return path


def default_recordings_dir() -> Path:
    """Movies/LiveAvatar (or the data folder's recordings/ when LIVEAVATAR_DATA_DIR is set, or when the
    platform has no movies folder). Created when the first recording starts, not here."""
    if os.environ.get(DATA_DIR_ENV):
        return data_dir() / "recordings"
    movies = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.MoviesLocation)
    return Path(movies) / "LiveAvatar" if movies else data_dir() / "recordings"
