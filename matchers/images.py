"""Decode untrusted image bytes into numpy arrays, refusing decompression bombs.

Handles what Pillow reads (JPEG, PNG, TIFF, BMP, PGM, JPEG 2000 when OpenJPEG is present) plus
WSQ through the ``wsq`` Pillow plugin. Dimensions are read from the header before any pixel is
decoded, so a huge declared size is refused without allocating it.
"""

from __future__ import annotations

import io
import re
import struct
import warnings

import numpy as np
import wsq  # noqa: F401  (registers the WSQ codec with Pillow)
from PIL import Image, ImageOps, UnidentifiedImageError

from matchers.errors import UnusableCapture

MAX_PIXELS = 40_000_000  # a 7,000 x 5,700 photo; anything larger is refused unread


WSQ_SOI = b"\xff\xa0"  # WSQ start-of-image marker


def is_wsq(data: bytes) -> bool:
    return data[:2] == WSQ_SOI

_OBJECT_REPR = re.compile(r"<[^<>]*? object at 0x[0-9a-fA-F]+>")


def _plain(exc: BaseException) -> str:
    """A codec's message fit for a device's officer: Pillow names its in-memory file
    (``<_io.BytesIO object at 0x7f...>``), which says nothing and leaks an address."""
    text = _OBJECT_REPR.sub("the data", str(exc)).strip()
    return text or type(exc).__name__


def _reduce_while_decoding(image: Image.Image, mode: str, reduce_to: int | None) -> None:
    """Ask the decoder for a smaller image when the format allows it (JPEG: DCT scaling by
    1/2, 1/4 or 1/8, never below ``reduce_to`` pixels), so a large photo costs a fraction of
    its full decode in time and memory."""
    width, height = image.size
    if reduce_to is None or width * height <= reduce_to or image.format != "JPEG":
        return
    factor = (reduce_to / (width * height)) ** 0.5
    image.draft(mode, (max(1, int(width * factor)), max(1, int(height * factor))))


def _reduce_after_decoding(image: Image.Image, reduce_to: int | None) -> Image.Image:
    width, height = image.size
    if reduce_to is None or width * height <= reduce_to:
        return image
    factor = int((width * height / reduce_to) ** 0.5)  # integer box reduction: cheap
    return image.reduce(factor) if factor >= 2 else image


def decode_image(
    data: bytes, *, mode: str, max_pixels: int = MAX_PIXELS, reduce_to: int | None = None,
    max_unreduced: int | None = None,
) -> np.ndarray:
    """Decode ``data`` to ``mode`` ("L" greyscale or "RGB") as a uint8 array.

    ``max_pixels``: the pixel budget of this kind of capture; a larger declared size is refused
    unread. ``reduce_to``: the pixels the caller needs at most (a face needs no 40 MP): JPEG is
    decoded reduced, other formats are box-reduced after decoding. ``max_unreduced``: the
    tighter budget of formats that can only be decoded in full (PNG, TIFF...).

    Raises UnusableCapture("unreadable_image" | "image_too_large") with a readable message.
    """
    if not data:
        raise UnusableCapture("unreadable_image", "the image file is empty")
    if is_wsq(data):
        # The NBIS WSQ decoder segfaults on some corrupt data: untrusted WSQ is decoded out of
        # process (device_adapters.wsq_sandbox) and reaches the matchers as pixels.
        raise UnusableCapture(
            "unreadable_image",
            "WSQ data must be decoded to pixels before extraction (device_adapters.wsq_sandbox)",
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width <= 0 or height <= 0:
                raise UnusableCapture("unreadable_image", "the image declares zero size")
            if max_unreduced is not None and image.format != "JPEG":
                max_pixels = min(max_pixels, max_unreduced)
            if width * height > max_pixels:
                raise UnusableCapture(
                    "image_too_large",
                    f"the image declares {width}x{height} pixels; "
                    f"at most {max_pixels} are accepted",
                    {"width": width, "height": height},
                )
            _reduce_while_decoding(image, mode, reduce_to)
            image.load()
            # Turned upright first: the EXIF tag belongs to the image as decoded.
            converted = _reduce_after_decoding(_upright(image), reduce_to).convert(mode)
    except UnusableCapture:
        raise
    except Image.DecompressionBombError as exc:
        raise UnusableCapture(
            "image_too_large",
            f"the image declares too many pixels (at most {max_pixels}): {_plain(exc)}",
        ) from exc
    except (UnidentifiedImageError, Image.DecompressionBombWarning) as exc:
        raise UnusableCapture(
            "unreadable_image",
            "the file is not an image in a supported format (JPEG, PNG, TIFF, BMP, PGM, WSQ, "
            "JPEG 2000)",
        ) from exc
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, struct.error) as exc:
        raise UnusableCapture(
            "unreadable_image", f"the image data is corrupt or truncated: {_plain(exc)}"
        ) from exc
    return np.asarray(converted, dtype=np.uint8)



# EXIF orientations that swap or flip the stored pixels (1 = stored upright).
_EXIF_ORIENTATION = 0x0112


def _upright(image: Image.Image) -> Image.Image:
    """The image turned as its EXIF orientation says: phones store a photo taken sideways as
    landscape pixels plus a tag, and a face or a finger lying on its side matches worse (a
    sideways face is not even detected). A malformed EXIF block leaves the pixels as stored."""
    try:
        if image.getexif().get(_EXIF_ORIENTATION, 1) in (1, None):
            return image
        return ImageOps.exif_transpose(image)
    except (OSError, ValueError, TypeError, KeyError, SyntaxError, struct.error):
        return image


# Declared resolutions outside this range are not a scanner's: FVC TIFFs declare 1 x 1, image
# editors write 72 or 96 (screen) dpi by default, and nothing captures fingers above 5000 ppi.
PLAUSIBLE_PPI = (200.0, 5000.0)


def declared_ppi(data: bytes) -> int | None:
    """The resolution an image file declares about itself, in pixels per inch, or None.

    Reads only the header (PNG ``pHYs`` in pixels per metre, TIFF X/YResolution with its
    ResolutionUnit, JPEG JFIF density in dots per inch or per cm), as Pillow reports them in
    ``info["dpi"]``. Returns None when nothing is declared, when the unit is unknown (PNG unit 0,
    JFIF unit 0, TIFF unit "none"), when the horizontal and vertical values differ by more than
    2% (not a finger scanner), or when the value is outside ``PLAUSIBLE_PPI``. Never raises.
    """
    if not data or is_wsq(data):
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            dpi = image.info.get("dpi")
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError, struct.error):
        return None
    if not isinstance(dpi, tuple) or len(dpi) != 2:
        return None
    try:
        x, y = float(dpi[0]), float(dpi[1])
    except (TypeError, ValueError):
        return None
    if not (x > 0 and y > 0) or abs(x - y) > 0.02 * max(x, y):
        return None
    value = (x + y) / 2
    if not PLAUSIBLE_PPI[0] <= value <= PLAUSIBLE_PPI[1]:
        return None
    return round(value)
