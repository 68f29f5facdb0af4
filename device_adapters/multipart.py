"""The ``multipart`` adapter: the plain HTML-form upload of ``POST /v1/checks``.

Fields: ``face`` (file, optional), ``finger_1`` ... ``finger_10`` (files by ANSI/NIST position)
or ``finger_0`` (unknown position), ``ppi`` (optional: the images' own declared resolution,
else 500), ``device_id``, ``purpose``, ``mrz``
(the MRZ lines, newline-separated), ``operator_id``. Parsed with the standard library's MIME
parser, which never executes anything and keeps memory proportional to the body.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from email.parser import BytesParser
from email.policy import HTTP
from typing import cast
from urllib.parse import parse_qsl

from device_adapters.base import DeviceAdapter
from device_adapters.capture import Capture, DeviceInfo, FaceImage, FingerImage
from device_adapters.errors import MalformedPayload, PayloadTooLarge
from device_adapters.textpolicy import FIX as TEXT_FIX
from device_adapters.textpolicy import unsafe_char
from device_adapters.wsq_sandbox import pixels_if_wsq

_FINGER_FIELD = re.compile(r"^finger_(\d+)$")
MAX_PARTS = 40  # face, finger_0..finger_10 and the text fields, with room to spare
_TEXT_FIELDS = {"ppi", "device_id", "purpose", "mrz", "operator_id"}


def _parse_ppi(value: str) -> int:
    try:
        ppi = int(value.strip())
    except ValueError:
        ppi = -1
    if not 250 <= ppi <= 2000:
        raise MalformedPayload(
            f"resolution {value!r} is not usable", field="ppi",
            fix="send the sensor resolution in pixels per inch, 250-2000 (usually 500)",
        )
    return ppi


class MultipartAdapter(DeviceAdapter):
    name = "multipart"
    # A plain form (no files) is what most HTTP clients send for a document-only check (a
    # passport's MRZ alone): accepted as such; images need multipart.
    content_types = ("multipart/form-data", "application/x-www-form-urlencoded")
    description = (
        "HTML form upload: face, finger_0..finger_10 image files, ppi, device_id, purpose, mrz "
        "(a document-only check may be a plain url-encoded form)"
    )

    def parse(self, payload: bytes, headers: Mapping[str, str]) -> Capture:
        self.check_content_type(headers)
        content_type = headers.get("content-type", "")
        if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
            files: dict[str, bytes] = {}
            texts = _urlencoded_texts(payload)
        else:
            files, texts = _multipart_fields(payload, content_type)
        return _capture(self.name, files, texts)


def _urlencoded_texts(payload: bytes) -> dict[str, str]:
    try:
        body = payload.decode("utf-8")
        pairs = parse_qsl(body, keep_blank_values=True, strict_parsing=bool(body),
                          max_num_fields=MAX_PARTS, errors="strict")
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedPayload(
            f"the url-encoded form cannot be read: {exc}", field="body",
            fix="send name=value pairs joined by '&', percent-encoded UTF-8 "
            f"(at most {MAX_PARTS} fields)",
        ) from None
    texts: dict[str, str] = {}
    for name, text in pairs:
        if name == "face" or name.startswith("finger_"):
            raise MalformedPayload(
                f"the image field '{name}' was sent in a url-encoded form", field=name,
                fix="send images as files in a multipart/form-data body",
            )
        if name in texts:
            raise MalformedPayload(f"the field '{name}' is sent twice", field=name)
        problem = unsafe_char(text) or unsafe_char(name)
        if problem:
            raise MalformedPayload(f"the field '{name}' contains {problem}", field=name,
                                   fix=TEXT_FIX)
        texts[name] = text
    return texts


def _multipart_fields(payload: bytes, content_type: str
                      ) -> tuple[dict[str, bytes], dict[str, str]]:
    if "boundary=" not in content_type:
        raise MalformedPayload(
            "the multipart body has no boundary", field="Content-Type",
            fix="send Content-Type: multipart/form-data; boundary=...",
        )
    boundary = content_type.split("boundary=", 1)[1].split(";")[0].strip().strip('"')
    parts = payload.count(b"--" + boundary.encode("latin-1", errors="replace")) - 1
    if parts > MAX_PARTS:
        # The MIME parser's cost grows with the part count (20,000 parts: 28 s): count first.
        raise PayloadTooLarge(
            f"the form has {parts} parts; at most {MAX_PARTS} are accepted", field="body",
            fix="send one part per capture and text field",
        )
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + payload
    )
    if not message.is_multipart():
        raise MalformedPayload("the body is not a multipart form", field="body")
    files: dict[str, bytes] = {}
    texts: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name or not isinstance(name, str):
            raise MalformedPayload(
                "a form part has no name", field="body",
                fix="every part needs Content-Disposition: form-data; name=...",
            )
        data = cast(bytes, part.get_payload(decode=True) or b"")
        if part.get_filename() is not None or name == "face" or name.startswith("finger_"):
            if name in files:
                raise MalformedPayload(f"the field '{name}' is sent twice", field=name)
            files[name] = data
        else:
            text = data.decode("utf-8", errors="replace")
            problem = unsafe_char(text)
            if problem:
                raise MalformedPayload(f"the field '{name}' contains {problem}", field=name,
                                       fix=TEXT_FIX)
            texts[name] = text
    return files, texts


def _capture(adapter: str, files: dict[str, bytes], texts: dict[str, str]) -> Capture:
    capture = Capture(adapter=adapter)
    # No ppi field: None, so the extractor uses the image file's own declared resolution
    # (PNG pHYs, TIFF, JFIF) before falling back to 500 ppi.
    ppi = _parse_ppi(texts["ppi"]) if texts.get("ppi") else None
    for name, data in files.items():
        if name == "face":
            if not data:
                raise MalformedPayload("the face file is empty", field="face",
                                       fix="attach the photo, or leave the field out")
            if data[:2] == b"\xff\xa0":
                raise MalformedPayload("the face file is WSQ, a fingerprint format",
                                       field="face", fix="send the face as JPEG or PNG")
            capture.faces.append(FaceImage(image=data, source_format="upload"))
            continue
        match = _FINGER_FIELD.match(name)
        if not match:
            raise MalformedPayload(
                f"unexpected file field '{name}'", field=name,
                fix="files go in 'face' or 'finger_0' ... 'finger_10'",
            )
        position = int(match.group(1))
        if position > 10:
            raise MalformedPayload(
                f"unknown finger position {position} in '{name}'", field=name,
                fix="use finger_1 ... finger_10 (ANSI/NIST positions) or finger_0 (unknown)",
            )
        if not data:
            raise MalformedPayload(f"the file in '{name}' is empty", field=name,
                                   fix="attach the fingerprint image, or leave the field out")
        pixels = pixels_if_wsq(data, field=name)
        capture.fingers.append(
            FingerImage(position=position, image=data, pixels=pixels, ppi=ppi,
                        source_format="wsq" if pixels is not None else "upload")
        )
    unknown = set(texts) - _TEXT_FIELDS
    if unknown:
        name = sorted(unknown)[0]
        raise MalformedPayload(
            f"unexpected field '{name}'", field=name,
            fix="known fields: face, finger_0..finger_10, " + ", ".join(sorted(_TEXT_FIELDS)),
        )
    capture.purpose = texts.get("purpose") or None
    capture.device = DeviceInfo(
        serial=texts.get("device_id") or None, operator_id=texts.get("operator_id") or None
    )
    if texts.get("mrz", "").strip():
        capture.document = _parse_mrz(texts["mrz"])
    return capture


def _parse_mrz(text: str):
    from device_adapters.mrz import parse_mrz

    lines = [line.strip() for line in text.replace("\r", "\n").split("\n") if line.strip()]
    return parse_mrz(lines)
