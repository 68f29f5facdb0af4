"""The whole gateway over HTTP on PostgreSQL (the same code the SQLite suite runs), plus the
limits where the two databases differ (PostgreSQL enforces VARCHAR sizes, SQLite does not)."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import LiveGateway


def test_enrol_check_and_limits_on_both_databases(any_db_gateway: LiveGateway,
                                                  shared_data: Path) -> None:
    gw = any_db_gateway
    prints = shared_data / "fingerprints" / "fvc2002_db1_b"
    device = gw.token("device", "SEEK-PG")
    with gw.client() as admin:
        sid = admin.post("/v1/subjects", json={"name": "Both Databases", "category": "red"}).json()["id"]
        r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                       files={"image": ("e.tif", (prints / "106_1.tif").read_bytes())})
        assert r.status_code == 201, r.text
        r = admin.delete(f"/v1/subjects/{sid}", params={"reason": "x" * 2001})
        assert r.status_code == 422 and r.json()["field"] == "reason"
    with gw.client(device) as dev:
        r = dev.post("/v1/checks", files={"finger_2": ("p.tif", (prints / "106_2.tif").read_bytes())},
                     data={"purpose": "port entry", "device_id": "SEEK-PG-7"})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["decision"] in ("hit", "possible")
        assert body["candidates"][0]["subject_id"] == sid
        assert dev.get(f"/v1/checks/{body['check_id']}").json()["device_id"] == "SEEK-PG-7"
        for field, value in (("purpose", "p" * 61), ("device_id", "d" * 101)):
            r = dev.post("/v1/checks", data={"purpose": "port entry", field: value},
                         files={"finger_2": ("p.tif", (prints / "106_3.tif").read_bytes())})
            assert r.status_code == 422, r.text
            assert r.json()["field"] == field
        assert dev.get("/v1/adapters").status_code == 200  # nothing above broke the gateway
    with gw.client(gw.token("ncb_analyst")) as analyst:  # sealed images on both databases
        evidence = analyst.get(f"/v1/checks/{body['check_id']}/evidence").json()
        assert [i["kind"] for i in evidence["probe"]["images"]] == ["finger"]
        assert analyst.get(evidence["probe"]["images"][0]["url"]).status_code == 200
        ref = evidence["candidates"][0]["reference_images"][0]
        assert analyst.get(ref["url"]).headers["content-type"] == "image/png"
