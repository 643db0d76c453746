"""LiveAvatar: animate any portrait with your face, live.

The core package imports no Qt, no engine runtime and no mediapipe at import time, so
`import liveavatar` works on a bare CPU machine.
"""

__version__ = "0.1.0"
