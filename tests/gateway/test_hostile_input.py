"""Red-team findings 2, 3, 4, 6 and 8 (issue 14), each replayed against a real gateway.

Every test here failed on the code before the hardening (checked once against that code).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import struct
import zipfile
import zlib

import httpx
import pytest

from tests.conftest import ADMIN_TOKEN, LiveGateway

PROBLEM = "application/problem+json"
BIG = str(10**20)


def _problem(r: httpx.Response, status: int, field: str | None = None) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM), r.headers
    body = r.json()
    if field is not None:
        assert body.get("field") == field, body
    return body


def zero_png(side: int) -> bytes:
    """An all-zero greyscale PNG: tens of KB on the wire, side x side pixels decoded."""
    raw = zlib.compress(b"\x00" * ((side + 1) * side), 9)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", raw) + chunk(b"IEND", b"")


# --- finding 2: one alias breaks listings ------------------------------------------------------

@pytest.mark.parametrize("alias", ["\\udfff", "\\u0000", "a\\u0007b", "\\ud800x"])
def test_alias_with_surrogate_or_control_is_refused_naming_the_field(
    gateway: LiveGateway, alias: str
) -> None:
    body = '{"name": "Eve", "category": "red", "aliases": ["ok", "' + alias + '"]}'
    with gateway.client() as c:
        r = c.post("/v1/subjects", content=body, headers={"content-type": "application/json"})
        problem = _problem(r, 422, "aliases.1")
        assert "fix" in problem
        # Nothing was stored, and the listings still answer.
        assert c.get("/v1/subjects", params={"q": "Eve"}).json()["total"] == 0
        assert c.get("/v1/subjects").status_code == 200
        assert c.get("/v1/audit").status_code == 200


def test_stored_surrogate_from_older_code_still_serialises(gateway: LiveGateway) -> None:
    """A row written before the policy (or by an old replica) must not break the listings."""
    from sqlmodel import Session

    from gateway.watchlist.models import Subject

    with gateway.client() as c:
        sid = c.post("/v1/subjects", json={"name": "Legacy Row", "category": "red"}).json()["id"]
    with Session(gateway.runtime.engine) as session:
        row = session.get(Subject, sid)
        row.aliases = ["\udfff"]
        session.add(row)
        session.commit()
    with gateway.client() as c:
        r = c.get("/v1/subjects", params={"q": "Legacy"})
        assert r.status_code == 200, r.text
        assert r.json()["items"][0]["aliases"] == ["\udfff"]
        assert c.get(f"/v1/subjects/{sid}").status_code == 200


def test_surrogate_in_batch_json_and_query(gateway: LiveGateway) -> None:
    body = ('{"subjects": [{"external_ref": "S-1", "name": "X\\udfff", "category": "red"}]}')
    with gateway.client() as c:
        r = c.post("/v1/subjects:batch", content=body,
                   headers={"content-type": "application/json"})
        _problem(r, 422, "subjects.0.name")
        _problem(c.get("/v1/subjects", params={"q": "a\x00b"}), 422, "q")
        # A deletion reason goes to the audit trail: the same policy applies to it.
        _problem(c.delete("/v1/subjects/sub_x", params={"reason": "x\x1bd"}), 422, "reason")


def test_seek_device_serial_with_nul_is_refused(gateway: LiveGateway, device_token: str) -> None:
    payload = {"schema": "seek-avenger/1", "device": {"serial": "SEEK\u0000-1"},
               "purpose": "port entry",
               "face": {"format": "png", "image": base64.b64encode(zero_png(64)).decode()}}
    with gateway.client(device_token) as c:
        r = c.post("/v1/adapters/seek-avenger/checks", content=json.dumps(payload),
                   headers={"content-type": "application/json"})
    _problem(r, 422, "device.serial")


def test_multipart_text_field_with_control_character(gateway: LiveGateway,
                                                     device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", data={"device_id": "SEEK\x00", "purpose": "port entry"},
                   files={"face": ("f.png", zero_png(32), "image/png")})
    _problem(r, 422, "device_id")


# --- finding 3: cost of one request ------------------------------------------------------------

def test_huge_blank_png_face_is_refused_unread(gateway: LiveGateway, device_token: str) -> None:
    png = zero_png(6300)
    assert len(png) < 100_000
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", data={"purpose": "port entry"},
                   files={"face": ("f.png", png, "image/png")})
    problem = _problem(r, 413, "face")
    assert problem["reason"] == "image_too_large"


def test_face_jpeg_is_decoded_reduced() -> None:
    from PIL import Image

    from matchers import params
    from matchers.images import decode_image

    buffer = io.BytesIO()
    Image.new("RGB", (4000, 4000), (90, 60, 40)).save(buffer, "JPEG")
    pixels = decode_image(buffer.getvalue(), mode="RGB", max_pixels=params.FACE_MAX_PIXELS,
                          reduce_to=params.FACE_DECODE_PIXELS)
    height, width = pixels.shape[:2]
    assert params.FACE_DECODE_PIXELS <= width * height < 16_000_000
    assert (width, height) == (2000, 2000)


def test_many_form_parts_refused_before_parsing(gateway: LiveGateway, device_token: str) -> None:
    part = b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nx\r\n'
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", content=part * 20_000 + b"--b--\r\n",
                   headers={"content-type": "multipart/form-data; boundary=b"})
        _problem(r, 413, "body")
        r = c.post("/v1/subjects/sub_x/faces", content=part * 2_000 + b"--b--\r\n",
                   headers={"content-type": "multipart/form-data; boundary=b",
                            "authorization": f"Bearer {ADMIN_TOKEN}"})
    assert r.status_code == 413


def test_extraction_budget_answers_422(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (0, 0, 0)).save(buffer, "PNG")
    with LiveGateway(tmp_path, extract_budget_s=0.001) as gw:
        token = gw.token("device")
        with gw.client(token) as c:
            r = c.post("/v1/checks", data={"purpose": "port entry"},
                       files={"face": ("f.png", buffer.getvalue(), "image/png")})
    problem = _problem(r, 422, "face")
    assert problem["reason"] == "extraction_budget"


# --- finding 4: zip members --------------------------------------------------------------------

def test_zip_manifest_bomb_refused_before_inflating(gateway: LiveGateway) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        with zf.open("manifest.csv", "w", force_zip64=True) as fh:
            fh.write(b"external_ref,name,category\n")
            for _ in range(40 * 1024):
                fh.write(b"A" * 1023 + b"\n")
    assert len(buffer.getvalue()) < 1_000_000
    with gateway.client() as c:
        r = c.post("/v1/subjects:batch", content=buffer.getvalue(),
                   headers={"content-type": "application/zip"})
    assert "manifest.csv" in _problem(r, 413, "body")["detail"]


# --- finding 6: CSV injection and device identity ----------------------------------------------

def test_audit_csv_neutralises_formulas_and_keeps_device_identity(gateway: LiveGateway) -> None:
    token = gateway.token("device", "=HYPERLINK(\"http://evil\")")
    with gateway.client(token) as c:
        r = c.post("/v1/checks", data={"device_id": "@SEEK-OTHER", "purpose": "port entry"},
                   files={"face": ("f.png", zero_png(32), "image/png")})
        assert r.status_code == 200, r.text
    with gateway.client() as c:
        text = c.get("/v1/audit.csv").text
        entries = c.get("/v1/audit", params={"action": "check.create"}).json()["items"]
    cells = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert not [cell for cell in cells if cell[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=HYPERLINK(\"http://evil\")" in cells
    mine = [e for e in entries if e["after"].get("claimed_device_id") == "@SEEK-OTHER"]
    assert mine, entries
    # Who the device is comes from its token; the serial it sent is only recorded as a claim.
    assert mine[0]["device_id"] == "=HYPERLINK(\"http://evil\")"


# --- finding 8: 500s from bad input ------------------------------------------------------------

@pytest.mark.parametrize("path,params,field", [
    ("/v1/subjects", {"offset": BIG}, "offset"),
    ("/v1/audit", {"offset": BIG}, "offset"),
    ("/v1/reviews", {"offset": BIG}, "offset"),
    ("/v1/upstream/dead-letters", {"offset": BIG}, "offset"),
    ("/v1/watchlist/changes", {"since": BIG}, "since"),
    ("/v1/watchlist/export", {"since": BIG}, "since"),
    ("/v1/audit", {"since": "9999-12-31T23:59:59-12:00"}, "since"),
])
def test_out_of_range_query_values(gateway: LiveGateway, path: str, params: dict,
                                   field: str) -> None:
    with gateway.client() as c:
        _problem(c.get(path, params=params), 422, field)


def test_out_of_range_path_id(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        _problem(c.post(f"/v1/upstream/dead-letters/{BIG}/requeue"), 422, "item_id")


@pytest.mark.parametrize("value", ["2030-01-01T00:00:00", "9999-12-31T23:59:59-12:00",
                                   "9999-12-31T23:59:59+00:00"])
def test_expires_at_needs_a_time_zone_and_a_storable_year(gateway: LiveGateway,
                                                          value: str) -> None:
    with gateway.client() as c:
        r = c.post("/v1/subjects", json={"name": "Tz", "category": "red", "expires_at": value})
        _problem(r, 422, "expires_at")
        ok = c.post("/v1/subjects", json={"name": "Tz", "category": "red",
                                          "expires_at": "2030-01-01T00:00:00+03:00"})
        assert ok.status_code == 201, ok.text
        assert ok.json()["expires_at"].startswith("2029-12-31T21:00:00")


def test_batch_nested_json_and_wrong_types(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        deep = b'{"subjects": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
        r = c.post("/v1/subjects:batch", content=deep,
                   headers={"content-type": "application/json"})
        assert "nested" in _problem(r, 422, "body")["detail"]
        r = c.post("/v1/subjects:batch", json={"subjects": [
            {"external_ref": "R1", "name": "A", "category": "red", "faces": 5}]})
        _problem(r, 422, "subjects.0.faces")
        r = c.post("/v1/subjects:batch", json={"subjects": [
            {"external_ref": "R1", "name": "A", "category": "red", "fingerprints": ["x"]}]})
        _problem(r, 422, "subjects.0.fingerprints")


def test_dead_letters_with_the_central_link_running(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Schemathesis found 12 x 500 here: an offset past SQLite's INTEGER."""
    with LiveGateway(tmp_path, start_upstream=True) as gw, gw.client() as c:
        assert c.get("/v1/upstream/dead-letters").status_code == 200
        _problem(c.get("/v1/upstream/dead-letters", params={"offset": BIG}), 422, "offset")
        _problem(c.get("/v1/upstream/dead-letters", params={"offset": -1}), 422, "offset")
        _problem(c.post(f"/v1/upstream/dead-letters/{BIG}/requeue"), 422, "item_id")
