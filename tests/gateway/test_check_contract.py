"""The check answer is one type (``CheckAnswer``) rendered from the stored facts, and the
OpenAPI document says so: typed check answers, problem+json for every error (issue 15)."""

from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from gateway.checks.answer import CheckAnswer, CheckFacts, render
from gateway.checks.models import Check
from gateway.db import create_all, make_engine
from gateway.upstream.queue import QueueItem
from gateway.upstream.reconcile import apply_result
from tests.conftest import LiveGateway
from tests.upstream.procs import td3_mrz

PROBLEM = "application/problem+json"


def test_post_and_get_give_the_same_typed_answer(gateway: LiveGateway, device_token: str) -> None:
    with gateway.client(device_token) as c:
        mrz = td3_mrz(number="ZZ1234567", state="UTO")
        posted = c.post("/v1/checks", files={"mrz": (None, mrz), "purpose": (None, "port entry")})
        assert posted.status_code == 200, posted.text
        answer = posted.json()
        read = c.get(f"/v1/checks/{answer['check_id']}").json()
    CheckAnswer.model_validate(answer)
    assert read == answer
    # A check without biometrics has no candidates; without central's report no `central`.
    assert answer["candidates"] == [] and "central" not in answer and "document" in answer


def test_the_decision_lives_in_one_place(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'gw.db'}")
    create_all(engine)
    with Session(engine) as session:
        facts = CheckFacts(message="No match.", language="en")
        session.add(Check(id="chk_one", token_id="tok", local_decision="no_hit",
                          decision="no_hit", response=facts.stored()))
        session.commit()
        item = QueueItem(id=1, check_id="chk_one", kind="search", idempotency_key="k",
                         priority=0, payload={}, state="pending", attempts=1, created_at=0,
                         available_at=0, expires_at=0)
        upgraded = apply_result(session, item, {
            "check_id": "chk_one", "decision": "hit", "search_id": "srch_1",
            "candidates": [{"subject_id": "C-1"}]})
        session.commit()
        check = session.get(Check, "chk_one")
        assert upgraded and check is not None
        assert "decision" not in check.response  # stored once: the column
        answer = render(check)
    assert answer.decision == "hit" and answer.local_decision == "no_hit"
    assert answer.central is not None and answer.central.candidates[0]["subject_id"] == "C-1"
    assert answer.review.status == "pending"


def test_openapi_types_check_answers_and_documents_problems(gateway: LiveGateway) -> None:
    with gateway.client(token=None) as c:
        spec = c.get("/openapi.json").json()
    for path in ("/v1/checks", "/v1/adapters/{name}/checks"):
        ok = spec["paths"][path]["post"]["responses"]["200"]["content"]["application/json"]
        assert ok["schema"] == {"$ref": "#/components/schemas/CheckAnswer"}
        assert ok["example"]["decision"] == "hit"
    read = spec["paths"]["/v1/checks/{check_id}"]["get"]["responses"]["200"]
    assert read["content"]["application/json"]["schema"]["$ref"].endswith("/CheckAnswer")
    enrol = spec["paths"]["/v1/subjects/{subject_id}/fingerprints"]["post"]["responses"]
    assert enrol["422"]["content"][PROBLEM]["example"]["reason"] == "too_few_minutiae"
    assert "HTTPValidationError" not in spec["components"]["schemas"]
    domains = {t["name"] for t in spec["tags"]}
    for path, item in spec["paths"].items():
        for method, op in item.items():
            assert len(op["tags"]) == 1 and op["tags"][0] in domains, (method, path)
            if not path.startswith("/v1/"):
                continue
            wanted = {"401", "403", "422", "503"} | ({"404"} if "{" in path else set())
            assert wanted <= set(op["responses"]), (method, path)
            for code, response in op["responses"].items():
                if int(code) >= 400:
                    assert list(response["content"]) == [PROBLEM], (method, path, code)
