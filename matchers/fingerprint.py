"""Fingerprint feature extraction: NBIS mindtct minutiae and NFIQ 2 quality via nbis-py.

Images are decoded with Pillow (WSQ through the ``wsq`` plugin), resampled to 500 ppi when the
capture says otherwise, and handed to NBIS as PNG. ``extract`` is thread-safe: each thread gets
its own NBIS extractor (the native handle is not documented as shareable).
"""

from __future__ import annotations

import math
import threading

import cv2
import nbis
import numpy as np

from matchers import params
from matchers.errors import UnusableCapture
from matchers.images import decode_image
from matchers.templates import FingerprintTemplate

# The extractor that made a fingerprint template, stored with it (BiometricTemplate.model):
# templates of another extractor are not searched. Change it when the minutiae change.
EXTRACTOR_ID = "nbis-mindtct"

_local = threading.local()


def _extractor(nfiq2: bool = True) -> nbis.NbisExtractor:
    name = "extractor" if nfiq2 else "extractor_no_nfiq2"
    ex = getattr(_local, name, None)
    if ex is None:
        settings = nbis.NbisExtractorSettings(
            min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=nfiq2,
            ppi=None,
        )
        ex = nbis.new_nbis_extractor(settings)
        setattr(_local, name, ex)
    return ex


def to_500ppi(pixels: np.ndarray, ppi: int) -> np.ndarray:
    """Resample a greyscale print to 500 ppi (NBIS and NFIQ 2 are defined at 500 ppi)."""
    if ppi <= 0:
        raise UnusableCapture("bad_resolution", f"resolution must be positive, got {ppi} ppi")
    if ppi == params.FINGER_TARGET_PPI:
        return pixels
    scale = params.FINGER_TARGET_PPI / ppi
    h, w = pixels.shape[:2]
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(pixels, size, interpolation=interp)


def extract(
    image: bytes | None = None, *, pixels: np.ndarray | None = None, ppi: int = 500,
    position: int = 0,
) -> FingerprintTemplate:
    """Extract minutiae and NFIQ 2 from an encoded image or a greyscale array.

    Raises UnusableCapture("unreadable_image" | "image_too_small" | "image_too_large" |
    "bad_resolution" | "too_few_minutiae") with the measured quality. An OpenCV/NBIS/codec
    error on a degenerate input (odd shape, dtype) is reported as "unreadable_image".
    """
    try:
        return _extract(image, pixels, ppi, position)
    except UnusableCapture:
        raise
    except (cv2.error, nbis.NbisError, RuntimeError, ValueError, TypeError, MemoryError) as exc:
        raise UnusableCapture(
            "unreadable_image", f"the print could not be processed: {exc}"
        ) from exc


def _extract(
    image: bytes | None, pixels: np.ndarray | None, ppi: int, position: int
) -> FingerprintTemplate:
    if pixels is None:
        if image is None:
            raise UnusableCapture("unreadable_image", "no fingerprint image given")
        pixels = decode_image(image, mode="L")
    pixels = np.asarray(pixels, dtype=np.uint8)
    if pixels.ndim != 2 or min(pixels.shape) < 1:
        raise UnusableCapture(
            "unreadable_image", f"expected a greyscale image, got an array of shape {pixels.shape}"
        )
    pixels = to_500ppi(pixels, ppi)
    h, w = pixels.shape[:2]
    if min(h, w) < 64:
        raise UnusableCapture(
            "image_too_small", f"the print is {w}x{h} px at 500 ppi; at least 64x64 is needed",
            {"width": w, "height": h},
        )
    if max(h, w) > params.FINGER_MAX_SIDE:
        raise UnusableCapture(
            "image_too_large",
            f"the print is {w}x{h} px at 500 ppi; a finger is at most {params.FINGER_MAX_SIDE} px",
            {"width": w, "height": h},
        )
    ok, png = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        raise UnusableCapture("unreadable_image", "could not re-encode the print")
    nfiq2: int | None
    try:
        found = _extractor().extract_minutiae(png.tobytes())
        nfiq2 = int(found.quality().score)
    except nbis.NbisError:
        # NFIQ 2 fails on nearly blank prints (FVC2000 DB1 finger 110): still give the minutiae
        # (possibly none) so the caller sees a degenerate template instead of an error, and
        # report the quality as unknown.
        try:
            found = _extractor(nfiq2=False).extract_minutiae(png.tobytes())
        except nbis.NbisError as exc:
            raise UnusableCapture(
                "unreadable_image", f"NBIS could not process the print: {exc}"
            ) from exc
        nfiq2 = None
    minutiae = np.array(
        [[m.x(), m.y(), math.radians(m.angle()), m.reliability()] for m in found.get()],
        dtype=np.float32,
    ).reshape(-1, 4)
    return FingerprintTemplate(minutiae=minutiae, width=w, height=h, position=position, nfiq2=nfiq2)
