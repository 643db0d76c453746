"""Errors a user can act on.

Every exception derived from LiveAvatarError carries a message that names the problem and what to do.
The CLI prints it on one line and exits non-zero; the app shows it in its status area. Anything else that
escapes is a bug and keeps its traceback.
"""


class LiveAvatarError(Exception):
    """A problem caused by input, environment or files, which the user can fix."""


class InputError(LiveAvatarError):
    """A file or argument given by the user is missing, unreadable or of the wrong kind."""


class NoFaceError(LiveAvatarError):
    """No face was found where one is required (portrait, training frame)."""


class CheckpointError(LiveAvatarError):
    """A checkpoint is missing, corrupt, of an unknown format version, or does not match a config."""


class AvatarError(LiveAvatarError):
    """An avatar file is corrupt or does not belong to the checkpoint/engine it is used with."""


class DeviceUnavailableError(LiveAvatarError):
    """A device (camera, virtual camera, GPU) is not available; the message says how to get one."""
