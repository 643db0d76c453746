"""Face landmarks: mediapipe tracking, the 468→68 point mapping, One-Euro smoothing, the scripted driver.

Importing this package does not import mediapipe; FaceTracker does when it is built.
"""

from liveavatar.landmarks.mesh68 import MESH_TO_68, PARTS, Part, mesh_to_68
from liveavatar.landmarks.scripted import ScriptedPerformance
from liveavatar.landmarks.smoothing import OneEuroFilter, OneEuroParams
from liveavatar.landmarks.tracker import FaceTracker, TrackResult, detect_portrait

__all__ = [
    "MESH_TO_68",
    "PARTS",
    "FaceTracker",
    "OneEuroFilter",
    "OneEuroParams",
    "Part",
    "ScriptedPerformance",
    "TrackResult",
    "detect_portrait",
    "mesh_to_68",
]
