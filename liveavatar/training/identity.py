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

import numpy as np

SAME_PERSON = 0.6  # dlib's threshold for the ResNet descriptor


def unavailable_reason() -> str | None:
    """None when the descriptor can run; otherwise one line that says what to install."""
    try:
        import dlib  # noqa: F401
        import face_recognition_models  # noqa: F401
    except ImportError as exc:
        return f"identity not measured: {exc.name} is not installed (pip install -e '.[eval]')"
    return None


class FaceDescriber:
    """image → 128-d descriptor of its largest face, or None when dlib finds no face."""

    def __init__(self) -> None:
        import dlib
        import face_recognition_models as models

        self._detect = dlib.get_frontal_face_detector()
        self._shape = dlib.shape_predictor(models.pose_predictor_five_point_model_location())
        self._net = dlib.face_recognition_model_v1(models.face_recognition_model_location())

    def describe(self, image_rgb: np.ndarray) -> np.ndarray | None:
        image = np.ascontiguousarray(image_rgb, dtype=np.uint8)
        faces = self._detect(image, 1)
        if not faces:
            return None
        face = max(faces, key=lambda r: r.width() * r.height())
        return np.asarray(self._net.compute_face_descriptor(image, self._shape(image, face)), dtype=np.float64)


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
