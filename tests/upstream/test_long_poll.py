"""GET /v1/checks/{id}/upstream?wait= answers at once when the central status is already final."""

from __future__ import annotations

import time

import cv2
import numpy as np

from tests.conftest import LiveGateway


def test_long_poll_on_a_final_status_returns_at_once(gateway: LiveGateway,
                                                     device_token: str) -> None:
    ok, buf = cv2.imencode(".jpg", np.full((160, 160, 3), 90, np.uint8))
    with gateway.client(device_token) as c:
        check = c.post("/v1/checks", files={"face": ("f.jpg", buf.tobytes(), "image/jpeg")},
                       data={"purpose": "port entry"}).json()
        # no central link in this gateway: the check is final ("not_forwarded") from the start
        assert check["upstream"]["status"] == "not_forwarded"
        for params in ({"wait": 60}, {"wait": 60, "since": "not_forwarded"}):
            started = time.monotonic()
            r = c.get(f"/v1/checks/{check['check_id']}/upstream", params=params)
            waited = time.monotonic() - started
            assert r.status_code == 200
            assert r.json()["upstream"]["status"] == "not_forwarded"
            assert r.json()["changed"] is False
            # the old code held the request for the whole 60 s
            assert waited < 30, waited
