"""The app's look: a dark theme set as one stylesheet, so widgets stay plain Qt widgets."""

from __future__ import annotations

ACCENT = "#3d8bfd"

STYLESHEET = f"""
QWidget {{ background-color: #14171c; color: #e6e9ee; }}
QMainWindow, QScrollArea, QScrollArea > QWidget > QWidget {{ background-color: #14171c; }}
QGroupBox {{
    background-color: #1c2129; border: 1px solid #2a313c; border-radius: 8px;
    margin-top: 12px; padding: 8px 6px 6px 6px; font-weight: 600;
}}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; color: #9fb3c8; }}
QGroupBox QWidget {{ background-color: transparent; }}
QLabel#hint {{ color: #9aa4b2; font-size: 11px; }}
QLabel#hint[level="error"] {{ color: #ff8a80; }}
QLabel#hint[level="ok"] {{ color: #7ddc9a; }}
QLabel#banner {{
    background-color: #3a2a12; color: #ffd58a; border: 1px solid #6b4e1f; border-radius: 6px; padding: 8px;
}}
QLabel#stats {{ color: #b8c2cf; font-family: monospace; font-size: 11px; }}
QPushButton {{
    background-color: #2a313c; border: 1px solid #353e4b; border-radius: 6px; padding: 5px 10px;
}}
QPushButton:hover {{ background-color: #333c49; }}
QPushButton:disabled {{ color: #6b7480; }}
QPushButton#primary {{ background-color: {ACCENT}; border-color: {ACCENT}; color: white; font-weight: 600; }}
QPushButton#primary:disabled {{ background-color: #2a313c; border-color: #353e4b; color: #6b7480; }}
QPushButton#toggle:checked {{ background-color: #1f8f4e; border-color: #27a85d; color: white; font-weight: 600; }}
QPushButton#flat {{ background: transparent; border: none; color: #7cc4ff; padding: 2px 4px; }}
QPushButton#flat:disabled {{ color: #6b7480; }}
QToolButton#dismiss {{ background: transparent; border: none; color: #9aa4b2; }}
QCheckBox::indicator, QRadioButton::indicator {{
    width: 14px; height: 14px; border: 1px solid #5a6575; background-color: #232a33;
}}
QCheckBox::indicator {{ border-radius: 3px; }}
QRadioButton::indicator {{ border-radius: 8px; }}
QCheckBox::indicator:checked, QRadioButton::indicator:checked {{ background-color: {ACCENT}; border-color: {ACCENT}; }}
QCheckBox:disabled, QRadioButton:disabled, QLabel:disabled {{ color: #6b7480; }}
QComboBox, QSpinBox, QLineEdit {{
    background-color: #232a33; border: 1px solid #353e4b; border-radius: 5px; padding: 3px 6px;
}}
QComboBox QAbstractItemView {{ background-color: #232a33; selection-background-color: {ACCENT}; }}
QListWidget#gallery {{ background-color: #1c2129; border: 1px solid #2a313c; border-radius: 8px; padding: 4px; }}
QListWidget#gallery::item {{ border-radius: 6px; padding: 2px; }}
QListWidget#gallery::item:selected {{ background-color: #24416b; border: 1px solid {ACCENT}; }}
QProgressBar {{ background-color: #232a33; border: none; border-radius: 4px; height: 8px; text-align: center; }}
QProgressBar::chunk {{ background-color: {ACCENT}; border-radius: 4px; }}
QFrame#statusRow {{ border-radius: 6px; background-color: #1f2a36; border-left: 4px solid {ACCENT}; }}
QFrame#statusRow[level="warning"] {{ background-color: #33291a; border-left-color: #f0a030; }}
QFrame#statusRow[level="error"] {{ background-color: #3a1f22; border-left-color: #ff5a5f; }}
QFrame#statusRow QLabel {{ background: transparent; }}
QPlainTextEdit {{ background-color: #101317; border: 1px solid #2a313c; font-family: monospace; font-size: 11px; }}
QSplitter::handle {{ background-color: #14171c; }}
QToolTip {{ background-color: #232a33; color: #e6e9ee; border: 1px solid #3d4654; }}
"""
