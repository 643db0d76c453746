"""LiveAvatar: animate any portrait with your face, live.

The core package imports no Qt, no engine runtime and no mediapipe at import time, so
`import liveavatar` works on a bare CPU machine.
"""

__version__ = "0.1.0"

import os as _os

# `import cv2` (OpenCV's wheels) overwrites these two with its own Qt 5 folders, which Qt 6 then searches
# first. They are noted here, before any module imports cv2, so the desktop app can restore the user's.
QT_ENV_AT_IMPORT = {name: _os.environ.get(name) for name in ("QT_QPA_PLATFORM_PLUGIN_PATH", "QT_QPA_FONTDIR")}
