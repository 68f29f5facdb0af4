"""The local document checks (stolen/lost list, international notices) in the decision."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest

from gateway.upstream.port import UpstreamPort
from tests.adapters.builders import TD3
from tests.conftest import LiveGateway


class LocalLists(UpstreamPort):
    """Stands in for the central link's cached lists (the outside edge), nothing else."""

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    def check_document(self, session, document):  # type: ignore[no-untyped-def]
        return {**self.answer, "source": "local"}

    def on_check(self, session, check, capture, probes) -> None:  # type: ignore[no-untyped-def]
        pass

    def notify(self) -> None:
        pass

    def metrics(self) -> dict[str, float]:
        return {}

    def stop(self) -> None:
        pass


@pytest.fixture()
def blank_finger() -> bytes:
    return cv2.imencode(".png", np.full((300, 300), 200, np.uint8))[1].tobytes()


@pytest.mark.parametrize("answer,decision,words", [
    ({"status": "stolen", "hit": True, "notices": []}, "hit", "stolen or lost"),
    ({"status": "clear", "hit": False,
      "notices": [{"notice_id": "2026/1", "category": "red"}]}, "possible", "international notice"),
    ({"status": "clear", "hit": False, "notices": []}, "recapture", "capture again"),
])
def test_document_result_is_part_of_the_decision(gateway: LiveGateway, device_token: str,
                                                 blank_finger: bytes, answer: dict,
                                                 decision: str, words: str) -> None:
    runtime = gateway.runtime
    previous = runtime.upstream
    runtime.upstream = LocalLists(answer)
    try:
        with gateway.client(device_token) as c:
            body = c.post("/v1/checks", files={"finger_2": ("p.png", blank_finger)},
                          data={"mrz": "\n".join(TD3), "purpose": "port entry"}).json()
    finally:
        runtime.upstream = previous
    assert body["decision"] == decision
    assert words in body["message"]
    assert body["document"]["check"]["status"] == answer["status"]
    assert body["review"]["status"] == ("pending" if decision in ("hit", "possible") else None)
