"""Face feature extraction with OpenCV: YuNet detection + SFace embedding (OpenCV model zoo).

Recipe: decode (EXIF orientation applied) -> YuNet on a copy whose long side is at most
FACE_DETECT_MAX_SIDE (faces down to FACE_DETECT_RETRY_SCORE, the confident ones of
FACE_DETECT_SCORE preferred; without a confident face the three other quarter turns are tried,
for a device held sideways) -> choose
the subject's face (the most central of similar-sized faces) -> its five landmarks mapped back
to the full-resolution image -> measure face size, detector score and sharpness -> SFace
``alignCrop`` on the full image (112 px chip) -> 128-d SFace feature -> L2-normalise.

The two model files ship in ``matchers/data/models`` (licences beside them, provenance in
THIRD_PARTY_NOTICES.md); their sha256 is checked before OpenCV reads them.

Thread-safety: OpenCV's FaceDetectorYN, FaceRecognizerSF and dnn.Net keep per-call state (two
threads sharing one give wrong embeddings, silently), so each call borrows one of
FACE_MODEL_SETS model sets, never used by two threads at once.
"""

from __future__ import annotations

import functools
import hashlib
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from matchers import params
from matchers.errors import UnusableCapture
from matchers.images import decode_image
from matchers.templates import FaceTemplate

# The model that made a face template. Stored with every template (BiometricTemplate.model):
# embeddings of different models are never compared. Change it whenever a model file or the
# recipe above changes the embedding.
MODEL_ID = "yunet2023mar+sface2021dec-int8bq"
# Templates enrolled before the model column existed were made by dlib's ResNet.
LEGACY_MODEL_ID = "dlib-resnet-v1"

MODEL_DIR = Path(__file__).parent / "data" / "models"
DETECTOR_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
RECOGNISER_FILE = "face_recognition_sface_2021dec_int8bq.onnx"
MODEL_SHA256 = {
    DETECTOR_FILE: "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10",
    RECOGNISER_FILE: "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee",
}


class ModelFileError(RuntimeError):
    """A model file is missing or not the one whose licence and accuracy were checked."""


@functools.cache
def model_path(name: str) -> str:
    """Path of a shipped model file, after checking its sha256 (once per process)."""
    path = MODEL_DIR / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise ModelFileError(f"face model file {path} cannot be read: {exc}") from exc
    if digest != MODEL_SHA256[name]:
        raise ModelFileError(
            f"face model file {path} has sha256 {digest}, expected {MODEL_SHA256[name]}; "
            "reinstall FieldCheck (the file is damaged or was replaced)"
        )
    return str(path)


@dataclass(frozen=True)
class Face:
    """One detected face in full-image pixels: box, five landmarks, detector score.

    Landmarks (YuNet order): the subject's right eye, left eye, nose tip, right and left mouth
    corners (the right eye is on the image's left in a frontal photo).
    """

    box: tuple[float, float, float, float]  # x, y, width, height
    landmarks: np.ndarray  # (5, 2) float32
    score: float

    @property
    def area(self) -> float:
        return self.box[2] * self.box[3]

    @property
    def centre(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return x + w / 2, y + h / 2

    @property
    def inter_eye(self) -> float:
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))

    def row(self) -> np.ndarray:
        """The 15-value row OpenCV's FaceRecognizerSF.alignCrop takes."""
        return np.concatenate(
            [np.array(self.box, np.float32), self.landmarks.reshape(-1), [self.score]]
        ).astype(np.float32).reshape(1, 15)


class _ModelSet:
    """One YuNet detector, one FaceRecognizerSF (for alignCrop) and one SFace network."""

    def __init__(self) -> None:
        detector_path = model_path(DETECTOR_FILE)
        recogniser_path = model_path(RECOGNISER_FILE)
        # Loading warns, once per network, that OpenCV's new graph engine ignores target
        # settings (it runs on the CPU, as wanted): not worth a line in the gateway's log.
        level = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
        try:
            self.detector = cv2.FaceDetectorYN.create(
                detector_path, "", (320, 320), params.FACE_DETECT_SCORE,
                params.FACE_DETECT_NMS, params.FACE_DETECT_TOP_K,
            )
            self.aligner = cv2.FaceRecognizerSF.create(recogniser_path, "")
            # OpenCV 5.0: FaceRecognizerSF.feature() fails on this int8 file (stale graph
            # inputs); the new graph engine runs it, fed through its named input.
            self.net = cv2.dnn.readNetFromONNX(recogniser_path, cv2.dnn.ENGINE_NEW)
        finally:
            cv2.utils.logging.setLogLevel(level)


_pool: queue.LifoQueue[_ModelSet] = queue.LifoQueue()
_pool_lock = threading.Lock()
_pool_created = 0


@contextmanager
def _models() -> Iterator[_ModelSet]:
    """Borrow a model set; at most FACE_MODEL_SETS exist, so callers beyond that wait."""
    global _pool_created
    with _pool_lock:
        if _pool.empty() and _pool_created < params.FACE_MODEL_SETS:
            _pool.put(_ModelSet())
            _pool_created += 1
    models = _pool.get()
    try:
        yield models
    finally:
        _pool.put(models)


def warm_up() -> None:
    """Check the model files and load one model set now rather than on the first request."""
    with _models():
        pass


def detect(rgb: np.ndarray, models: _ModelSet | None = None) -> list[Face]:
    """Faces in full-image coordinates, largest first: those of score >= FACE_DETECT_SCORE, or
    down to FACE_DETECT_RETRY_SCORE when a weaker face is the largest (or the only ones)."""
    if models is None:
        with _models() as borrowed:
            return detect(rgb, borrowed)
    h, w = rgb.shape[:2]
    if min(h, w) < params.FACE_MIN_IMAGE_SIDE:
        return []
    # YuNet is trained on 10-300 px faces: a multi-megapixel photo is searched downscaled.
    scale = min(1.0, params.FACE_DETECT_MAX_SIDE / max(h, w))
    scale = min(1.0, max(scale, params.FACE_MIN_IMAGE_SIDE / min(h, w)))
    # At least 1 px per side: a 2 x 5000 photo would otherwise give a 0-pixel side (cv2.error).
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bgr = cv2.cvtColor(small, cv2.COLOR_RGB2BGR)  # YuNet was trained on BGR input
    models.detector.setInputSize((bgr.shape[1], bgr.shape[0]))
    # One pass at the lower threshold, the confident faces kept when there are any. A second
    # pass only when nothing reached the first threshold would miss a subject that scores 0.89
    # while a small background face scores 0.92 (LFW Ariel_Sharon_0004): the confident-only list
    # is used only when it holds a face at least as large as every weaker one.
    models.detector.setScoreThreshold(params.FACE_DETECT_RETRY_SCORE)
    _, rows = models.detector.detect(bgr)
    if rows is None or not len(rows):
        return []
    confident = rows[rows[:, 14] >= params.FACE_DETECT_SCORE]
    if len(confident) and confident[:, 2:4].prod(axis=1).max() >= rows[:, 2:4].prod(axis=1).max():
        rows = confident
    sx, sy = w / bgr.shape[1], h / bgr.shape[0]
    faces = []
    for r in rows:
        if not np.all(np.isfinite(r)) or r[2] <= 0 or r[3] <= 0:
            continue
        landmarks = (r[4:14].reshape(5, 2) * (sx, sy)).astype(np.float32)
        faces.append(Face(
            (float(r[0] * sx), float(r[1] * sy), float(r[2] * sx), float(r[3] * sy)),
            landmarks, float(r[14]),
        ))
    return sorted(faces, key=lambda f: f.area, reverse=True)


# Quarter turns tried when the photo as decoded shows no confident face (cv2.rotate codes).
_TURNS: tuple[tuple[int, int | None], ...] = (
    (0, None),
    (90, cv2.ROTATE_90_CLOCKWISE),
    (270, cv2.ROTATE_90_COUNTERCLOCKWISE),
    (180, cv2.ROTATE_180),
)


def extract(
    image: bytes | None = None, *, rgb: np.ndarray | None = None, refuse_ambiguous: bool = False,
) -> FaceTemplate:
    """Embed the subject's face in a photo.

    When several faces of similar size are visible, the one nearest the image centre is the
    subject (officers frame the subject; LFW-style crops centre the labelled person); with
    ``refuse_ambiguous`` such a photo is refused instead.

    Raises UnusableCapture("unreadable_image" | "image_too_large" | "no_face" | "several_faces"
    | "face_too_small" | "face_blurred") with the measured quality and, in the message, what to
    do. An OpenCV error on a degenerate input (odd shape, dtype) is reported as
    "unreadable_image", never as a crash.
    """
    try:
        if rgb is None:
            if image is None:
                raise UnusableCapture("unreadable_image", "no face image given")
            rgb = decode_image(
                image, mode="RGB", max_pixels=params.FACE_MAX_PIXELS,
                reduce_to=params.FACE_DECODE_PIXELS,
                max_unreduced=params.FACE_MAX_PIXELS_UNREDUCED,
            )
        rgb = np.asarray(rgb)
        if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
            raise UnusableCapture(
                "unreadable_image",
                f"expected an 8-bit RGB image, got a {rgb.dtype} array of shape {rgb.shape}",
            )
        rgb = np.ascontiguousarray(rgb)
        with _models() as models:
            return _embed(rgb, models, refuse_ambiguous)
    except UnusableCapture:
        raise
    except (cv2.error, RuntimeError, ValueError, TypeError, MemoryError) as exc:
        if isinstance(exc, ModelFileError):
            raise  # an installation fault, not the photo's: never blamed on the capture
        raise UnusableCapture(
            "unreadable_image", f"the photo could not be processed: {exc}"
        ) from exc


def _embed(rgb: np.ndarray, models: _ModelSet, refuse_ambiguous: bool) -> FaceTemplate:
    # A photo of a person lying on its side (device held sideways, no EXIF tag) shows no face or
    # only a weak false one; then the other quarter turns are tried. YuNet also finds upside-down
    # faces with scores like upright ones (LFW Richard_Gere_0001 turned: 0.895 upright, 0.892
    # upside down), so the turn kept is the one whose face gives the strongest SFace feature:
    # its norm is ~10-12 for an upright face and ~4-7 for a turned or false one.
    best: tuple[float, int, np.ndarray, list[Face], Face, np.ndarray, np.ndarray] | None = None
    for turn, code in _TURNS:
        turned = rgb if code is None else np.ascontiguousarray(cv2.rotate(rgb, code))
        faces = detect(turned, models)
        if not faces:
            continue
        height, width = turned.shape[:2]
        main = _subject_face(faces, width, height, refuse_ambiguous)
        chip = models.aligner.alignCrop(cv2.cvtColor(turned, cv2.COLOR_RGB2BGR), main.row())
        feature = _feature(chip, models)
        norm = float(np.linalg.norm(feature))
        if best is None or norm > best[0]:
            best = (norm, turn, turned, faces, main, chip, feature)
        if turn == 0 and main.score >= params.FACE_DETECT_SCORE:
            break  # a confident face in the photo as decoded: nothing to turn
    if best is None:
        raise UnusableCapture(
            "no_face",
            "no face was found in the photo: photograph the person's face from the front, "
            "filling about a third of the frame, in even light",
            {"faces": 0, "width": rgb.shape[1], "height": rgb.shape[0]},
        )
    norm, degrees, turned, faces, main, chip, feature = best
    inter_eye = main.inter_eye
    # A turned head shows its eyes closer together than its resolution warrants: the box width
    # also measures the resolution.
    face_size = max(inter_eye, params.FACE_EYE_TO_BOX_RATIO * main.box[2])
    quality: dict[str, Any] = {
        "faces": len(faces),
        "inter_eye_px": round(inter_eye, 1),
        "face_size_px": round(face_size, 1),
        "face_box_px": [round(main.box[2]), round(main.box[3])],
        "detector_score": round(main.score, 3),
        "sharpness": round(_sharpness(chip), 1),
        "feature_norm": round(norm, 2),
    }
    if degrees:
        quality["rotated_deg"] = degrees
    if face_size < params.FACE_MIN_INTER_EYE_PX:
        raise UnusableCapture(
            "face_too_small",
            f"the face is too small: {face_size:.0f} px between the eyes, at least "
            f"{params.FACE_MIN_INTER_EYE_PX:.0f} needed: move closer so the face fills about "
            "a third of the frame",
            quality,
        )
    if quality["sharpness"] < params.FACE_MIN_SHARPNESS:
        raise UnusableCapture(
            "face_blurred",
            f"the face is blurred (sharpness {quality['sharpness']:.0f}, at least "
            f"{params.FACE_MIN_SHARPNESS:.0f} needed): hold the device still, let it focus on "
            "the face and take the photo again",
            quality,
        )
    return FaceTemplate(embedding=feature, quality=quality)


def _feature(chip_bgr: np.ndarray, models: _ModelSet) -> np.ndarray:
    """SFace's raw 128-d feature of an aligned 112 x 112 BGR chip (the network takes RGB);
    FaceTemplate normalises it."""
    blob = cv2.dnn.blobFromImage(chip_bgr, 1.0, (112, 112), (0, 0, 0), swapRB=True, crop=False)
    models.net.setInput(blob, "data")
    return np.asarray(models.net.forward(), dtype=np.float32).reshape(-1)


def _subject_face(
    faces: list[Face], width: int, height: int, refuse_ambiguous: bool = False,
) -> Face:
    """The face of the person photographed: the largest, unless another is nearly as large.

    With several similar-sized faces, a face framed in the centre while the others sit towards
    the edges is taken (a bystander behind the subject); otherwise the capture is ambiguous.
    """
    main = faces[0]
    similar = [f for f in faces if f.area >= params.FACE_AMBIGUOUS_AREA_RATIO * main.area]
    if len(similar) == 1:
        return main
    diagonal = float(np.hypot(width, height))

    def off_centre(f: Face) -> float:
        cx, cy = f.centre
        return float(np.hypot(cx - width / 2, cy - height / 2)) / diagonal

    ranked = sorted(similar, key=off_centre)
    if not refuse_ambiguous or (
        off_centre(ranked[0]) <= params.FACE_CENTRED_MAX
        and off_centre(ranked[1]) >= params.FACE_OFF_CENTRE_MIN
    ):
        # Not refusing by default: a visible face must give a template (issue 7); the most
        # central face is the subject the officer framed.
        return ranked[0]
    raise UnusableCapture(
        "several_faces",
        f"{len(similar)} faces of similar size are in the photo: photograph the person alone, "
        "with nobody beside them",
        {"faces": len(faces)},
    )


def _sharpness(chip_bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the aligned chip: the same 112 px scale for every photo,
    so the number does not grow with the camera's resolution."""
    grey = cv2.cvtColor(chip_bgr, cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
