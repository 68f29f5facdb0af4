"""Image normalisation for storage: face photos as JPEG (plus a thumbnail), fingerprints as WSQ
at 500 ppi for the watchlist, PNG for probe evidence (shown in a browser as is).

Normalising strips every metadata block (EXIF may hold the place and time of capture) and
bounds the size, so what is kept is what review and re-extraction need and nothing more.
Decoding our own stored WSQ goes through the sandbox like any WSQ (one code path; the cost is
one pipe round trip per image, only when an analyst opens it).
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import wsq  # noqa: F401 - registers the WSQ codec with Pillow (encoding our own pixels is safe)
from PIL import Image, ImageOps

from device_adapters.wsq_sandbox import pixels_if_wsq
from matchers.fingerprint import capture_ppi, to_500ppi
from matchers.images import decode_image

FACE_JPEG_QUALITY = 90  # close to the capture; re-extraction must not lose the face
THUMB_JPEG_QUALITY = 80


@dataclass(frozen=True)
class Encoded:
    data: bytes
    content_type: str
    width: int
    height: int


def _jpeg(image: Image.Image, quality: int) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, optimize=True)  # no exif/icc passed: none kept
    return out.getvalue()


def face_photo(data: bytes, *, max_px: int, thumb_px: int) -> tuple[Encoded, Encoded]:
    """The photo as a normalised JPEG (upright, RGB, longest side <= max_px) and a thumbnail."""
    with Image.open(io.BytesIO(data)) as opened:
        upright = ImageOps.exif_transpose(opened) if opened.format in ("JPEG", "TIFF") else opened
        rgb = Image.fromarray(np.asarray(upright.convert("RGB")))  # drops every info block
    photo = rgb.copy()
    photo.thumbnail((max_px, max_px), Image.Resampling.LANCZOS)
    thumb = rgb.copy()
    thumb.thumbnail((thumb_px, thumb_px), Image.Resampling.LANCZOS)
    return (
        Encoded(_jpeg(photo, FACE_JPEG_QUALITY), "image/jpeg", *photo.size),
        Encoded(_jpeg(thumb, THUMB_JPEG_QUALITY), "image/jpeg", *thumb.size),
    )


def finger_pixels(data: bytes | None, pixels: object | None, *, ppi: int | None,
                  field: str = "image") -> np.ndarray:
    """A print as 8-bit greyscale at 500 ppi (WSQ input decoded in the sandbox). ``ppi`` None:
    the resolution the image file declares, else 500, as the extractor reads it."""
    ppi, _source = capture_ppi(data if pixels is None else None, ppi)
    if pixels is None:
        assert data is not None
        decoded = pixels_if_wsq(data, field=field)
        pixels = decoded if decoded is not None else decode_image(data, mode="L")
    return to_500ppi(np.asarray(pixels, dtype=np.uint8), ppi)


def finger_wsq(pixels: np.ndarray) -> Encoded:
    out = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(out, "WSQ")
    return Encoded(out.getvalue(), "image/x-wsq", pixels.shape[1], pixels.shape[0])


def finger_png(pixels: np.ndarray) -> Encoded:
    out = io.BytesIO()
    # Default compression level: quick; probe evidence is short-lived.
    Image.fromarray(pixels, mode="L").save(out, "PNG")
    return Encoded(out.getvalue(), "image/png", pixels.shape[1], pixels.shape[0])


def wsq_to_png(data: bytes) -> bytes:
    """A stored WSQ print as PNG for a browser (decoded in the sandbox)."""
    pixels = pixels_if_wsq(data, field="image")
    if pixels is None:
        raise ValueError("not WSQ data")
    return finger_png(pixels).data
