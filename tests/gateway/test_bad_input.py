"""Bad input on the core endpoints: always a 4xx problem+json naming the field, never a 500."""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest

from tests.conftest import LiveGateway

PROBLEM = "application/problem+json"


def _jpeg(size: int = 200) -> bytes:
    img = np.full((size, size, 3), 128, np.uint8)
    ok, buf = cv2.imencode(".jpg", img)
    return buf.tobytes()


def _assert_problem(r, status: int, field: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"]
    if field is not None:
        assert body.get("field") == field, body
    return body


@pytest.fixture(scope="module")
def subject_id(gateway: LiveGateway) -> str:
    with gateway.client() as c:
        return c.post("/v1/subjects", json={"name": "Bad Input", "category": "blue"}).json()["id"]


def test_check_without_biometrics(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", data={"purpose": "port entry"}, files={"unused": ("", b"")})
    # an empty-named file part is an unexpected field; without any file it is "no biometrics"
    assert r.status_code == 422
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", data={"purpose": "port entry", "device_id": "X"},
                   headers={"content-type": "multipart/form-data; boundary=abc"})
    _assert_problem(r, 422)


def test_check_with_only_text_fields_names_the_fix(gateway: LiveGateway, device_token: str) -> None:
    body = b'--b\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nentry\r\n--b--\r\n'
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", content=body,
                   headers={"content-type": "multipart/form-data; boundary=b"})
    problem = _assert_problem(r, 422, "face")
    assert "at least one biometric" in problem["detail"]


@pytest.mark.parametrize(
    "name,data",
    [
        ("truncated.jpg", _jpeg()[:200]),
        ("garbage.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 50),
        ("notes.txt", b"this is not an image"),
    ],
)
def test_corrupt_or_unsupported_face_image(gateway: LiveGateway, device_token: str, name: str,
                                           data: bytes) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"face": (name, data)}, data={"purpose": "port entry"})
    body = _assert_problem(r, 422, "face")
    assert body["reason"] == "unreadable_image"


def test_corrupt_finger_image_names_its_field(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_7": ("f.png", b"\x89PNG garbage")},
                   data={"purpose": "port entry"})
    _assert_problem(r, 422, "finger_7")


def test_empty_file(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_2": ("f.png", b"")}, data={"purpose": "port entry"})
    _assert_problem(r, 422, "finger_2")


@pytest.mark.parametrize("field", ["finger_11", "finger_99", "finger_x"])
def test_unknown_finger_position_in_check(gateway: LiveGateway, device_token: str, field: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={field: ("f.png", _jpeg())}, data={"purpose": "port entry"})
    _assert_problem(r, 422, field)


@pytest.mark.parametrize("position", ["0", "11", "-1", "thumb", ""])
def test_unknown_finger_position_at_enrolment(gateway: LiveGateway, subject_id: str,
                                               position: str) -> None:
    with gateway.client() as c:
        r = c.post(f"/v1/subjects/{subject_id}/fingerprints",
                   files={"image": ("f.png", _jpeg())}, data={"position": position})
    assert r.status_code == 422
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["field"] == "position"


def test_bad_ppi(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"finger_2": ("f.png", _jpeg())}, data={"ppi": "abc", "purpose": "port entry"})
    _assert_problem(r, 422, "ppi")


def test_malformed_json_body(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        r = c.post("/v1/subjects", content=b'{"name": "x", "category": ',
                   headers={"content-type": "application/json"})
    body = _assert_problem(r, 422)
    assert body["errors"]


def test_unknown_category_and_country(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        _assert_problem(c.post("/v1/subjects", json={"name": "x", "category": "pink"}), 422,
                        "category")
        _assert_problem(
            c.post("/v1/subjects", json={"name": "x", "category": "red", "nationality": "XX"}),
            422, "nationality",
        )
        _assert_problem(c.post("/v1/subjects", json={"category": "red"}), 422, "name")


def test_enrol_corrupt_and_faceless_images(gateway: LiveGateway, subject_id: str) -> None:
    with gateway.client() as c:
        r = c.post(f"/v1/subjects/{subject_id}/faces", files={"image": ("x.jpg", _jpeg()[:100])})
        assert _assert_problem(r, 422, "image")["reason"] == "unreadable_image"
        r = c.post(f"/v1/subjects/{subject_id}/faces", files={"image": ("x.jpg", _jpeg())})
        body = _assert_problem(r, 422, "image")
        assert body["reason"] == "no_face" and body["quality"]["faces"] == 0
        r = c.post(f"/v1/subjects/{subject_id}/faces", files={"image": ("x.jpg", b"")})
        _assert_problem(r, 422, "image")


def test_enrol_blank_fingerprint_refused_with_quality(gateway: LiveGateway, subject_id: str) -> None:
    blank = cv2.imencode(".png", np.full((300, 300), 230, np.uint8))[1].tobytes()
    with gateway.client() as c:
        r = c.post(f"/v1/subjects/{subject_id}/fingerprints", files={"image": ("f.png", blank)},
                   data={"position": "2"})
    body = _assert_problem(r, 422, "image")
    assert body["reason"] in {"low_quality", "too_few_minutiae"}
    assert "nfiq2" in body["quality"]


def test_enrol_to_unknown_subject_is_404(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        r = c.post("/v1/subjects/sub_nope/faces", files={"image": ("x.jpg", _jpeg())})
    _assert_problem(r, 404, "subject_id")


def test_decompression_bomb_is_refused_unread(gateway: LiveGateway, device_token: str) -> None:
    from PIL import Image

    buf = io.BytesIO()
    # 20000 x 20000 of one colour compresses to a few hundred KB as PNG.
    Image.new("L", (20000, 20000), 0).save(buf, format="PNG", optimize=True)
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"face": ("bomb.png", buf.getvalue())},
                   data={"purpose": "port entry"})
    _assert_problem(r, 413, "face")


def test_upload_over_limit_is_413(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with LiveGateway(tmp_path, max_upload_mb=0.5) as gw:
        device = gw.token("device")
        with gw.client(device) as c:
            r = c.post("/v1/checks", files={"face": ("big.jpg", b"\xff" * 700_000)})
            _assert_problem(r, 413, "body")
        with gw.client() as c:
            # chunked upload without Content-Length is cut while streaming
            def chunks():  # type: ignore[no-untyped-def]
                for _ in range(40):
                    yield b"x" * 32_768

            r = c.post("/v1/subjects", content=chunks(), headers={"content-type": "application/json"})
            _assert_problem(r, 413, "body")


def test_corrupt_wsq_finger_never_takes_the_gateway_down(gateway: LiveGateway,
                                                         device_token: str) -> None:
    import wsq  # noqa: F401  (registers the encoder)
    from PIL import Image

    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:300, 0:300]
    ridges = (127 + 100 * np.sin((xx + 8 * np.sin(yy / 30)) / 4.0) + rng.normal(0, 10, (300, 300)))
    buf = io.BytesIO()
    Image.fromarray(np.clip(ridges, 0, 255).astype(np.uint8)).save(buf, format="WSQ")
    good = buf.getvalue()
    with gateway.client(device_token) as c:
        assert c.post("/v1/checks", files={"finger_2": ("f.wsq", good)}, data={"purpose": "port entry"}).status_code == 200
        for _ in range(12):
            bad = bytearray(good)
            for i in rng.integers(200, len(good), 8):
                bad[i] ^= 0xFF
            r = c.post("/v1/checks", files={"finger_2": ("f.wsq", bytes(bad))},
                       data={"purpose": "port entry"})
            assert r.status_code in (200, 422), r.text
            if r.status_code == 422:
                assert r.json()["field"] == "finger_2"
        assert c.get("/healthz").status_code == 200
        r = c.post("/v1/checks", files={"face": ("f.wsq", good)}, data={"purpose": "port entry"})
    _assert_problem(r, 422, "face")


def test_a_matcher_failure_on_one_capture_keeps_the_others(gateway: LiveGateway,
                                                           device_token: str,
                                                           monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from gateway.checks import service

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated matcher bug")

    monkeypatch.setattr(service.face_matcher, "extract", broken)
    finger = cv2.imencode(".png", np.full((300, 300), 200, np.uint8))[1].tobytes()
    with gateway.client(device_token) as c:
        r = c.post("/v1/checks", files={"face": ("f.jpg", _jpeg()), "finger_2": ("p.png", finger)},
                   data={"purpose": "port entry"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["quality"]["face"]["reason"] == "extraction_failed"
    assert "finger_2" in body["quality"]
