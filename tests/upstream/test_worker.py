"""Delivery worker, reconciliation, policy, client and breaker: in-process, real SQLite file,
the fake central at the edge."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import Session, select

from device_adapters.capture import Capture, DocumentData
from gateway.audit.models import AuditEntry
from gateway.checks.models import Check
from gateway.db import create_all, make_engine
from gateway.settings import Settings
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.client import (
    CentralProtocolError,
    CentralRejected,
    CentralUnavailable,
    FakeCentralClient,
    HttpCentralClient,
)
from gateway.upstream.documents import check_document_locally, sync_feed
from gateway.upstream.port import ProbeTemplates
from gateway.upstream.service import UpstreamService
from gateway.upstream.settings import UpstreamSettings
from gateway.upstream.worker import DeliveryWorker

FAST = dict(backoff_base_s=0.001, backoff_max_s=0.001, breaker_failures=3, breaker_reset_s=60,
            drain_per_s=10_000, max_attempts=3, workers=1)


class Env:
    def __init__(self, tmp: Path, **upstream: object) -> None:
        self.engine = make_engine(f"sqlite:///{tmp / 'gw.db'}")
        create_all(self.engine)
        self.central = FakeCentralClient()
        self.service = UpstreamService(
            settings=Settings(data_dir=tmp, upstream_url="http://central.invalid"),
            upstream=UpstreamSettings(**{**FAST, **upstream}),  # type: ignore[arg-type]
            engine=self.engine, client=self.central,
        )
        self.worker = DeliveryWorker(storage=self.service.storage, client=self.central,
                                     breaker=self.service.breaker,
                                     settings=self.service.upstream)

    def check(self, check_id: str, decision: str = "no_hit", purpose: str | None = None,
              capture: Capture | None = None) -> Check:
        with Session(self.engine) as session:
            check = Check(id=check_id, token_id="tok_dev", local_decision=decision,
                          decision=decision, purpose=purpose,
                          response={"check_id": check_id, "decision": decision})
            session.add(check)
            self.service.on_check(session, check, capture or Capture(purpose=purpose),
                                  ProbeTemplates(faces=(b"\0\0\0",)))
            session.commit()
            session.refresh(check)
            return check

    def get(self, check_id: str) -> Check:
        with Session(self.engine) as session:
            check = session.get(Check, check_id)
            assert check is not None
            return check


@pytest.fixture()
def env(tmp_path: Path) -> Iterator[Env]:
    e = Env(tmp_path)
    yield e
    e.engine.dispose()


def test_central_hit_upgrades_flags_for_review_and_is_audited(env: Env) -> None:
    env.check("chk_a")
    env.central.results["chk_a"] = {"decision": "hit", "candidates": [
        {"subject_id": "C-1", "name": "X", "category": "red", "strength": "hit"}]}
    assert env.get("chk_a").upstream_status == "queued"
    assert env.worker.run_once("w")
    check = env.get("chk_a")
    assert (check.upstream_status, check.decision, check.local_decision) == (
        "completed", "hit", "no_hit")
    assert check.review_status == "pending"
    assert check.response["central"]["candidates"][0]["subject_id"] == "C-1"
    assert check.upstream_result and check.upstream_result["decision"] == "hit"
    assert env.central.calls == {"chk_a:search": 1}
    with Session(env.engine) as session:
        actions = [a.action for a in session.exec(select(AuditEntry))]
    assert "check.upstream_result" in actions


def test_payload_carries_templates_and_document(env: Env) -> None:
    doc = DocumentData(mrz_lines=[], document_number="M00000001", issuing_state="MDG",
                       surname="DOE", given_names="JANE", birth_date="1990-01-01")
    env.check("chk_d", capture=Capture(document=doc))
    [item] = env.service.storage.claim(owner="w", limit=1, lease_s=5, now=time.time() + 1)
    request = item.payload["request"]
    assert request["faces"] == ["AAAA"] and request["document"]["document_number"] == "M00000001"
    assert request["nominal"] == {"surname": "DOE", "given_names": "JANE",
                                  "birth_date": "1990-01-01"}


def test_central_never_downgrades_the_local_answer(env: Env) -> None:
    env.check("chk_h", decision="hit")
    env.worker.run_once("w")
    check = env.get("chk_h")
    assert (check.decision, check.upstream_status) == ("hit", "completed")


def test_result_for_another_check_is_never_applied(env: Env) -> None:
    env.check("chk_w")
    env.central.answers["chk_w:search"] = {"check_id": "chk_OTHER", "decision": "hit",
                                           "candidates": []}
    for _ in range(3):
        env.worker.run_once("w")
        env.service.storage.reset_backoff(now=9e12)
    check = env.get("chk_w")
    assert check.decision == "no_hit" and check.upstream_status == "failed"
    [dead] = env.service.dead_letters()
    assert "not 'chk_w'" in dead["reason"] and dead["attempts"] == 3


def test_rejection_dead_letters_at_once(env: Env) -> None:
    env.check("chk_r")
    env.central.fail_next.append(CentralRejected("rejected (422): bad template", status=422))
    env.worker.run_once("w")
    check = env.get("chk_r")
    assert check.upstream_status == "failed"
    assert check.upstream_result and "bad template" in check.upstream_result["error"]
    [dead] = env.service.dead_letters()
    assert dead["attempts"] == 1
    env.service.requeue(dead["id"], actor=None)
    assert env.get("chk_r").upstream_status == "queued"
    env.worker.run_once("w")
    assert env.get("chk_r").upstream_status == "completed"


def test_unavailable_retries_then_circuit_opens_and_blocks(env: Env) -> None:
    for n in range(4):
        env.check(f"chk_{n}")
    env.central.down = True
    env.worker.run_once("w")  # three failures open the breaker; the fourth item is released
    assert env.service.breaker.state == "open"
    assert all(env.get(f"chk_{n}").upstream_status == "queued" for n in range(4))
    assert env.worker.run_once("w") is False  # nothing goes out while open
    assert env.service.storage.stats(now=9e12).depth == 4
    assert env.service.status()["link"] == "down"


def test_expiry_marks_the_check_expired(tmp_path: Path) -> None:
    env = Env(tmp_path, ttl_s=0.001)
    env.check("chk_x")
    env.central.down = True
    time.sleep(0.01)
    env.worker._sweep()
    assert env.get("chk_x").upstream_status == "expired"
    assert env.service.dead_letters()[0]["reason"].startswith("expired")


@pytest.mark.parametrize("policy,decision,purpose,forwarded", [
    ("all", "no_hit", None, True),
    ("hits", "no_hit", None, False),
    ("hits", "possible", None, True),
    ("purpose:border,port", "no_hit", "port", True),
    ("purpose:border,port", "hit", "traffic", False),
])
def test_forwarding_policy(tmp_path: Path, policy: str, decision: str, purpose: str | None,
                           forwarded: bool) -> None:
    env = Env(tmp_path, policy=policy)
    check = env.check("chk_p", decision=decision, purpose=purpose)
    assert (check.upstream_status == "queued") is forwarded


def test_feed_keeps_the_local_document_list(env: Env) -> None:
    env.central.feed = [
        {"version": 1, "kind": "document", "op": "upsert",
         "data": {"document_number": "M0000000<1", "issuing_state": "MDG", "status": "stolen"}},
        {"version": 2, "kind": "notice", "op": "upsert", "data": {"notice_id": "N1",
                                                                   "surname": "DOE"}},
        {"version": 3, "kind": "document", "op": "upsert",
         "data": {"document_number": "K1", "issuing_state": "KEN", "status": "lost"}},
        {"version": 4, "kind": "document", "op": "delete",
         "data": {"document_number": "K1", "issuing_state": "KEN"}},
    ]
    assert sync_feed(env.engine, env.central, page=2) == 4
    with Session(env.engine) as session:
        hit = check_document_locally(session, DocumentData(
            mrz_lines=[], document_number="M00000001", issuing_state="MDG"))
        gone = check_document_locally(session, DocumentData(
            mrz_lines=[], document_number="K1", issuing_state="KEN"))
    assert hit == {"status": "stolen", "hit": True, "list_version": 4, "source": "local",
                   "notices": []}
    assert gone is not None and gone["status"] == "clear"


# -- the HTTP client's error mapping ------------------------------------------------------------


def client_for(handler, retries: int = 2) -> tuple[HttpCentralClient, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return handler(request)

    return HttpCentralClient("http://central", token="s3cret", retries=retries,
                             transport=httpx.MockTransport(record),
                             sleep=lambda _s: None), seen


REQ = {"check_id": "chk_1"}


def test_client_sends_token_and_idempotency_key() -> None:
    client, seen = client_for(lambda r: httpx.Response(
        200, json={"check_id": "chk_1", "decision": "no_hit", "candidates": []}))
    assert client.search(REQ, idempotency_key="chk_1:search")["decision"] == "no_hit"
    assert seen[0].headers["authorization"] == "Bearer s3cret"
    assert seen[0].headers["idempotency-key"] == "chk_1:search"
    assert json.loads(seen[0].content) == REQ


def test_client_retries_5xx_then_gives_up() -> None:
    client, seen = client_for(lambda r: httpx.Response(503), retries=2)
    with pytest.raises(CentralUnavailable):
        client.search(REQ, idempotency_key="k")
    assert len(seen) == 3 and {r.headers["idempotency-key"] for r in seen} == {"k"}


def test_client_maps_closed_connections_and_timeouts() -> None:
    def closed(_r: httpx.Request) -> httpx.Response:
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.")

    def slow(_r: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out")

    for handler in (closed, slow):
        client, _ = client_for(handler, retries=0)
        with pytest.raises(CentralUnavailable):
            client.search(REQ, idempotency_key="k")


def test_client_rejection_is_final_and_keeps_centrals_reason() -> None:
    client, seen = client_for(lambda r: httpx.Response(
        422, json={"detail": "faces[0] is not a 128-d float32 embedding"}))
    with pytest.raises(CentralRejected) as info:
        client.search(REQ, idempotency_key="k")
    assert "128-d" in info.value.reason and len(seen) == 1


@pytest.mark.parametrize("response", [
    httpx.Response(200, content=b'{"check_id": "'),
    httpx.Response(200, json=["not", "an", "object"]),
    httpx.Response(200, json={"check_id": "chk_2", "decision": "hit", "candidates": []}),
    httpx.Response(200, json={"check_id": "chk_1", "decision": "maybe", "candidates": []}),
    httpx.Response(200, json={"check_id": "chk_1", "decision": "hit", "candidates": [1]}),
])
def test_client_refuses_unusable_answers(response: httpx.Response) -> None:
    client, _ = client_for(lambda r: response, retries=0)
    with pytest.raises(CentralProtocolError):
        client.search(REQ, idempotency_key="k")


def test_breaker_opens_half_opens_and_closes() -> None:
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, reset_s=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state == "closed"
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    now[0] = 10.5
    assert breaker.state == "half_open"
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.record_failure()
    assert breaker.state == "open" and breaker.seconds_until_trial() == pytest.approx(20)
    now[0] = 31
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_check_with_nothing_to_search_is_not_forwarded(env: Env) -> None:
    with Session(env.engine) as session:
        check = Check(id="chk_empty", token_id="tok_dev", local_decision="recapture",
                      decision="recapture", response={})
        session.add(check)
        env.service.on_check(session, check, Capture(), ProbeTemplates())
        session.commit()
    assert env.get("chk_empty").upstream_status == "not_forwarded"


def test_feed_state_with_filler_matches_mrz_state(env: Env) -> None:
    env.central.feed = [{"version": 1, "kind": "document", "op": "upsert",
                         "data": {"document_number": "C01X00T47", "issuing_state": "D<<",
                                  "status": "stolen"}}]
    sync_feed(env.engine, env.central, page=10)
    with Session(env.engine) as session:
        found = check_document_locally(session, DocumentData(
            mrz_lines=[], document_number="C01X00T47", issuing_state="D<<"))
    assert found is not None and found["hit"] is True


def test_cached_notice_matches_the_document_holder_by_name_and_birth_date(env: Env) -> None:
    env.central.feed = [{"version": 1, "kind": "notice", "op": "upsert",
                         "data": {"notice_id": "2026/123", "surname": "ERIKSSON",
                                  "given_names": "ANNA MARIA", "birth_date": "1974-08-12",
                                  "category": "red"}}]
    sync_feed(env.engine, env.central, page=10)
    holder = DocumentData(mrz_lines=[], document_number="L898902C3", issuing_state="UTO",
                          surname="Eriksson", birth_date="1974-08-12")
    other_birth = DocumentData(mrz_lines=[], document_number="L898902C3", issuing_state="UTO",
                               surname="ERIKSSON", birth_date="1975-01-01")
    with Session(env.engine) as session:
        found = check_document_locally(session, holder)
        missed = check_document_locally(session, other_birth)
    assert found is not None and [n["notice_id"] for n in found["notices"]] == ["2026/123"]
    assert found["hit"] is False  # a name match alone is not a stolen-document hit
    assert missed is not None and missed["notices"] == []


def test_the_breakers_longest_pause_is_the_setting(tmp_path: Path) -> None:
    """After a long outage delivery resumes within breaker_max_reset_s of central's return (the
    pause was a fixed 120 s: a scale-out run waited 123 s to drain after central was back)."""
    env = Env(tmp_path, breaker_reset_s=5, breaker_max_reset_s=12)
    now = [0.0]
    breaker = env.service.breaker
    breaker._clock = lambda: now[0]  # type: ignore[method-assign]
    for _ in range(3):
        breaker.record_failure()
    pauses = []
    for _ in range(5):  # every trial fails: 5, 10, then capped at 12
        pauses.append(breaker.seconds_until_trial())
        now[0] += pauses[-1]
        assert breaker.allow()
        breaker.record_failure()
    assert pauses == [5, 10, 12, 12, 12]
    assert UpstreamSettings().breaker_max_reset_s == 30
