"""AppSettings: the user's last choices, kept with QSettings between runs.

Stored as an INI file in the data folder (paths.data_dir()/settings.ini) rather than the platform's
registry/plist, so LIVEAVATAR_DATA_DIR isolates tests and portable installs completely, and the user can
read the file. Values are read with a type and a default, so a damaged or old file never breaks startup.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings

from .paths import data_dir


class AppSettings:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path or data_dir() / "settings.ini"
        self._q = QSettings(str(self.path), QSettings.Format.IniFormat)

    def get_str(self, key: str, default: str = "") -> str:
        value = self._q.value(key, default)
        return str(value) if value is not None else default

    def get_bool(self, key: str, default: bool = False) -> bool:
        value = self._q.value(key, default)
        if isinstance(value, str):
            return value.lower() in ("1", "true", "yes", "on")
        return bool(value)

    def get_int(self, key: str, default: int = 0) -> int:
        value = self._q.value(key, default)  # an int, or the text an INI file holds
        if not isinstance(value, (int, float, str)):
            return default
        try:
            return int(value)
        except ValueError:
            return default

    def get_bytes(self, key: str) -> QByteArray | None:
        value = self._q.value(key)
        return value if isinstance(value, QByteArray) else None

    def set(self, key: str, value: object) -> None:
        self._q.setValue(key, value)

    def sync(self) -> None:
        self._q.sync()
