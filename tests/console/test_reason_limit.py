"""A watchlist change's reason is kept as the audit entry's detail (VARCHAR(2000)): a longer
one is a 422 naming ``reason`` with the limit, from the API and the console alike, on both
databases (review finding: the console's edit form took any length, a 500 on PostgreSQL, which
enforces the size, and a silently oversized row on SQLite)."""

from __future__ import annotations

from tests.conftest import LiveGateway

from .helpers import csrf_of, make_user, sign_in


def test_an_over_long_reason_is_refused_naming_the_limit(any_db_gateway: LiveGateway) -> None:
    gw = any_db_gateway
    make_user(gw, "reason-admin", role="ncb_admin", language="en")
    console = sign_in(gw, "reason-admin")
    with gw.client() as api:
        sid = api.post("/v1/subjects", json={"name": "Long Reason", "category": "blue"}).json()["id"]
        api_long = api.patch(f"/v1/subjects/{sid}", json={"name": "X"},
                             params={"reason": "r" * 2001})
        assert api_long.status_code == 422 and api_long.json()["field"] == "reason"
        assert "2000" in api_long.text

    def edit(reason: str):  # type: ignore[no-untyped-def]
        form = console.get(f"/console/subjects/{sid}/edit")
        return console.post(f"/console/subjects/{sid}/edit", data={
            "name": "Long Reason Edited", "category": "blue", "reason": reason,
            "csrf": csrf_of(form.text)})

    refused = edit("r" * 2001)
    assert refused.status_code == 422, refused.text[:500]
    assert "reason" in refused.text and "2000" in refused.text
    assert 'value="Long Reason Edited"' in refused.text  # the form is kept
    with gw.client() as api:
        assert api.get(f"/v1/subjects/{sid}").json()["name"] == "Long Reason"  # nothing changed
    page = console.get(f"/console/subjects/{sid}")
    deleted = console.post(f"/console/subjects/{sid}/delete",
                           data={"reason": "d" * 2001, "csrf": csrf_of(page.text)})
    assert deleted.status_code == 422 and "2000" in deleted.text
    assert edit("  " + "r" * 2000 + "  ").status_code == 303  # at the limit (stripped): kept
    with gw.client() as api:
        audit = api.get("/v1/audit", params={"target_id": sid, "action": "subject.update"}).json()
    assert [len(e["detail"]) for e in audit["items"]] == [2000]
