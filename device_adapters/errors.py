"""Adapter exceptions, mapped to HTTP by the gateway in one place.

    AdapterError                 any payload an adapter cannot turn into a Capture (HTTP 4xx)
    ├── MalformedPayload         the bytes do not follow the format (422); names record/field
    ├── UnsupportedContentType   wrong Content-Type for this adapter (415)
    └── PayloadTooLarge          a declared size over the limits, e.g. a decompression bomb (413)

Every error carries ``field`` (dotted location such as ``"Type-4[2].image"`` or
``"biometrics[0].data"``) and ``fix`` (what the sender should change). Codec errors are wrapped
with ``raise MalformedPayload(...) from exc``.
"""

from __future__ import annotations


class AdapterError(Exception):
    status = 422
    title = "Malformed device payload"

    def __init__(self, message: str, *, field: str | None = None, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.fix = fix


class MalformedPayload(AdapterError):
    status = 422
    title = "Malformed device payload"


class UnsupportedContentType(AdapterError):
    status = 415
    title = "Unsupported content type"


class PayloadTooLarge(AdapterError):
    status = 413
    title = "Payload too large"
