"""Identity distance: dlib's ResNet face descriptor (128-d), the measure of "is this still the portrait's face".

dlib's documentation gives 0.6 as its same-person threshold (Euclidean distance between descriptors).
Optional: `pip install -e '.[eval]'` brings `dlib-bin` (dlib's wheel, ~4 MB) and `face-recognition-models`
(the descriptor, 5-point shape and detector weights, ~100 MB download, ~126 MB installed); without them
`eval` reports identity as skipped with this module's reason and measures everything else.

Images are H×W×3 uint8 RGB. Faces are found with dlib's HOG detector (once upsampled, so 256 px crops
work); "face found" is that detector's verdict, so a frame too broken to be called a face counts against
the model rather than being silently skipped.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

SAME_PERSON = 0.6  # dlib's threshold for the ResNet descriptor
SHAPE_MODEL = "shape_predictor_5_face_landmarks.dat"
DESCRIPTOR_MODEL = "dlib_face_recognition_resnet_model_v1.dat"
LANDMARK_MODEL = "shape_predictor_68_face_landmarks.dat"  # for the expression measures' second tracker


def _model_file(name: str) -> Path | None:
    """A weights file of `face-recognition-models`, found without importing the package: its __init__ needs
    pkg_resources, which setuptools ≥ 81 no longer ships."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "models" / name
    return path if path.is_file() else None


def unavailable_reason() -> str | None:
    """None when the descriptor can run; otherwise one line that says what to install."""
    try:
        import dlib  # noqa: F401
    except ImportError:
        return "identity not measured: dlib is not installed (pip install -e '.[eval]')"
    if any(_model_file(m) is None for m in (SHAPE_MODEL, DESCRIPTOR_MODEL, LANDMARK_MODEL)):
        return "identity not measured: face_recognition_models is not installed (pip install -e '.[eval]')"
    return None


class FaceDescriber:
    """image → 128-d descriptor of its largest face, or None when dlib finds no face."""

    def __init__(self) -> None:
        import dlib

        self._detect = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(_model_file(SHAPE_MODEL)))
        self._net = dlib.face_recognition_model_v1(str(_model_file(DESCRIPTOR_MODEL)))

    def describe(self, image_rgb: np.ndarray) -> np.ndarray | None:
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        faces = self._detect(image, 1)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return np.asarray(self._net.compute_face_descriptor(image, self._shape(image, face)), dtype=np.float64)


class DlibLandmarks:
    """image → dlib's 68 points (x, y) of its largest face, or None: the second tracker the expression
    measures read the output with (mediapipe and dlib disagree where a painted mouth or eye is unclear)."""

    def __init__(self) -> None:
        import dlib

        self._detect = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(str(_model_file(LANDMARK_MODEL)))

    def __call__(self, image_rgb: np.ndarray) -> np.ndarray | None:
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        faces = self._detect(image, 0) or self._detect(image, 1)  # upsampled only when needed (4× the work)
        if not faces:
            return None
        shape = self._shape(image, max(faces, key=lambda r: r.width() * r.height()))
        return np.array([[shape.part(k).x, shape.part(k).y] for k in range(68)], np.float64)


def identity_distances(describer: FaceDescriber, reference: np.ndarray | None, frames) -> list[float | None]:
    """Distance of each frame's face to the reference descriptor; None where no face is found (or no reference)."""
    out: list[float | None] = []
    for frame in frames:
        d = describer.describe(frame) if reference is not None else None
        out.append(None if d is None else float(np.linalg.norm(d - reference)))
    return out


def summarize_identity(distances: list[float | None]) -> dict[str, float | None]:
    """median distance, share of frames under 0.6 (a frame without a face counts as not the same person),
    and the share of frames where a face was found."""
    found = [d for d in distances if d is not None]
    n = max(len(distances), 1)
    return {
        "identity_median": float(np.median(found)) if found else None,
        "identity_same_share": sum(d < SAME_PERSON for d in found) / n if distances else None,
        "identity_face_found": len(found) / n if distances else None,
    }
