"""Sharing restrictions across two gateways (KE and TZ), deltas, and signed snapshots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import LiveGateway
from tests.watchlist.helpers import check_face, enrol, lfw_people, network_keys, network_settings

KEY = "network-key-test"


@pytest.fixture(scope="module")
def people(shared_data: Path) -> list[Path]:
    return lfw_people(shared_data)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory, people: list[Path]) -> Iterator[LiveGateway]:
    """Gateway A (KE) with five shared subjects and one restricted to KE and UG."""
    with LiveGateway(tmp_path_factory.mktemp("ke"), country="KE",
                     **network_settings(KEY)) as gw:
        ids = {}
        with gw.client() as admin:
            for i, person in enumerate(people[:5]):
                ids[person.name] = enrol(admin, person, external_ref=f"A-{i}/2026")
            ids["restricted"] = enrol(admin, people[5], external_ref="R-1/2026", sharing=["UG"])
        gw.ids = ids  # type: ignore[attr-defined]
        yield gw


def _gateway(tmp_path: Path, country: str, key: str | None = KEY) -> LiveGateway:
    return LiveGateway(tmp_path, country=country, **network_settings(key))


def _page(signed: dict) -> dict:
    """The page inside a signed ``GET /v1/watchlist/changes`` answer."""
    assert signed["signature"].startswith("FCFEED2 ED25519 ")
    return json.loads(signed["payload"])


def test_restricted_subject_is_visible_at_home(source: LiveGateway, people: list[Path]) -> None:
    rid = source.ids["restricted"]  # type: ignore[attr-defined]
    device = source.token("device")
    with source.client() as admin:
        assert admin.get(f"/v1/subjects/{rid}").status_code == 200
        listed = admin.get("/v1/subjects", params={"limit": 100}).json()
        assert rid in {s["id"] for s in listed["items"]}
    with source.client(device) as dev:
        body = check_face(dev, sorted(people[5].glob("*.jpg"))[1])
    assert body["decision"] in ("hit", "possible")
    assert body["candidates"][0]["subject_id"] == rid


def test_restricted_subject_never_reaches_tz(
    source: LiveGateway, people: list[Path], tmp_path: Path
) -> None:
    rid = source.ids["restricted"]  # type: ignore[attr-defined]
    with source.client() as admin:
        feed = admin.get("/v1/watchlist/changes", params={"since": 0, "country": "TZ"})
        assert feed.status_code == 200
        assert rid not in feed.text
        assert len(_page(feed.json())["changes"]) == 5
        snap = admin.get("/v1/watchlist/export", params={"country": "TZ"})
        assert snap.status_code == 200
    with _gateway(tmp_path, "TZ") as b, b.client() as admin_b:
        r = admin_b.post("/v1/watchlist/import", content=snap.content)
        assert r.status_code == 200, r.text
        assert r.json()["created"] == 5
        assert admin_b.get(f"/v1/subjects/{rid}").status_code == 404
        listed = admin_b.get("/v1/subjects", params={"q": people[5].name.split("_")[0]}).json()
        assert rid not in {s["id"] for s in listed["items"]}
        assert rid not in admin_b.get("/v1/watchlist/changes", params={"since": 0}).text
        assert rid not in admin_b.get("/v1/watchlist/export").content.decode("latin-1")
        with b.client(b.token("device")) as dev:
            body = check_face(dev, sorted(people[5].glob("*.jpg"))[1])
        assert rid not in str(body)


def test_import_applies_restriction_again(source: LiveGateway, tmp_path: Path) -> None:
    """A snapshot signed for TZ that (wrongly) holds a subject TZ may not see: it is dropped."""
    from sqlmodel import Session

    from gateway.watchlist import deltas, snapshots

    with Session(source.runtime.engine) as session:
        body = deltas.full_state(session, target="KE", source_country="KE")
    body["target_country"] = "TZ"
    body.update(
        format=snapshots.SNAPSHOT_FORMAT,
        snapshot_id="snap_forged",
        kind="full",
        created_at="2026-01-01T00:00:00+00:00",
        expires_at="2099-01-01T00:00:00+00:00",
    )
    blob = snapshots.sign(body, keys=network_keys(KEY))
    rid = source.ids["restricted"]  # type: ignore[attr-defined]
    with _gateway(tmp_path, "TZ") as b, b.client() as admin_b:
        r = admin_b.post("/v1/watchlist/import", content=blob)
        assert r.status_code == 200, r.text
        assert r.json()["restricted"] == 1 and r.json()["created"] == 5
        assert admin_b.get(f"/v1/subjects/{rid}").status_code == 404
        assert rid not in str(b.runtime.cache.subjects)


def test_deltas_on_empty_gateway_reproduce_search(
    source: LiveGateway, people: list[Path], tmp_path: Path
) -> None:
    probes = [sorted(p.glob("*.jpg"))[2] for p in people[:6]] + [
        sorted(people[20].glob("*.jpg"))[0]
    ]
    with source.client() as admin:
        feed = admin.get("/v1/watchlist/changes", params={"since": 0, "country": "KE"}).json()
    with _gateway(tmp_path, "KE") as b:
        with b.client() as admin_b:
            r = admin_b.post("/v1/watchlist/changes:apply", json=feed)
            assert r.status_code == 200, r.text
            assert r.json()["created"] == 6
        hits = 0
        with source.client(source.token("device")) as dev_a, b.client(b.token("device")) as dev_b:
            for probe in probes:
                a, bb = check_face(dev_a, probe), check_face(dev_b, probe)
                assert a["decision"] == bb["decision"], probe
                # Same search; only the enrolling gateway keeps the reference images (deltas
                # carry templates), so only its answers carry the thumbnail.
                assert [{**c, "reference_thumbnail": None} for c in a["candidates"]] == \
                    bb["candidates"], probe
                hits += a["decision"] == "hit"
        # Not vacuous: the enrolled identities are found (the stranger is not).
        assert hits >= 5


def test_deltas_carry_updates_and_deletes(
    source: LiveGateway, people: list[Path], tmp_path: Path
) -> None:
    from gateway.watchlist import snapshots

    with source.client() as admin, _gateway(tmp_path, "TZ") as b, b.client() as admin_b:
        first = admin.get("/v1/watchlist/changes", params={"since": 0, "country": "TZ"}).json()
        assert admin_b.post("/v1/watchlist/changes:apply", json=first).status_code == 200
        base = _page(first)["to_version"]
        extra = enrol(admin, people[8], external_ref="A-8/2026")
        victim = source.ids[people[0].name]  # type: ignore[attr-defined]
        shared_then_hidden = source.ids[people[1].name]  # type: ignore[attr-defined]
        assert admin.patch(f"/v1/subjects/{victim}", json={"category": "blue"}).status_code == 200
        assert (
            admin.patch(f"/v1/subjects/{shared_then_hidden}", json={"sharing": ["UG"]}).status_code
            == 200
        )
        signed = admin.get("/v1/watchlist/changes", params={"since": base, "country": "TZ"})
        delta = _page(signed.json())
        ops = {c.get("subject_id") or c["subject"]["id"]: c["op"] for c in delta["changes"]}
        assert ops == {extra: "upsert", victim: "upsert", shared_then_hidden: "delete"}
        r = admin_b.post("/v1/watchlist/changes:apply", json=signed.json()).json()
        assert (r["created"], r["updated"], r["deleted"]) == (1, 1, 1)
        assert admin_b.get(f"/v1/subjects/{victim}").json()["category"] == "blue"
        assert admin_b.get(f"/v1/subjects/{shared_then_hidden}").status_code == 404
        # A gap (a delta from further on than what B holds) is refused.
        gap = {**delta, "since": delta["to_version"] + 5, "to_version": delta["to_version"] + 9}
        signed_gap = snapshots.sign_feed(gap, keys=network_keys(KEY))
        assert admin_b.post("/v1/watchlist/changes:apply", json=signed_gap).status_code == 409
        # Restore A for the other tests.
        assert (
            admin.patch(f"/v1/subjects/{shared_then_hidden}", json={"sharing": None}).status_code
            == 200
        )
        assert admin.delete(f"/v1/subjects/{extra}", params={"reason": "test"}).status_code == 204


def test_snapshot_round_trip_and_refusals(
    source: LiveGateway, people: list[Path], tmp_path: Path
) -> None:
    with source.client() as admin:
        snap = admin.get("/v1/watchlist/export", params={"country": "MZ"})
        assert snap.status_code == 200
        assert snap.content.startswith(b"FCSNAP2 ED25519 ")
        expected = {
            s["id"]: s for s in admin.get("/v1/subjects", params={"limit": 100}).json()["items"]
        }
    del expected[source.ids["restricted"]]  # type: ignore[attr-defined]
    with _gateway(tmp_path / "mz", "MZ") as b, b.client() as admin_b:
        for i in (25, len(snap.content) // 2, len(snap.content) - 1):
            flipped = bytearray(snap.content)
            flipped[i] ^= 0x01
            r = admin_b.post("/v1/watchlist/import", content=bytes(flipped))
            assert r.status_code == 422, (i, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        assert admin_b.get("/v1/subjects").json()["total"] == 0
        r = admin_b.post("/v1/watchlist/import", content=snap.content)
        assert r.status_code == 200, r.text
        got = {
            s["id"]: s for s in admin_b.get("/v1/subjects", params={"limit": 100}).json()["items"]
        }
        assert got.keys() == expected.keys()
        for sid, subject in got.items():
            for key in (
                "name",
                "category",
                "external_ref",
                "sharing",
                "handling_instructions",
                "biometric_counts",
            ):
                assert subject[key] == expected[sid][key]
        again = admin_b.post("/v1/watchlist/import", content=snap.content).json()
        assert again["unchanged"] == len(expected) and again["created"] == 0
        audit = admin_b.get("/v1/audit", params={"action": "watchlist.import."}).json()["items"]
        assert len(audit) == 3  # the three refused attempts
    with _gateway(tmp_path / "mz2", "MZ", key="another-network") as c, c.client() as admin_c:
        r = admin_c.post("/v1/watchlist/import", content=snap.content)
        assert r.status_code == 422 and "signature" in r.json()["detail"]
    with _gateway(tmp_path / "tz", "TZ") as d, d.client() as admin_d:
        r = admin_d.post("/v1/watchlist/import", content=snap.content)
        assert r.status_code == 409 and "made for MZ" in r.json()["detail"]
    with _gateway(tmp_path / "nokey", "MZ", key=None) as e, e.client() as admin_e:
        for r in (
            admin_e.post("/v1/watchlist/import", content=snap.content),
            admin_e.get("/v1/watchlist/export"),
        ):
            assert r.status_code == 409
            assert r.json()["field"] in ("FIELDCHECK_SNAPSHOT_TRUSTED_KEYS",
                                         "FIELDCHECK_SNAPSHOT_SIGNING_KEY"), r.text


def test_expired_snapshot_refused(source: LiveGateway) -> None:
    from datetime import UTC, datetime, timedelta

    from gateway.watchlist import snapshots

    with source.client() as admin:
        blob = admin.get("/v1/watchlist/export", params={"country": "TZ", "ttl_days": 1}).content
    with pytest.raises(Exception) as err:
        snapshots.verify(blob, keys=network_keys(KEY), now=datetime.now(UTC) + timedelta(days=2))
    assert "expired" in str(err.value)
