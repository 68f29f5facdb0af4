"""Helpers shared by the adapters: bounded image decoding, strict base64, JSON, limits.

Every helper takes the dotted ``field`` of the value it reads, so the ``AdapterError`` it raises
names the exact place in the payload (``"Type-14[3].999"``, ``"fingers[1].image"``).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

from device_adapters import wsq_sandbox
from device_adapters.errors import MalformedPayload, PayloadTooLarge
from matchers import params
from matchers.errors import UnusableCapture
from matchers.images import MAX_PIXELS, decode_image

MAX_PAYLOAD_BYTES = 64 * 1024 * 1024  # ten 500 ppi WSQ slaps and a face fit in a few MB
MAX_JSON_DEPTH = 32

_B64_STD = re.compile(rb"^[A-Za-z0-9+/]*={0,2}$")
_B64_URL = re.compile(rb"^[A-Za-z0-9_-]*={0,2}$")


def check_payload_size(payload: bytes) -> None:
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(
            f"the payload has {len(payload)} bytes; at most {MAX_PAYLOAD_BYTES} are accepted",
            field="body",
            fix="send fewer or smaller images (WSQ for fingers, JPEG for the face)",
        )


def b64decode(value: object, *, field: str, urlsafe: bool = False) -> bytes:
    """Strict base64 (or base64url) with or without padding; whitespace is not allowed."""
    if not isinstance(value, str):
        raise MalformedPayload(f"{field} must be a base64 string", field=field)
    raw = value.encode("ascii", errors="replace")
    alphabet = "base64url" if urlsafe else "base64"
    pattern = _B64_URL if urlsafe else _B64_STD
    if not raw or not pattern.match(raw) or len(raw.rstrip(b"=")) % 4 == 1:
        raise MalformedPayload(
            f"{field} is not valid {alphabet}", field=field,
            fix=f"encode the bytes as {alphabet} ({'RFC 4648 §5' if urlsafe else 'RFC 4648 §4'})",
        )
    raw = raw.rstrip(b"=")
    raw += b"=" * (-len(raw) % 4)
    try:
        return (base64.urlsafe_b64decode if urlsafe else base64.b64decode)(raw)
    except (binascii.Error, ValueError) as exc:
        raise MalformedPayload(f"{field} is not valid {alphabet}", field=field) from exc


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def load_json(payload: bytes, *, field: str = "body") -> Any:
    """Parse JSON, refusing non-UTF-8 text and absurd nesting (a recursion bomb)."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedPayload(
            f"the body is not UTF-8 text (byte {exc.start})", field=field, fix="send UTF-8 JSON"
        ) from exc
    depth = 0
    # Cheap pre-scan: json.loads recurses per nesting level and would hit RecursionError.
    for char in text:
        if char in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise MalformedPayload(
                    f"the JSON nests deeper than {MAX_JSON_DEPTH} levels", field=field
                )
        elif char in "]}":
            depth -= 1
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise MalformedPayload(f"the body is not valid JSON: {exc}", field=field,
                               fix="send a JSON document") from exc


def require(obj: Any, key: str, kind: type | tuple[type, ...], *, field: str,
            optional: bool = False) -> Any:
    """Read ``obj[key]`` with a type check; ``field`` names ``obj`` in the payload."""
    where = f"{field}.{key}" if field else key
    if not isinstance(obj, dict):
        raise MalformedPayload(f"{field or 'body'} must be a JSON object", field=field or "body")
    if key not in obj or obj[key] is None:
        if optional:
            return None
        raise MalformedPayload(f"{where} is missing", field=where)
    value = obj[key]
    # bool is an int in Python; a JSON true where a number belongs is still a mistake.
    if isinstance(value, bool) and bool not in (kind if isinstance(kind, tuple) else (kind,)):
        raise MalformedPayload(f"{where} has the wrong type", field=where)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise MalformedPayload(f"{where} must be {names}", field=where)
    return value


# --- images -----------------------------------------------------------------------------------

@dataclass
class DecodedImage:
    pixels: np.ndarray
    format: str  # "wsq", "jpeg", "jp2", "png", "tiff", "bmp", "pgm", "raw"


def sniff_format(data: bytes) -> str | None:
    """Name the image format from its signature, or None."""
    if data[:2] == b"\xff\xa0":
        return "wsq"
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:12] == b"\x00\x00\x00\x0cjP  \r\n\x87\n" or data[:4] == b"\xff\x4f\xff\x51":
        return "jp2"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if data[:2] == b"BM":
        return "bmp"
    if data[:2] in (b"P5", b"P6", b"P2", b"P3"):
        return "pgm"
    return None


def wsq_dimensions(data: bytes, *, field: str) -> tuple[int, int]:
    """Read (width, height) from the WSQ frame header without decoding anything."""
    pos = 2  # after SOI (FFA0)
    while pos + 4 <= len(data):
        marker = data[pos:pos + 2]
        if marker[0] != 0xFF or not 0xA2 <= marker[1] <= 0xA8:
            break
        (length,) = struct.unpack(">H", data[pos + 2:pos + 4])
        if marker == b"\xff\xa2":
            if pos + 10 > len(data) or length < 17:
                break
            height, width = struct.unpack(">HH", data[pos + 6:pos + 10])
            return width, height
        if length < 2:
            break
        pos += 2 + length
    raise MalformedPayload(
        f"{field}: WSQ data has no readable frame header (SOF marker FFA2)", field=field,
        fix="send a complete WSQ file as written by an FBI-certified encoder",
    )


def check_dimensions(width: int, height: int, *, field: str, max_pixels: int = MAX_PIXELS) -> None:
    if width <= 0 or height <= 0:
        raise MalformedPayload(f"{field}: the image declares {width}x{height} pixels", field=field)
    if width * height > max_pixels:
        raise PayloadTooLarge(
            f"{field}: the image declares {width}x{height} pixels; at most {max_pixels} "
            "are accepted", field=field, fix="send images under 40 million pixels",
        )


def decode_checked(data: bytes, *, field: str, mode: str = "L",
                   expected_format: str | None = None,
                   expected_size: tuple[int, int] | None = None) -> DecodedImage:
    """Decode an untrusted image, checking its format and declared (width, height).

    WSQ goes through the crash-isolated worker; everything else through
    ``matchers.images.decode_image`` (which refuses bombs from the header).
    """
    if not data:
        raise MalformedPayload(f"{field}: the image is empty", field=field)
    fmt = sniff_format(data)
    if fmt is None:
        raise MalformedPayload(
            f"{field}: the data is not an image in a known format (WSQ, JPEG, JPEG 2000, PNG, "
            "TIFF, BMP, PGM)", field=field,
        )
    if expected_format is not None and fmt != expected_format:
        raise MalformedPayload(
            f"{field}: the data is {fmt.upper()} but the record declares "
            f"{expected_format.upper()}", field=field,
            fix="make the compression field match the image data",
        )
    if fmt == "wsq":
        width, height = wsq_dimensions(data, field=field)
        check_dimensions(width, height, field=field)
        try:
            pixels = wsq_sandbox.decode_wsq(data)
        except wsq_sandbox.WsqDecodeError as exc:
            raise MalformedPayload(f"{field}: {exc}", field=field,
                                   fix="re-encode the finger image as WSQ") from exc
        if mode != "L":
            pixels = np.repeat(pixels[:, :, None], 3, axis=2)
    else:
        try:
            # The same pixel budgets as the matchers (a face "RGB", a print "L"), so a hostile
            # image is refused from its header here too instead of decoded at 40 MP to validate.
            # (A declared size to compare with needs the full decode, so no reduction then.)
            budget: dict[str, Any] = (
                {"max_pixels": params.FACE_MAX_PIXELS,
                 "max_unreduced": params.FACE_MAX_PIXELS_UNREDUCED,
                 "reduce_to": params.FACE_DECODE_PIXELS if expected_size is None else None}
                if mode == "RGB" else {"max_pixels": params.FINGER_MAX_PIXELS}
            )
            pixels = decode_image(data, mode=mode, **budget)
        except UnusableCapture as exc:
            if exc.reason == "image_too_large":
                raise PayloadTooLarge(f"{field}: {exc.message}", field=field) from exc
            raise MalformedPayload(f"{field}: {exc.message}", field=field) from exc
        except Exception as exc:  # codec bugs (IndexError...) must still be a 4xx
            raise MalformedPayload(f"{field}: the image data is corrupt: {exc}",
                                   field=field) from exc
    if expected_size is not None:
        height, width = pixels.shape[:2]
        if (width, height) != expected_size:
            raise MalformedPayload(
                f"{field}: the image is {width}x{height} pixels but the record declares "
                f"{expected_size[0]}x{expected_size[1]}", field=field,
                fix="make the line-length fields match the image",
            )
    return DecodedImage(pixels=pixels, format=fmt)


def encode_png(pixels: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format="PNG")
    return out.getvalue()


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) of trusted image bytes, from the header only."""
    if data[:2] == b"\xff\xa0":
        return wsq_dimensions(data, field="image")
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        return image.size
