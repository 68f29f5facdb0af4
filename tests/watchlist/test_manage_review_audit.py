"""Subject search, biometrics list, hit review, and audit completeness over HTTP."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.conftest import LiveGateway
from tests.watchlist.helpers import check_face, enrol, lfw_people, network_keys


def test_search_filters_paging_sorting(gateway: LiveGateway) -> None:
    made = []
    with gateway.client() as admin:
        for i, (name, cat, nat, aliases) in enumerate(
            [
                ("José Álvarez", "red", "MZ", ["Zé"]),
                ("Amina Said", "yellow", "TZ", []),
                ("Peter Otieno", "national_wanted", "KE", ["Jose Pedro"]),
                ("Hidden Person", "red", "UG", []),
            ]
        ):
            body = {
                "name": name,
                "category": cat,
                "nationality": nat,
                "aliases": aliases,
                "external_ref": f"S-{i:03d}/2026",
                "date_of_birth": f"198{i}-01-02",
            }
            if name == "Hidden Person":
                body.update(originating_country="UG", sharing=["KE"])  # not shared with MU
            r = admin.post("/v1/subjects", json=body)
            assert r.status_code == 201, r.text
            made.append(r.json()["id"])
        page = admin.get("/v1/subjects", params={"q": "jose"}).json()
        assert {s["id"] for s in page["items"]} == {made[0], made[2]}  # accent-free, aliases
        assert page["total"] == 2
        assert (
            admin.get("/v1/subjects", params={"category": "yellow"}).json()["items"][0]["id"]
            == made[1]
        )
        assert admin.get("/v1/subjects", params={"nationality": "ke"}).json()["total"] == 1
        assert (
            admin.get("/v1/subjects", params={"external_ref": "s-002"}).json()["items"][0]["id"]
            == made[2]
        )
        assert (
            admin.get("/v1/subjects", params={"date_of_birth": "1981-01-02"}).json()["total"] == 1
        )
        assert admin.get("/v1/subjects", params={"originating_country": "UG"}).json()["total"] == 0
        assert admin.get("/v1/subjects", params={"q": "hidden"}).json()["total"] == 0
        assert made[3] not in admin.get("/v1/subjects", params={"limit": 500}).text
        first = admin.get(
            "/v1/subjects", params={"sort": "-external_ref", "limit": 1, "external_ref": "S-"}
        ).json()
        second = admin.get(
            "/v1/subjects",
            params={"sort": "-external_ref", "limit": 1, "offset": 1, "external_ref": "S-"},
        ).json()
        assert first["total"] == second["total"] == 3
        assert (first["items"][0]["id"], second["items"][0]["id"]) == (made[2], made[1])
        for params, field in (
            ({"category": "violet"}, "category"),
            ({"nationality": "XX"}, "nationality"),
            ({"sort": "shoe"}, "sort"),
        ):
            r = admin.get("/v1/subjects", params=params)
            assert r.status_code == 422 and r.json()["field"] == field
        dup = admin.post(
            "/v1/subjects", json={"name": "Dup", "category": "red", "external_ref": "S-000/2026"}
        )
        assert dup.status_code == 409


def test_biometrics_listed_with_quality(gateway: LiveGateway, shared_data: Path) -> None:
    person = lfw_people(shared_data)[30]
    prints = shared_data / "fingerprints" / "fvc2002_db1_b"
    with gateway.client() as admin:
        sid = enrol(admin, person)
        enrol_second = sorted(person.glob("*.jpg"))[1]
        assert (
            admin.post(
                f"/v1/subjects/{sid}/faces", files={"image": ("b.jpg", enrol_second.read_bytes())}
            ).status_code
            == 201
        )
        for imp in (1, 2):
            r = admin.post(
                f"/v1/subjects/{sid}/fingerprints",
                data={"position": "7"},
                files={"image": ("f.tif", (prints / f"103_{imp}.tif").read_bytes())},
            )
            assert r.status_code == 201, r.text
        listed = admin.get(f"/v1/subjects/{sid}/biometrics").json()
        assert [b["modality"] for b in listed] == ["face", "face", "finger", "finger"]
        assert all(b["quality"] for b in listed)
        fingers = admin.get(f"/v1/subjects/{sid}/biometrics", params={"position": 7}).json()
        assert len(fingers) == 2 and fingers[0]["quality"]["nfiq2"] > 0
        row = admin.get("/v1/subjects", params={"q": person.name.split("_")[-1]}).json()["items"][0]
        assert row["biometric_counts"] == {"faces": 2, "fingerprints": 2}
        assert admin.delete(f"/v1/subjects/{sid}/biometrics/{fingers[0]['id']}").status_code == 204
        assert len(admin.get(f"/v1/subjects/{sid}/biometrics").json()) == 3


def test_review_and_audit_completeness(
    gateway: LiveGateway, device_token: str, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    person = lfw_people(shared_data)[31]
    analyst = gateway.token("ncb_analyst")
    auditor = gateway.token("auditor")
    with gateway.client() as admin:
        sid = enrol(admin, person, external_ref="REV-1")
        assert admin.patch(f"/v1/subjects/{sid}", json={"category": "orange"}).status_code == 200
    with gateway.client(device_token) as dev:
        body = check_face(dev, sorted(person.glob("*.jpg"))[3])
        assert body["decision"] in ("hit", "possible")
        check_id = body["check_id"]
        no_hit = check_face(dev, sorted(lfw_people(shared_data)[74].glob("*.jpg"))[0])
    with gateway.client(analyst) as an:
        pending = an.get("/v1/reviews").json()
        assert check_id in {c["check_id"] for c in pending["items"]}
        r = an.post(
            f"/v1/checks/{check_id}/review",
            json={"outcome": "confirmed", "comment": "same person, seen at gate 2"},
        )
        assert r.status_code == 200, r.text
        assert check_id not in {c["check_id"] for c in an.get("/v1/reviews").json()["items"]}
        done = an.get("/v1/reviews", params={"status": "confirmed"}).json()["items"]
        assert done[0]["review"]["reviewed_by"]
        assert (
            an.post(
                f"/v1/checks/{no_hit['check_id']}/review",
                json={"outcome": "rejected", "comment": "x"},
            ).status_code
            == 409
        )
        assert (
            an.post(
                f"/v1/checks/{check_id}/review", json={"outcome": "maybe", "comment": "x"}
            ).status_code
            == 422
        )
        assert an.get("/v1/audit").status_code == 403
    with gateway.client(device_token) as dev:
        seen = dev.get(f"/v1/checks/{check_id}").json()["review"]
        assert seen["status"] == "confirmed" and seen["comment"] == "same person, seen at gate 2"
        assert dev.get("/v1/reviews").status_code == 403
    with gateway.client() as admin:
        tok = admin.post("/v1/tokens", json={"role": "device", "name": "audit-me"}).json()
        assert admin.delete(f"/v1/tokens/{tok['id']}").status_code == 200
        # The feed is signed, so it needs a key (the shared fixture gateway has none).
        monkeypatch.setattr(gateway.runtime, "snapshot_keys", network_keys("audit-test"))
        assert admin.get("/v1/watchlist/changes", params={"since": 0}).status_code == 200
        assert (
            admin.delete(f"/v1/subjects/{sid}", params={"reason": "notice withdrawn"}).status_code
            == 204
        )
    with gateway.client(auditor) as aud:

        def actions(**params: str) -> list[str]:
            return [
                e["action"]
                for e in aud.get("/v1/audit", params={"limit": 1000, **params}).json()["items"]
            ]

        trail = actions(target_id=sid)
        for action in (
            "subject.create",
            "biometric.face.enrol",
            "subject.update",
            "subject.delete",
        ):
            assert action in trail, action
        deleted = aud.get(
            "/v1/audit", params={"target_id": sid, "action": "subject.delete"}
        ).json()["items"][0]
        assert deleted["detail"] == "notice withdrawn" and deleted["before"]["name"]
        assert deleted["actor_role"] == "ncb_admin"
        review = aud.get("/v1/audit", params={"target_id": check_id}).json()["items"]
        # The device's read of its answer is in the trail too (who, why, what).
        assert "check.read" in [e["action"] for e in review]
        review = [e for e in review if e["action"] != "check.read"]
        assert [e["action"] for e in review] == ["check.review", "check.create"]
        assert (
            review[0]["before"]["status"] == "pending"
            and review[0]["after"]["status"] == "confirmed"
        )
        assert review[1]["actor_role"] == "device" and review[0]["actor_role"] == "ncb_analyst"
        assert {"token.create", "token.revoke"} <= set(actions(target_id=tok["id"]))
        assert "watchlist.changes" in actions(action="watchlist.")
        page = aud.get("/v1/audit", params={"limit": 2, "offset": 1}).json()
        assert len(page["items"]) == 2 and page["total"] > 10
        r = aud.get("/v1/audit.csv", params={"target_id": sid})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        assert [x["action"] for x in rows][0] == "subject.create" and len(rows) == len(trail)
        assert aud.get("/v1/audit", params={"format": "csv"}).text.startswith("id,at,")
        assert "audit.export" in actions(action="audit.export")
