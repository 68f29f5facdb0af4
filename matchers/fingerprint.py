"""Fingerprint feature extraction: LEADER minutiae (onnxruntime) and NFIQ 2 quality (nbis-py).

Recipe: decode (Pillow; WSQ is decoded out of process before it gets here) -> the capture's
resolution (the request's, else the image's own, else 500 ppi) -> refuse below
``FINGER_MIN_PPI`` -> resample to 500 ppi -> LEADER minutiae on the finger's foreground
(``matchers.leader``) -> NFIQ 2 from NBIS (None when it cannot be computed: unknown, not low).

``EXTRACTOR_ID`` names the minutiae extractor + matcher; templates made by another extractor
(NBIS mindtct before issue 12) are not comparable and are reported for re-enrolment.
``extract`` is thread-safe: the LEADER session is shared (onnxruntime's ``run`` is thread-safe
and releases the GIL) and each thread gets its own NBIS handle (not documented as shareable).
``extract(..., minutiae_from="mindtct")`` keeps NBIS mindtct minutiae for the NBIS baseline of
``fieldcheck evaluate``.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import Executor, Future

import cv2
import nbis
import numpy as np

from matchers import leader, params
from matchers.errors import UnusableCapture
from matchers.images import declared_ppi, decode_image
from matchers.templates import FingerprintTemplate

# The extractor that made a fingerprint template, stored with it (BiometricTemplate.model):
# templates of another extractor are not searched. Change it when the minutiae change
# ("nbis-mindtct" before issue 12, "leader-2026+mcc" while LEADER's score cut was 0.55 and
# at most 150 minutiae: those templates are reported for re-enrolment).
EXTRACTOR_ID = "leader-2026-min0.1+mcc"

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


def capture_ppi(image: bytes | None, ppi: int | None) -> tuple[int, str]:
    """The capture's resolution and where it came from: the request's value when given, else
    the one the image file declares (PNG pHYs, TIFF, JFIF; implausible values ignored), else
    the 500 ppi of a standard finger sensor."""
    if ppi is not None:
        return int(ppi), "request"
    found = declared_ppi(image) if image is not None else None
    if found is not None:
        return found, "image_header"
    return params.FINGER_TARGET_PPI, "default"


def extract(
    image: bytes | None = None, *, pixels: np.ndarray | None = None, ppi: int | None = None,
    position: int = 0, minutiae_from: str = "leader",
) -> FingerprintTemplate:
    """Extract minutiae and NFIQ 2 from an encoded image or a greyscale array.

    ``ppi``: the capture's resolution as the request states it; None uses the image file's own
    (``capture_ppi``). Raises UnusableCapture("unreadable_image" | "image_too_small" |
    "image_too_large" | "bad_resolution" | "resolution_too_low") with the measured quality.
    An OpenCV/NBIS/codec error on a degenerate input (odd shape, dtype) is reported as
    "unreadable_image". NFIQ 2 that cannot be computed is ``nfiq2=None`` (unknown), not low.
    """
    try:
        px, ppi_used, source = prepare(image, pixels, ppi)
        return _extract(px, ppi_used, source, position, minutiae_from)
    except UnusableCapture:
        raise
    except _ERRORS as exc:
        raise UnusableCapture(
            "unreadable_image", f"the print could not be processed: {exc}"
        ) from exc


def prepare(
    image: bytes | None, pixels: np.ndarray | None, request_ppi: int | None
) -> tuple[np.ndarray, int, str]:
    """Decoded 500 ppi greyscale print, the capture's resolution and its source; raises
    UnusableCapture for what no extractor can use (size, resolution, undecodable)."""
    ppi, source = capture_ppi(image if pixels is None else None, request_ppi)
    if 0 < ppi < params.FINGER_MIN_PPI:
        where = "the request's ppi field" if source == "request" else "the image file's header"
        raise UnusableCapture(
            "resolution_too_low",
            f"the print is {ppi} ppi (from {where}); at least {params.FINGER_MIN_PPI} ppi is "
            f"needed to match at {params.FINGER_TARGET_PPI} ppi detail. Capturing again with the "
            "same sensor cannot fix this: use a 500 ppi finger sensor"
            + ("" if source == "request" else ", or send the true resolution in 'ppi'"),
            {"ppi": ppi, "ppi_source": source},
        )
    if pixels is None:
        if image is None:
            raise UnusableCapture("unreadable_image", "no fingerprint image given")
        pixels = decode_image(image, mode="L", max_pixels=params.FINGER_MAX_PIXELS)
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
    return pixels, ppi, source


_ERRORS = (cv2.error, nbis.NbisError, RuntimeError, ValueError, TypeError, MemoryError)


def _extract(
    pixels: np.ndarray, ppi: int, source: str, position: int, minutiae_from: str,
    found: tuple[np.ndarray, np.ndarray] | None = None,
) -> FingerprintTemplate:
    h, w = pixels.shape[:2]
    nfiq2, mindtct = nfiq2_and_mindtct(pixels)
    types: np.ndarray | None = None  # mindtct's (NBIS baseline only) are not kept: "other"
    if minutiae_from == "mindtct":
        minutiae = mindtct
    else:
        minutiae, types = found if found is not None else leader.typed_minutiae(pixels)
    return FingerprintTemplate(
        minutiae=minutiae, width=w, height=h, position=position, nfiq2=nfiq2,
        capture_ppi=ppi, ppi_source=source, minutia_types=types,
    )


def extract_many(
    items: list[tuple[bytes | None, np.ndarray | None, int | None, int]],
) -> list[FingerprintTemplate | UnusableCapture]:
    """``extract`` for several prints of one check, LEADER run once on the batch.

    ``items``: (image, pixels, ppi, position). Returns a template or the UnusableCapture of
    each item, in order.
    """
    prepared: list[tuple[np.ndarray, int, str] | UnusableCapture] = []
    for image, pixels, ppi, _position in items:
        try:
            prepared.append(prepare(image, pixels, ppi))
        except UnusableCapture as exc:
            prepared.append(exc)
        except _ERRORS as exc:
            prepared.append(UnusableCapture("unreadable_image", f"the print could not be "
                                            f"processed: {exc}"))
    ok = [p for p in prepared if not isinstance(p, UnusableCapture)]
    found = iter(leader.typed_minutiae_batch([p[0] for p in ok]) if ok else [])
    out: list[FingerprintTemplate | UnusableCapture] = []
    for p, (_image, _pixels, _ppi, position) in zip(prepared, items, strict=True):
        if isinstance(p, UnusableCapture):
            out.append(p)
            continue
        try:
            out.append(_extract(p[0], p[1], p[2], position, "leader", next(found)))
        except _ERRORS as exc:
            out.append(UnusableCapture("unreadable_image", f"the print could not be "
                                       f"processed: {exc}"))
    return out


def submit_many(
    pool: Executor, items: list[tuple[bytes | None, np.ndarray | None, int | None, int]]
) -> list[Future]:
    """Submit the prints of one check to ``pool`` as one ``extract_many`` job (one LEADER
    call) and return one future per print, in order: each resolves to its template or raises
    its UnusableCapture, as a future of ``extract`` would, so callers keep their per-capture
    handling. Cancelling any of them cancels the job if it has not started."""
    futures: list[Future] = [Future() for _ in items]
    if not items:
        return futures
    job = pool.submit(extract_many, items)

    def settle(done: Future) -> None:
        if done.cancelled():
            for f in futures:
                f.cancel()
            return
        error = done.exception()
        for i, f in enumerate(futures):
            if not f.set_running_or_notify_cancel():
                continue
            if error is not None:
                f.set_exception(error)
            elif isinstance(result := done.result()[i], UnusableCapture):
                f.set_exception(result)
            else:
                f.set_result(result)

    def cancel_job(f: Future) -> None:
        if f.cancelled():
            job.cancel()

    for f in futures:
        f.add_done_callback(cancel_job)
    job.add_done_callback(settle)
    return futures


def nfiq2_and_mindtct(pixels: np.ndarray) -> tuple[int | None, np.ndarray]:
    """NFIQ 2 (None when it cannot be computed) and NBIS mindtct minutiae of a 500 ppi print."""
    ok, png = cv2.imencode(".png", pixels)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        raise UnusableCapture("unreadable_image", "could not re-encode the print")
    nfiq2: int | None
    try:
        found = _extractor().extract_minutiae(png.tobytes())
        nfiq2 = int(found.quality().score)
    except nbis.NbisError:
        # NFIQ 2 fails on nearly blank prints (FVC2000 DB1 finger 110) and on card scans with
        # dark borders: still give the minutiae (possibly none), and try NFIQ 2 once more on the
        # segmented finger; if that fails too the quality is unknown (None), which callers must
        # not read as low: a print is refused only for what was measured.
        try:
            found = _extractor(nfiq2=False).extract_minutiae(png.tobytes())
        except nbis.NbisError as exc:
            raise UnusableCapture(
                "unreadable_image", f"NBIS could not process the print: {exc}"
            ) from exc
        nfiq2 = nfiq2_of_foreground(pixels)
    minutiae = np.array(
        [[m.x(), m.y(), math.radians(m.angle()), m.reliability()] for m in found.get()],
        dtype=np.float32,
    ).reshape(-1, 4)
    return nfiq2, minutiae


def nfiq2_of_foreground(pixels: np.ndarray) -> int | None:
    """NFIQ 2 of the finger's foreground box on a white frame, or None when it still fails.

    NFIQ 2's own segmentation trips on dark borders (card scans, platen edges); the box around
    the ridge blocks (``leader.foreground_box``) leaves them out.
    """
    top, bottom, left, right = leader.foreground_box(pixels)
    crop = pixels[top:bottom, left:right]
    margin = params.LEADER_FOREGROUND_MARGIN
    framed = cv2.copyMakeBorder(
        crop, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255
    )
    ok, png = cv2.imencode(".png", framed)
    if not ok:  # pragma: no cover - cv2 encodes any uint8 array
        return None
    try:
        return int(_extractor().extract_minutiae(png.tobytes()).quality().score)
    except nbis.NbisError:
        return None
