"""A device waiting for central is audited per disclosure: one entry per long-poll answer and
one per event of the stream, never per server-side re-read, keep-alive or timeout."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from sqlmodel import Session

from gateway.checks.models import Check
from tests.conftest import LiveGateway


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    with LiveGateway(tmp_path_factory.mktemp("poll-audit")) as gw:
        yield gw


def _queued_check(gw: LiveGateway, device: str) -> str:
    """A check that waits for central (this gateway has no link: the status is set as the
    link sets it when it queues the check)."""
    ok, buf = cv2.imencode(".jpg", np.full((160, 160, 3), 90, np.uint8))
    with gw.client(device) as dev:
        body = dev.post("/v1/checks", files={"face": ("f.jpg", buf.tobytes(), "image/jpeg")},
                        data={"purpose": "patrol"}).json()
    with Session(gw.runtime.engine) as session:
        check = session.get(Check, body["check_id"])
        assert check is not None
        check.upstream_status = "queued"
        session.add(check)
        session.commit()
    return body["check_id"]


def _trail(gw: LiveGateway, action: str, check_id: str) -> list[dict]:
    with gw.client() as admin:
        items = admin.get("/v1/audit", params={"action": action, "target_id": check_id,
                                               "limit": 500}).json()["items"]
    return sorted(items, key=lambda e: e["id"])


def test_each_long_poll_answer_is_one_audit_entry(gw: LiveGateway) -> None:
    device = gw.token("device", "SEEK-POLL")
    check_id = _queued_check(gw, device)
    url = f"/v1/checks/{check_id}/upstream"
    with gw.client(device) as dev:
        for _ in range(3):
            assert dev.get(url, params={"wait": 0}).status_code == 200
        # About five server-side re-reads while waiting; one answer, so one entry.
        waited = dev.get(url, params={"wait": 1.2},
                         headers={"X-Access-Reason": "officer waits for central"}).json()
        assert waited["changed"] is False and waited["upstream"]["status"] == "queued"
    with gw.client(gw.token("device", "SEEK-OTHER")) as other:
        assert other.get(url).status_code == 404  # not its check: nothing shown, nothing logged
    with gw.client(gw.token("ncb_analyst")) as analyst:
        assert analyst.get(url).status_code == 200
    trail = _trail(gw, "check.upstream.read", check_id)
    assert [e["actor_role"] for e in trail] == ["device"] * 4 + ["ncb_analyst"]
    assert [e["actor_name"] for e in trail[:4]] == ["SEEK-POLL"] * 4
    assert all(e["after"]["upstream_status"] == "queued" for e in trail)
    assert trail[3]["detail"] == "reason: officer waits for central"
    assert trail[3]["after"]["via"] == "long-poll" and trail[3]["after"]["waited_s"] >= 1.0
    assert trail[0]["detail"] == "reason: officer reads the answer to its own check"
    assert trail[4]["detail"] == "reason: NCB hit review"


def test_each_event_of_the_stream_is_one_audit_entry(gw: LiveGateway) -> None:
    device = gw.token("device", "SEEK-SSE")
    check_id = _queued_check(gw, device)
    events: list[dict] = []
    with gw.client(device) as dev, dev.stream("GET", f"/v1/checks/{check_id}/events",
                                              params={"timeout": 20}) as stream:
        for line in stream.iter_lines():
            if not line.startswith("data: "):
                continue
            events.append(json.loads(line[6:]))
            if len(events) == 1:  # central answers a hit while the device listens
                with Session(gw.runtime.engine) as session:
                    check = session.get(Check, check_id)
                    assert check is not None
                    check.upstream_status = "completed"
                    check.upstream_result = {"decision": "hit",
                                             "candidates": [{"subject_id": "CX-77"}]}
                    check.response = {**check.response, "central": {
                        "decision": "hit", "candidates": [{"subject_id": "CX-77"}]}}
                    session.add(check)
                    session.commit()
    assert [e["upstream"]["status"] for e in events] == ["queued", "completed"]
    trail = _trail(gw, "check.upstream.event", check_id)
    assert [e["after"]["upstream_status"] for e in trail] == ["queued", "completed"]
    assert trail[1]["after"]["central_candidates"] == ["CX-77"]
    assert {e["actor_name"] for e in trail} == {"SEEK-SSE"}

    # A stream that ends on its timeout sent one event: one entry (the timeout carries nothing).
    quiet = _queued_check(gw, device)
    with gw.client(device) as dev:
        body = dev.get(f"/v1/checks/{quiet}/events", params={"timeout": 1}).text
    assert body.count("event: upstream") == 1 and "event: timeout" in body
    assert len(_trail(gw, "check.upstream.event", quiet)) == 1
