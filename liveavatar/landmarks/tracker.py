"""Face landmarks from mediapipe's face mesh, as the paper's 68 points plus the 468-point mesh.

mediapipe is imported when a FaceTracker is built, so importing this module needs no mediapipe.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import cv2
import numpy as np

from liveavatar.errors import InputError, NoFaceError
from liveavatar.landmarks.mesh68 import MESH_POINTS, mesh_to_68
from liveavatar.types import FaceLandmarks

# mediapipe's detector and mesh run on 128-192 px inputs, so detail beyond this adds nothing but
# conversion time; huge photos (e.g. 3511×3511) are shrunk for detection and points scaled back.
MAX_DETECTION_SIDE = 1280
SILENCED_FRAMES_MAX = 150  # ~5 s of camera: beyond it a warning may show rather than hide other output
# Frames still silenced after the first face: mediapipe's models load on their own graph threads, and one of
# them can print its "Feedback manager" line just after the frame that started it has returned (one such line
# reached the console of the app's first start, once in a whole test-suite run).
SILENCED_AFTER_FACE = 5
PORTRAIT_MAX_FACES = 16  # faces counted in a portrait (a group photo gets an honest count)
LOW_DETECTION_CONFIDENCE = 0.2
# Iris centres in mediapipe's refined mesh: the subject's right (next to mesh 33/133), then left.
IRIS_CENTRES = (468, 473)
IRIS_RIMS = ((469, 470, 471, 472), (474, 475, 476, 477))  # each iris's four rim points, in the same order


@dataclass(frozen=True)
class _Attempt:
    half_scale: bool
    grayscale: bool
    low_confidence: bool

    def describe(self) -> str:
        parts = [
            name
            for name, on in (
                ("half scale", self.half_scale),
                ("grayscale", self.grayscale),
                ("low detection confidence", self.low_confidence),
            )
            if on
        ]
        return ", ".join(parts) if parts else "default settings"


# Cheapest first; each retry changes what the detector sees (blur, no colour cast on paintings, lower bar).
_RETRIES: tuple[_Attempt, ...] = (
    _Attempt(True, False, False),
    _Attempt(False, True, False),
    _Attempt(False, False, True),
    _Attempt(True, True, False),
    _Attempt(True, False, True),
    _Attempt(False, True, True),
    _Attempt(True, True, True),
)
_DEFAULT = _Attempt(False, False, False)
RETRIES_TRIED = "tried full and half scale, grayscale, low confidence"


@dataclass(frozen=True)
class TrackResult:
    """What one call of FaceTracker.track found.

    landmarks: the largest face's landmarks in the input image's pixels (pixel centres at integer
        coordinates, as cv2 draws and warps), or None.
    num_faces: how many faces the mesh found (0 when landmarks is None).
    message: one line for the user, e.g. "no face", "1 face", "3 faces; using the largest".
    """

    landmarks: FaceLandmarks | None
    num_faces: int
    message: str


def validate_image(image_rgb: Any, what: str = "image") -> np.ndarray:
    """Checks that `image_rgb` is an H×W×3 uint8 RGB array; returns it C-contiguous."""
    if not isinstance(image_rgb, np.ndarray):
        raise InputError(f"{what}: expected an H×W×3 uint8 RGB numpy array, got {type(image_rgb).__name__}")
    if image_rgb.dtype != np.uint8 or image_rgb.ndim != 3 or image_rgb.shape[2] != 3:
        got = f"{image_rgb.dtype} array of shape {image_rgb.shape}"
        raise InputError(f"{what}: expected an H×W×3 uint8 RGB array, got {got}")
    if image_rgb.shape[0] < 2 or image_rgb.shape[1] < 2:
        raise InputError(f"{what}: image of shape {image_rgb.shape} is too small to hold a face")
    return np.ascontiguousarray(image_rgb)


class FaceTracker:
    """mediapipe face mesh (468 points) → 68-point FaceLandmarks of the largest face.

    irises=True runs mediapipe's refined mesh (478 points: the 468 plus five per iris) and fills
    FaceLandmarks.irises with the two iris centres; it also refines the eye and lip contours a little.
    It costs about 0.1 ms a frame more (measured in docs/EXPRESSION.md); the live path uses it for gaze.
    Portraits, training data and evaluation keep the plain mesh, so avatars and shards do not change.

    mode "video": frames of one stream; the mesh tracks between frames (fast, temporally stable).
    mode "image": unrelated stills; each call detects afresh and, if nothing is found at the default
    settings, retries at half scale, in grayscale and with a low detection confidence, and combinations.
    With one face expected (the live path), max_faces=1 is faster: mediapipe keeps running its detector
    on every frame while fewer than max_faces faces are tracked.
    Not thread-safe: use one tracker per thread. Call close() or use it as a context manager.
    """

    def __init__(
        self,
        mode: Literal["video", "image"],
        max_faces: int = 4,
        min_detection_confidence: float = 0.5,
        min_tracking_confidence: float = 0.5,
        irises: bool = False,
    ) -> None:
        if mode not in ("video", "image"):
            raise ValueError(f"mode must be 'video' or 'image', got {mode!r}")
        if max_faces < 1:
            raise ValueError(f"max_faces must be at least 1, got {max_faces}")
        # mediapipe's native logging (absl, TFLite) writes several lines to stderr per graph; users only
        # need our messages. setdefault keeps any level a user set on purpose.
        os.environ.setdefault("GLOG_minloglevel", "2")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import mediapipe as mp  # lazily: the package must import without mediapipe

        self._face_mesh_cls = mp.solutions.face_mesh.FaceMesh
        self.mode = mode
        self.max_faces = max_faces
        self.min_detection_confidence = min_detection_confidence
        self.min_tracking_confidence = min_tracking_confidence
        self.irises = irises
        self._meshes: dict[bool, Any] = {}  # low_confidence → mediapipe FaceMesh, built on first use
        # meshes whose graph has not yet seen a face → frames still silenced (it logs when its models load)
        self._unstarted: dict[bool, int] = {}
        self._closed = False

    def _mesh(self, low_confidence: bool) -> Any:
        if self._closed:
            raise RuntimeError("FaceTracker is closed")
        mesh = self._meshes.get(low_confidence)
        if mesh is None:
            confidence = self.min_detection_confidence
            if low_confidence:
                confidence = min(confidence, LOW_DETECTION_CONFIDENCE)
            if self.mode == "video":
                _spend_first_projection_warning(self._face_mesh_cls, self.irises)
            with _native_stderr_silenced():
                mesh = self._face_mesh_cls(
                    static_image_mode=self.mode == "image",
                    max_num_faces=self.max_faces,
                    refine_landmarks=self.irises,
                    min_detection_confidence=confidence,
                    min_tracking_confidence=self.min_tracking_confidence,
                )
                _wait_until_opened(mesh)
            self._meshes[low_confidence] = mesh
            self._unstarted[low_confidence] = SILENCED_FRAMES_MAX
        return mesh

    def track(self, image_rgb: np.ndarray) -> TrackResult:
        """Finds faces in one H×W×3 uint8 RGB image; returns the largest one's landmarks in its pixels."""
        image = validate_image(image_rgb)
        height, width = image.shape[:2]
        scale = min(1.0, MAX_DETECTION_SIDE / max(height, width))
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)

        attempts = (_DEFAULT,) + (_RETRIES if self.mode == "image" else ())
        for attempt in attempts:
            meshes = self._run(image, attempt)
            if meshes:
                break
        else:
            return TrackResult(None, 0, "no face")

        # Normalised coordinates are the same at every detection scale: map them straight to the caller's
        # pixels, moving from mediapipe's pixel-edge convention (x·width) to cv2's pixel centres at integers.
        to_px = np.array([width, height, width], np.float32)
        meshes = [m * to_px - np.array([0.5, 0.5, 0.0], np.float32) for m in meshes]
        areas = [float(np.prod(m[:, :2].max(0) - m[:, :2].min(0))) for m in meshes]
        mesh = meshes[int(np.argmax(areas))]
        irises = radii = None
        if mesh.shape[0] > IRIS_CENTRES[1]:  # refined: 468 mesh points, then 5 per iris (centre first)
            irises = np.ascontiguousarray(mesh[list(IRIS_CENTRES)])
            rims = mesh[np.asarray(IRIS_RIMS), :2]  # 2×4×2
            radii = np.linalg.norm(rims - irises[:, None, :2], axis=2).mean(axis=1).astype(np.float32)
            mesh = np.ascontiguousarray(mesh[:MESH_POINTS])
        landmarks = FaceLandmarks(mesh_to_68(mesh), (width, height), mesh=mesh, irises=irises, iris_radii=radii)

        count = len(meshes)
        message = "1 face" if count == 1 else f"{count} faces; using the largest"
        if attempt is not _DEFAULT:
            message += f" (found with {attempt.describe()})"
        return TrackResult(landmarks, count, message)

    def _run(self, image: np.ndarray, attempt: _Attempt) -> list[np.ndarray]:
        """One mediapipe pass; each face's 468×3 float32 mesh in normalised coordinates.

        x and y are fractions of the image width and height; z is scaled roughly like x (mediapipe's
        convention), smaller z nearer the camera.
        """
        if attempt.half_scale:
            half = (max(1, image.shape[1] // 2), max(1, image.shape[0] // 2))
            image = cv2.resize(image, half, interpolation=cv2.INTER_AREA)
        if attempt.grayscale:
            image = cv2.cvtColor(cv2.cvtColor(image, cv2.COLOR_RGB2GRAY), cv2.COLOR_GRAY2RGB)
        mesh = self._mesh(attempt.low_confidence)
        left = self._unstarted.get(attempt.low_confidence, 0)
        if left:
            # The graph starts, and logs its warnings, on its first frame, and the landmark and iris models
            # load, logging theirs ("Feedback manager …"), on its first detection: for a camera that starts
            # on an empty room (or a clip on a faceless frame), that is a later frame. So frames stay
            # silenced until the first face and SILENCED_AFTER_FACE frames after it, for at most
            # SILENCED_FRAMES_MAX frames.
            with _native_stderr_silenced():
                result = mesh.process(image)
            if result.multi_face_landmarks and left > SILENCED_AFTER_FACE:
                left = SILENCED_AFTER_FACE + 1
            self._unstarted[attempt.low_confidence] = left - 1
        else:
            result = mesh.process(image)
        if not result.multi_face_landmarks:
            return []
        return [np.array([(p.x, p.y, p.z) for p in face.landmark], np.float32) for face in result.multi_face_landmarks]

    def close(self) -> None:
        for mesh in self._meshes.values():
            mesh.close()
        self._meshes.clear()
        self._closed = True

    def __enter__(self) -> FaceTracker:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_STDERR_LOCK = threading.Lock()
_FIRST_PROJECTION_LOCK = threading.Lock()
_first_projection_spent: set[bool] = set()  # the refine_landmarks settings whose warnings are spent


def _spend_first_projection_warning(face_mesh_cls: Any, refine_landmarks: bool) -> None:
    """Once per process and mesh kind, runs the face mesh on the sample portrait with native stderr silenced.

    mediapipe logs "Using NORM_RECT without IMAGE_DIMENSIONS is only supported for the square ROI" the
    first time any graph in the process projects landmarks, i.e. on the first frame that shows a face.
    In video mode that can be minutes after the graph started (a camera before the user sits down), far
    outside the silenced start-up window, so users saw it. It comes from the configuration of mediapipe's
    own face-mesh graph (the legacy solution never passes IMAGE_DIMENSIONS), which nothing we call can
    change; the landmarks are what that solution gives everyone. Spending the one-time warning here, on a
    known face, keeps stderr untouched afterwards. Without the sample (no matplotlib), the graph's own
    first-frame window is all that is silenced. The refined mesh (irises) has a warning of its own on its
    first face ("Feedback manager requires a model with a single signature"), so each kind is spent apart.
    """
    with _FIRST_PROJECTION_LOCK:
        if refine_landmarks in _first_projection_spent:
            return
        _first_projection_spent.add(refine_landmarks)
        from liveavatar.errors import LiveAvatarError
        from liveavatar.sample import sample_portrait

        try:
            bgr = cv2.imread(str(sample_portrait()), cv2.IMREAD_COLOR)
        except LiveAvatarError:
            return
        if bgr is None:
            return
        with _native_stderr_silenced():
            with face_mesh_cls(static_image_mode=True, max_num_faces=1, refine_landmarks=refine_landmarks) as mesh:
                mesh.process(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def _wait_until_opened(mesh: Any) -> None:
    """Returns once the graph's calculators have opened on mediapipe's own threads, where its models load and
    log ("Feedback manager …"): the constructor returns as soon as the graph is started, and under load those
    threads wrote their lines after the silenced window had closed (4 and 5 of 20 first starts of the app on a
    busy machine, in two loops, the lines stamped inside the window; 0 of 28 with this wait)."""
    graph = getattr(mesh, "_graph", None)  # mediapipe's SolutionBase keeps its CalculatorGraph here
    if graph is not None:
        graph.wait_until_idle()


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Sends file descriptor 2 to /dev/null while mediapipe builds and starts a graph.

    Its C++ side prints warnings there (XNNPACK delegate, "feedback manager", NORM_RECT projection) before
    absl logging is initialised, so GLOG_minloglevel cannot reach them, and users would see them on every
    command. The window is one graph start; Python's own sys.stderr is flushed around it.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        yield  # stderr is not a real file (captured, redirected in-process): nothing native to silence
        return
    with _STDERR_LOCK:
        sys.stderr.flush()
        saved = os.dup(fd)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, fd)
        try:
            yield
        finally:
            os.dup2(saved, fd)
            os.close(saved)
            os.close(devnull)


def detect_portrait(image_rgb: np.ndarray, name: str) -> tuple[FaceLandmarks, str]:
    """Landmarks of the face in a portrait (H×W×3 uint8 RGB), trying harder than a video frame would.

    name: the file name shown to the user. Returns the landmarks of the largest face and a one-line
    message (e.g. "2 faces in x.jpg; using the largest"), empty for one face found at default settings.
    Raises NoFaceError naming the file and what to do.
    """
    # Counted up to PORTRAIT_MAX_FACES, not the live default of 4: a group photo of 9 was reported as 4.
    with FaceTracker("image", max_faces=PORTRAIT_MAX_FACES) as tracker:
        result = tracker.track(validate_image(image_rgb, name))
    if result.landmarks is None:
        raise NoFaceError(
            f"no face found in {name} ({RETRIES_TRIED}); use a portrait where the face is frontal, "
            "unobstructed and at least ~100 px wide"
        )
    if result.message == "1 face":
        return result.landmarks, ""  # the ordinary case: nothing worth telling the user
    count = "1 face" if result.num_faces == 1 else f"{result.num_faces} faces"
    message = result.message.removeprefix(count)
    if result.num_faces >= PORTRAIT_MAX_FACES:
        count = f"at least {count}"
    return result.landmarks, f"{count} in {name}" + message
