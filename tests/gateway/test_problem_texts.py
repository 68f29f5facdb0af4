"""Problem bodies speak to an officer: no Python object reprs from codecs in detail or fix."""

from __future__ import annotations

import re

import pytest

from matchers.errors import UnusableCapture
from matchers.images import decode_image
from tests.conftest import LiveGateway

REPR = re.compile(r"object at 0x|_io\.|BytesIO")
GARBAGE = [b"not an image at all", b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
           b"\xff\xd8\xff\xe0" + b"x" * 64, b"GIF89a" + b"\x01" * 20, b"II*\x00" + b"\x00" * 30]


@pytest.mark.parametrize("data", GARBAGE)
def test_decode_errors_carry_no_object_repr(data: bytes) -> None:
    with pytest.raises(UnusableCapture) as caught:
        decode_image(data, mode="L")
    assert not REPR.search(caught.value.message), caught.value.message


def test_problem_detail_and_fix_carry_no_object_repr(gateway: LiveGateway,
                                                     device_token: str) -> None:
    with gateway.client(device_token) as c:
        for data in GARBAGE:
            r = c.post("/v1/checks", files={"face": ("f.jpg", data, "image/jpeg")},
                       data={"purpose": "port entry"})
            assert r.status_code == 422, r.text
            body = r.json()
            assert body["field"] == "face"
            assert not REPR.search(body["detail"]) and not REPR.search(body.get("fix", "")), body
