"""Face feature extraction with dlib (through face_recognition's bundled models).

Recipe: decode -> detect faces with HOG on a downscaled copy (upsampling, then the CNN detector,
when none) -> choose the subject's face (the most central of similar-sized faces) -> 5-point
landmarks on the full-resolution image -> measure the face size -> aligned 150 px chip -> 128-d
ResNet embeddings of the chip and its mirror image, each unit-normalised, averaged ->
L2-normalise.
Thread-safe: each call borrows one of FACE_MODEL_SETS copies of the dlib models (a copy is
never used by two threads at once).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import cv2
import dlib
import numpy as np

from matchers import params
from matchers.errors import UnusableCapture
from matchers.images import decode_image
from matchers.templates import FaceTemplate


class _ModelSet:
    """One copy of the dlib models. dlib's networks keep per-call scratch state: two threads
    using one copy at once corrupt the heap (seen as segfaults under concurrent checks), so
    each copy is used by one thread at a time."""

    def __init__(self) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import face_recognition_models as frm
        self._frm = frm
        self.detector = dlib.get_frontal_face_detector()
        self.pose5 = dlib.shape_predictor(frm.pose_predictor_five_point_model_location())
        self.encoder = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
        self._cnn: dlib.cnn_face_detection_model_v1 | None = None

    @property
    def cnn(self) -> dlib.cnn_face_detection_model_v1:
        if self._cnn is None:
            location = self._frm.cnn_face_detector_model_location()
            self._cnn = dlib.cnn_face_detection_model_v1(location)
        return self._cnn


_pool: queue.LifoQueue[_ModelSet] = queue.LifoQueue()
_pool_lock = threading.Lock()
_pool_created = 0


@contextmanager
def _models() -> Iterator[_ModelSet]:
    """Borrow a model set; at most FACE_MODEL_SETS exist, so callers beyond that wait."""
    global _pool_created
    with _pool_lock:
        if _pool.empty() and _pool_created < params.FACE_MODEL_SETS:
            _pool_created += 1
            _pool.put(_ModelSet())
    models = _pool.get()
    try:
        yield models
    finally:
        _pool.put(models)


def warm_up() -> None:
    """Load one dlib model set now (about 0.5 s) rather than on the first request."""
    with _models():
        pass


def detect(rgb: np.ndarray, models: _ModelSet | None = None) -> list[dlib.rectangle]:
    """Face boxes in full-image coordinates, largest first."""
    if models is None:
        with _models() as borrowed:
            return detect(rgb, borrowed)
    h, w = rgb.shape[:2]
    if min(h, w) < params.FACE_MIN_IMAGE_SIDE:
        return []
    scale = min(1.0, params.FACE_DETECT_MAX_SIDE / max(h, w))
    scale = min(1.0, max(scale, params.FACE_MIN_IMAGE_SIDE / min(h, w)))
    # At least 1 px per side: a 2 x 5000 photo would otherwise give a 0-pixel side (cv2.error).
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = rgb if scale == 1.0 else cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    boxes = list(models.detector(small, 0))
    if not boxes:
        for upsample in range(1, params.FACE_DETECT_UPSAMPLE_FALLBACK + 1):
            boxes = list(models.detector(small, upsample))
            if boxes:
                break
    if not boxes and params.FACE_CNN_FALLBACK:
        # Hard cases (profile-ish, dark, occluded): dlib's CNN (MMOD) detector finds faces HOG
        # misses, at ~0.3 s on the downscaled copy; only paid when HOG found nothing.
        boxes = [d.rect for d in models.cnn(small, 1)]
    rects = [
        dlib.rectangle(
            round(b.left() / scale), round(b.top() / scale), round(b.right() / scale),
            round(b.bottom() / scale),
        )
        for b in boxes
    ]
    return sorted(rects, key=lambda r: r.area(), reverse=True)


def extract(
    image: bytes | None = None, *, rgb: np.ndarray | None = None, refuse_ambiguous: bool = False,
) -> FaceTemplate:
    """Embed the subject's face in a photo.

    When several faces of similar size are visible, the one nearest the image centre is the
    subject (officers frame the subject; LFW-style crops centre the labelled person); with
    ``refuse_ambiguous`` such a photo is refused instead.

    Raises UnusableCapture("unreadable_image" | "image_too_large" | "no_face" | "several_faces"
    | "face_too_small") with the measured quality. An OpenCV/dlib/codec error on a degenerate
    input (odd shape, dtype) is reported as "unreadable_image", never as a crash.
    """
    try:
        if rgb is None:
            if image is None:
                raise UnusableCapture("unreadable_image", "no face image given")
            rgb = decode_image(image, mode="RGB")
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
        raise UnusableCapture(
            "unreadable_image", f"the photo could not be processed: {exc}"
        ) from exc


def _embed(rgb: np.ndarray, models: _ModelSet, refuse_ambiguous: bool) -> FaceTemplate:
    boxes = detect(rgb, models)
    if not boxes:
        raise UnusableCapture(
            "no_face", "no face was found in the photo; take it again facing the camera",
            {"faces": 0, "width": rgb.shape[1], "height": rgb.shape[0]},
        )
    main = _subject_face(boxes, rgb.shape[1], rgb.shape[0], refuse_ambiguous)
    shape = models.pose5(rgb, main)
    # 5-point model: points 0-1 one eye's corners, 2-3 the other's, 4 under the nose.
    pts = np.array([[shape.part(i).x, shape.part(i).y] for i in range(5)], dtype=np.float64)
    inter_eye = float(np.linalg.norm(pts[0:2].mean(axis=0) - pts[2:4].mean(axis=0)))
    # A turned head shows its eyes closer together: the box width also measures the resolution.
    face_size = max(inter_eye, params.FACE_EYE_TO_BOX_RATIO * main.width())
    quality = {
        "faces": len(boxes),
        "inter_eye_px": round(inter_eye, 1),
        "face_size_px": round(face_size, 1),
        "face_box_px": [main.width(), main.height()],
        "sharpness": round(_sharpness(rgb, main), 1),
    }
    if face_size < params.FACE_MIN_INTER_EYE_PX:
        raise UnusableCapture(
            "face_too_small",
            f"the face is too small: {face_size:.0f} px between the eyes, at least "
            f"{params.FACE_MIN_INTER_EYE_PX:.0f} needed; move closer",
            quality,
        )
    return FaceTemplate(embedding=_descriptor(rgb, shape, models), quality=quality)


def _descriptor(
    rgb: np.ndarray, shape: dlib.full_object_detection, models: _ModelSet
) -> np.ndarray:
    """Embedding of the aligned face chip, averaged with its mirror image's (one batched call)."""
    chip = dlib.get_face_chip(
        rgb, shape, size=params.FACE_CHIP_SIZE, padding=params.FACE_CHIP_PADDING
    )
    chips = [chip]
    if params.FACE_MIRROR_AVERAGE:
        chips.append(np.ascontiguousarray(chip[:, ::-1]))
    out = np.array(
        models.encoder.compute_face_descriptor(chips, params.FACE_NUM_JITTERS), dtype=np.float64
    )
    out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
    return out.mean(axis=0).astype(np.float32)


def _subject_face(
    boxes: list[dlib.rectangle], width: int, height: int, refuse_ambiguous: bool = False,
) -> dlib.rectangle:
    """The face of the person photographed: the largest, unless another is nearly as large.

    With several similar-sized faces, a face framed in the centre while the others sit towards
    the edges is taken (a bystander behind the subject); otherwise the capture is ambiguous.
    """
    main = boxes[0]
    similar = [b for b in boxes if b.area() >= params.FACE_AMBIGUOUS_AREA_RATIO * main.area()]
    if len(similar) == 1:
        return main
    diagonal = float(np.hypot(width, height))

    def off_centre(b: dlib.rectangle) -> float:
        c = b.center()
        return float(np.hypot(c.x - width / 2, c.y - height / 2)) / diagonal

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
        f"{len(similar)} faces of similar size are in the photo; photograph one person",
        {"faces": len(boxes)},
    )


def _sharpness(rgb: np.ndarray, box: dlib.rectangle) -> float:
    h, w = rgb.shape[:2]
    crop = rgb[max(0, box.top()):min(h, box.bottom()), max(0, box.left()):min(w, box.right())]
    if crop.size == 0:
        return 0.0
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())
