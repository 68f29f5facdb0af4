"""Replication trust: signed feeds, per-subject provenance, prune scope, malformed pages.

Subjects here carry no photos (or synthetic face templates) so the gateways start and sync fast;
what is tested is who may change what, not matching.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from tests.conftest import LiveGateway
from tests.watchlist.helpers import network_keys, network_settings

KEY = "trust-network-key"


def _gw(path: Path, country: str, key: str | None = KEY) -> LiveGateway:
    return LiveGateway(path, country=country, **network_settings(key))


def _create(admin: httpx.Client, name: str, **fields: Any) -> str:
    r = admin.post("/v1/subjects", json={"name": name, "category": "red", **fields})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def _state(sid: str, name: str, *, country: str = "KE", **extra: Any) -> dict[str, Any]:
    return {
        "id": sid,
        "name": name,
        "category": "red",
        "originating_country": country,
        "aliases": [],
        "sharing": None,
        "templates": [],
        **extra,
    }


def _face(template_id: str, seed: int) -> dict[str, Any]:
    from matchers.templates import FaceTemplate

    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    data = FaceTemplate(embedding=vector).to_bytes()
    return {"id": template_id, "modality": "face", "position": 0, "quality": {},
            "data": base64.b64encode(data).decode()}


def _page(
    source: str, changes: list[dict[str, Any]], *, to_version: int, target: str = "MU"
) -> dict[str, Any]:
    return {"source_gateway": source, "source_country": "KE", "target_country": target,
            "since": 0, "to_version": to_version, "has_more": False, "changes": changes}


def _signed(page: dict[str, Any], key: str = KEY) -> dict[str, Any]:
    from gateway.watchlist import snapshots

    return snapshots.sign_feed(page, keys=network_keys(key))


def _snapshot(page: dict[str, Any], *, kind: str = "delta") -> bytes:
    from gateway.watchlist import snapshots

    body = {**page, "format": snapshots.SNAPSHOT_FORMAT, "snapshot_id": "snap_test", "kind": kind,
            "created_at": "2026-01-01T00:00:00+00:00", "expires_at": "2099-01-01T00:00:00+00:00"}
    return snapshots.sign(body, keys=network_keys(KEY))


def test_unsigned_feed_cannot_delete_a_local_record(tmp_path: Path) -> None:
    """The reviewer's repro: an unsigned page claiming wl_other deleted a record made in MU."""
    with _gw(tmp_path / "mu", "MU") as mu, mu.client() as admin:
        sid = _create(admin, "Local Record", external_ref="MU-1")
        unsigned = _page(
            "wl_other", [{"op": "delete", "version": 5, "subject_id": sid}], to_version=5
        )
        r = admin.post("/v1/watchlist/changes:apply", json=unsigned)
        assert r.status_code == 422, r.text
        assert admin.get(f"/v1/subjects/{sid}").status_code == 200

        tampered = _signed(unsigned)
        tampered["payload"] = tampered["payload"].replace('"to_version":5', '"to_version":6')
        r = admin.post("/v1/watchlist/changes:apply", json=tampered)
        assert r.status_code == 422 and r.json()["reason"] == "bad_signature", r.text
        r = admin.post("/v1/watchlist/changes:apply", json=_signed(unsigned, "another-network"))
        assert r.status_code == 422 and r.json()["reason"] == "bad_signature", r.text
        assert admin.get(f"/v1/subjects/{sid}").status_code == 200
    with _gw(tmp_path / "nokey", "MU", key=None) as nokey, nokey.client() as admin:
        for r in (
            admin.post("/v1/watchlist/changes:apply", json=_signed(unsigned)),
            admin.get("/v1/watchlist/changes"),
        ):
            assert r.status_code == 409, r.text
            assert "FIELDCHECK_SNAPSHOT_" in r.json()["field"], r.text


def test_only_the_source_of_a_subject_may_change_it(tmp_path: Path) -> None:
    with _gw(tmp_path / "mu", "MU") as mu, mu.client() as admin:
        local = _create(admin, "Local Record", external_ref="MU-2")
        # A correctly signed snapshot from another gateway may not rewrite our own record.
        blob = _snapshot(
            _page("wl_b", [{"op": "upsert", "version": 1,
                            "subject": _state(local, "Overwritten", country="MU")}], to_version=1)
        )
        r = admin.post("/v1/watchlist/import", content=blob)
        assert r.status_code == 200, r.text
        assert r.json()["updated"] == 0 and r.json()["rejected"][0]["subject_id"] == local
        assert admin.get(f"/v1/subjects/{local}").json()["name"] == "Local Record"

        # Nor may a signed feed page, by upsert or delete.
        page = _page("wl_b", [
            {"op": "upsert", "version": 2, "subject": _state(local, "Overwritten", country="MU")},
            {"op": "delete", "version": 3, "subject_id": local},
            {"op": "upsert", "version": 4, "subject": _state("sub_from_b", "From B")},
        ], to_version=4)
        r = admin.post("/v1/watchlist/changes:apply", json=_signed(page))
        assert r.status_code == 200, r.text
        body = r.json()
        assert (body["created"], body["updated"], body["deleted"]) == (1, 0, 0), body
        assert [x["subject_id"] for x in body["rejected"]] == [local, local]
        assert all("created on this gateway" in x["reason"] for x in body["rejected"])
        assert admin.get(f"/v1/subjects/{local}").json()["name"] == "Local Record"

        # wl_c may not touch what came from wl_b; wl_b itself may.
        foreign = _page("wl_c", [
            {"op": "upsert", "version": 1, "subject": _state("sub_from_b", "Hijacked")},
            {"op": "delete", "version": 2, "subject_id": "sub_from_b"},
        ], to_version=2)
        body = admin.post("/v1/watchlist/changes:apply", json=_signed(foreign)).json()
        assert (body["updated"], body["deleted"], len(body["rejected"])) == (0, 0, 2), body
        assert "received from wl_b" in body["rejected"][0]["reason"]
        assert admin.get("/v1/subjects/sub_from_b").json()["name"] == "From B"
        owner = _page("wl_b", [
            {"op": "upsert", "version": 5, "subject": _state("sub_from_b", "Renamed By B")},
        ], to_version=5)
        body = admin.post("/v1/watchlist/changes:apply", json=_signed(owner)).json()
        assert body["updated"] == 1 and not body["rejected"], body
        owner = _page("wl_b", [{"op": "delete", "version": 6, "subject_id": "sub_from_b"}],
                      to_version=6)
        body = admin.post("/v1/watchlist/changes:apply", json=_signed(owner)).json()
        assert body["deleted"] == 1, body
        assert admin.get("/v1/subjects/sub_from_b").status_code == 404


def test_feed_between_gateways_is_signed_and_applies(tmp_path: Path) -> None:
    with _gw(tmp_path / "ke", "KE") as ke, _gw(tmp_path / "mu", "MU") as mu:
        with ke.client() as admin_ke, mu.client() as admin_mu:
            sid = _create(admin_ke, "Shared Person", external_ref="KE-9")
            feed = admin_ke.get("/v1/watchlist/changes", params={"country": "MU"})
            assert feed.status_code == 200, feed.text
            assert feed.json()["signature"].startswith("FCFEED2 ED25519 ")
            r = admin_mu.post("/v1/watchlist/changes:apply", json=feed.json())
            assert r.status_code == 200 and r.json()["created"] == 1, r.text
            assert admin_mu.get(f"/v1/subjects/{sid}").json()["name"] == "Shared Person"
            # A page made for another country is refused.
            other = admin_ke.get("/v1/watchlist/changes", params={"country": "TZ"}).json()
            assert admin_mu.post("/v1/watchlist/changes:apply", json=other).status_code == 422


def test_prune_removes_only_the_snapshot_sources_subjects(tmp_path: Path) -> None:
    """The reviewer's repro: KE's full snapshot with prune removed a subject from TZ."""
    with (
        _gw(tmp_path / "ke", "KE") as ke,
        _gw(tmp_path / "tz", "TZ") as tz,
        _gw(tmp_path / "mu", "MU") as mu,
        ke.client() as admin_ke,
        tz.client() as admin_tz,
        mu.client() as admin_mu,
    ):
        from_tz = _create(admin_tz, "Tanzanian Record", external_ref="TZ-1")
        kept_ke = _create(admin_ke, "Kenyan Kept", external_ref="KE-1")
        gone_ke = _create(admin_ke, "Kenyan Gone", external_ref="KE-2")
        local = _create(admin_mu, "Mauritian Record", external_ref="MU-3", originating_country="KE")
        for admin in (admin_tz, admin_ke):
            snap = admin.get("/v1/watchlist/export", params={"country": "MU"}).content
            r = admin_mu.post("/v1/watchlist/import", content=snap)
            assert r.status_code == 200 and r.json()["created"] >= 1, r.text
        assert admin_ke.delete(f"/v1/subjects/{gone_ke}", params={"reason": "t"}).status_code == 204
        snap = admin_ke.get("/v1/watchlist/export", params={"country": "MU"}).content
        r = admin_mu.post("/v1/watchlist/import", params={"prune": "true"}, content=snap)
        assert r.status_code == 200, r.text
        assert r.json()["pruned"] == 1, r.json()
        assert admin_mu.get(f"/v1/subjects/{gone_ke}").status_code == 404
        for sid in (from_tz, kept_ke, local):
            assert admin_mu.get(f"/v1/subjects/{sid}").status_code == 200, sid


def test_malformed_pages_are_4xx_never_500(tmp_path: Path) -> None:
    with _gw(tmp_path / "mu", "MU") as mu, mu.client() as admin:
        for body in ({"changes": ["a"]}, {"since": "abc"}, {"changes": [{"op": "drop"}]}):
            r = admin.post(
                "/v1/watchlist/changes:apply", json={"source_gateway": "wl_x", **body}
            )
            assert r.status_code == 422, (body, r.text)
            signed = _signed({**_page("wl_x", [], to_version=1), **body})
            r = admin.post("/v1/watchlist/changes:apply", json=signed)
            assert r.status_code == 422, (body, r.text)
            assert r.headers["content-type"].startswith("application/problem+json")
        # Two subjects with one template id: the second hits the primary key at flush.
        page = _page("wl_x", [
            {"op": "upsert", "version": 1, "subject": _state("sub_one", "One",
                                                             templates=[_face("tpl_same", 1)])},
            {"op": "upsert", "version": 2, "subject": _state("sub_two", "Two",
                                                             templates=[_face("tpl_same", 2)])},
            {"op": "upsert", "version": 3, "subject": _state("sub_bad", "Bad",
                                                             templates=[{"id": "t", "data": 5}])},
        ], to_version=3)
        r = admin.post("/v1/watchlist/changes:apply", json=_signed(page))
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["created"] == 1, body
        reasons = {x["subject_id"]: x["reason"] for x in body["rejected"]}
        assert "tpl_same already belongs to local subject sub_one" in reasons["sub_two"]
        assert "sub_bad" in reasons
        assert admin.get("/v1/subjects/sub_two").status_code == 404


def test_external_ref_race_is_a_rejected_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local subject committed between the external_ref check and the insert (a race)."""
    from sqlmodel import Session

    from gateway.watchlist import deltas, replica
    from gateway.watchlist.models import Subject

    with _gw(tmp_path / "mu", "MU") as mu:
        original = replica._parse_dt

        def racing(value: Any, field: str) -> Any:
            if field == "created_at":  # called after the external_ref check, before the insert
                with Session(mu.runtime.engine) as other:
                    other.add(Subject(id="sub_rival", name="Rival", category="red",
                                      originating_country="MU", external_ref="RACE-1"))
                    other.commit()
            return original(value, field)

        monkeypatch.setattr(replica, "_parse_dt", racing)
        page = _page("wl_x", [{"op": "upsert", "version": 1,
                               "subject": _state("sub_racer", "Racer", external_ref="RACE-1")}],
                     to_version=1)
        with Session(mu.runtime.engine) as session:
            summary = deltas.apply_changes(
                session, payload=page, actor=None, country="MU", kind="delta", snapshot_id="t"
            )
            assert summary.created == 0
            assert summary.rejected == [
                {"subject_id": "sub_racer",
                 "reason": "external_ref 'RACE-1' belongs to local subject sub_rival"}
            ]
            assert session.get(Subject, "sub_racer") is None
