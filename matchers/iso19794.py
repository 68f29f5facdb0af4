"""ISO/IEC 19794-2:2005 finger minutiae records, and the variant nbis-py reads.

Minutiae arrays everywhere in FieldCheck are float32 ``(n, 4)``: x, y (pixels), theta
(radians, counter-clockwise, ISO convention) and quality in [0, 1].

The standard record: a 24-byte header ("FMR\\0", " 20\\0", length, capture equipment, width,
height, x/y resolution in pixels/cm, view count, reserved), then per finger view a 4-byte header
(position, view+impression, quality, minutia count), 6 bytes per minutia (type 2 bits + x 14 bits,
reserved 2 bits + y 14 bits, angle in 1.40625 degree units, quality 0-100) and a 2-byte extended
data length. nbis-py 0.1.3 writes and reads a shorter variant (no view count bytes in use, a
2-byte view header: position and count); ``to_nbis`` produces that one for bozorth3.

Minutia types travel beside the array, as ISO codes (uint8, one per minutia): ``OTHER`` 0,
``RIDGE_ENDING`` 1, ``BIFURCATION`` 2. ``parse`` returns the record's in ``header["types"]``;
``encode`` writes the ones it is given, and ``OTHER`` for minutiae whose type nobody determined.
That is the case of FieldCheck's own extraction: ``matchers.leader`` returns positions,
directions and scores but not the type (the network has a type channel, not decoded there), and
the standard's "other" says exactly that, where "ridge ending" would be a claim the receiver
could not tell from a measured type. Types of a device's record pass through unchanged.
"""

from __future__ import annotations

import math
import struct

import numpy as np

from matchers.errors import TemplateError

MAX_MINUTIAE = 255
_TARGET_PPI = 500.0  # the resolution every FieldCheck minutiae array is in
# 197 px/cm is how 500 ppi is written (196.85 rounded): within this relative tolerance a record
# is taken as 500 ppi and left unscaled.
_SAME_RESOLUTION = 0.01
OTHER, RIDGE_ENDING, BIFURCATION = 0, 1, 2  # the 2-bit type codes; 3 is reserved


def parse(record: bytes) -> tuple[np.ndarray, dict]:
    """Parse a standard ISO 19794-2:2005 record; returns (minutiae, header) of the first view.

    Raises TemplateError naming the field when the record is malformed.
    """
    if len(record) < 24:
        raise TemplateError(f"ISO 19794-2 record too short: {len(record)} bytes, need at least 24")
    if record[:4] != b"FMR\x00":
        raise TemplateError("ISO 19794-2 record: format identifier is not 'FMR\\0'")
    if record[4:8] != b" 20\x00":
        raise TemplateError("ISO 19794-2 record: version is not ' 20' (2005 edition)")
    (length,) = struct.unpack(">I", record[8:12])
    if length != len(record):
        raise TemplateError(
            f"ISO 19794-2 record: declared length {length} does not match {len(record)} bytes"
        )
    width, height, xres, yres, nviews = struct.unpack(">HHHHB", record[14:23])
    if nviews < 1:
        raise TemplateError("ISO 19794-2 record: no finger view")
    if len(record) < 28:
        raise TemplateError("ISO 19794-2 record: truncated finger view header")
    position, _view, quality, count = struct.unpack(">BBBB", record[24:28])
    end = 28 + 6 * count
    if end > len(record):
        raise TemplateError(
            f"ISO 19794-2 record: {count} minutiae declared but only "
            f"{(len(record) - 28) // 6} present"
        )
    if position > 10:
        raise TemplateError(f"ISO 19794-2 record: finger position {position} is not 0-10")
    minutiae, types = _decode_minutiae(record[28:end], count)
    # Matching happens at 500 ppi: a record written at another resolution is rescaled by its
    # declared x/y resolution (pixels per cm; 0 means unstated, taken as 500 ppi), minutiae and
    # image size alike. Unscaled, a 1000 ppi record's genuine scores fall to impostor level.
    x_ppi = xres * 2.54 if xres else _TARGET_PPI
    y_ppi = yres * 2.54 if yres else x_ppi
    sx, sy = _TARGET_PPI / x_ppi, _TARGET_PPI / y_ppi
    if abs(sx - 1) > _SAME_RESOLUTION or abs(sy - 1) > _SAME_RESOLUTION:
        minutiae[:, 0] *= sx
        minutiae[:, 1] *= sy
        width, height = round(width * sx), round(height * sy)
    else:
        sx = sy = 1.0
    header = {
        "width": width,
        "height": height,
        "ppi": round(x_ppi),
        "scale": (sx, sy),
        "position": position,
        "quality": quality,
        "types": types,
    }
    return minutiae, header


def _decode_minutiae(data: bytes, count: int) -> tuple[np.ndarray, np.ndarray]:
    raw = np.frombuffer(data, dtype=np.uint8, count=6 * count).reshape(count, 6).astype(np.int32)
    types = (raw[:, 0] >> 6).astype(np.uint8)
    types[types > BIFURCATION] = OTHER  # code 3 is reserved: not a type the standard defines
    x = ((raw[:, 0] & 0x3F) << 8) | raw[:, 1]
    y = ((raw[:, 2] & 0x3F) << 8) | raw[:, 3]
    theta = raw[:, 4] * (2 * math.pi / 256)
    quality = np.clip(raw[:, 5], 0, 100) / 100.0
    return np.stack([x, y, theta, quality], axis=1).astype(np.float32), types


def _checked_types(types: np.ndarray | None, n: int) -> np.ndarray:
    if types is None:
        return np.full(n, OTHER, dtype=np.uint8)  # not determined (see the module docstring)
    out = np.asarray(types).reshape(-1)
    if len(out) != n:
        raise TemplateError(f"{len(out)} minutia types for {n} minutiae")
    if len(out) and (out.min() < 0 or out.max() > BIFURCATION):
        raise TemplateError("minutia types must be ISO codes 0 (other), 1 (ridge ending) or "
                            "2 (bifurcation)")
    return out.astype(np.uint8)


def _encode_minutiae(minutiae: np.ndarray, types: np.ndarray | None = None) -> bytes:
    points = np.asarray(minutiae, dtype=np.float64).reshape(-1, 4)
    codes = _checked_types(types, len(points))
    out = bytearray()
    for (x, y, theta, q), kind in zip(points[:MAX_MINUTIAE], codes[:MAX_MINUTIAE], strict=True):
        xi, yi = int(np.clip(round(x), 0, 0x3FFF)), int(np.clip(round(y), 0, 0x3FFF))
        angle = int(round((theta % (2 * math.pi)) / (2 * math.pi) * 256)) % 256
        out += struct.pack(">HHBB", (int(kind) << 14) | xi, yi, angle,
                           int(np.clip(round(q * 100), 0, 100)))
    return bytes(out)


def encode(
    minutiae: np.ndarray, *, width: int, height: int, ppi: int = 500, position: int = 0,
    quality: int = 0, types: np.ndarray | None = None,
) -> bytes:
    """Write a standard ISO 19794-2:2005 record with one finger view.

    ``types``: the ISO type code of each minutia (as ``parse`` returns them); None writes
    ``OTHER`` for every minutia (the extractor did not say), never a guessed ridge ending.
    """
    body = _encode_minutiae(minutiae, types)
    count = len(body) // 6
    length = 24 + 4 + len(body) + 2
    res = int(round(ppi / 2.54))
    header = b"FMR\x00" + b" 20\x00" + struct.pack(
        ">IHHHHHBB", length, 0, width, height, res, res, 1, 0
    )
    view = struct.pack(">BBBB", position, 0, int(np.clip(quality, 0, 100)), count)
    return header + view + body + b"\x00\x00"


def to_nbis(minutiae: np.ndarray, *, width: int, height: int) -> bytes:
    """Write the record variant that nbis-py's ``load_iso_19794_2_2005`` reads (for bozorth3,
    which ignores minutia types: ridge endings are written, as that variant always did)."""
    body = _encode_minutiae(minutiae, np.full(len(minutiae), RIDGE_ENDING, dtype=np.uint8))
    length = 24 + 2 + len(body)
    fields = struct.pack(">IHHHHHBB", length, 0, width, height, 0, 0, 0, 0)
    header = b"FMR\x00" + b" 20\x00" + fields
    return header + struct.pack(">BB", 0, len(body) // 6) + body
