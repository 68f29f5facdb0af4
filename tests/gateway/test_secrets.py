"""Red-team finding 1 (issue 14): weak secrets, a bootstrap token that outlives its change, and
snapshots a replica could forge."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from gateway.keys import WeakSecret, check_secrets, estimated_bits, new_admin_token
from gateway.settings import Settings
from tests.conftest import LiveGateway
from tests.watchlist.helpers import network_keys, network_settings


@pytest.mark.parametrize("token", ["x", "fc_test_admin_secret", "a" * 64, "Password123!"])
def test_weak_admin_token_refused_naming_the_setting(tmp_path: Path, token: str) -> None:
    from gateway.app import create_app

    with pytest.raises(WeakSecret) as err:
        create_app(Settings(data_dir=tmp_path, admin_token=token))
    assert err.value.setting == "FIELDCHECK_ADMIN_TOKEN"
    assert "fieldcheck keygen admin-token" in str(err.value)


def test_generated_tokens_pass() -> None:
    assert min(estimated_bits(new_admin_token()) for _ in range(50)) >= 128


@pytest.mark.parametrize("value", [
    {"snapshot_key": "a"},  # the red team's key: the legacy shared HMAC key is refused outright
    {"snapshot_key": "x" * 64},
    {"snapshot_signing_key": "a"},
    {"snapshot_signing_key": "fcsk1_" + "A" * 43},  # 32 bytes, but all the same
    {"snapshot_signing_key": "fcsk1_c2hvcnQ"},
    {"snapshot_trusted_keys": "fcpk1_not-a-key"},
])
def test_weak_or_legacy_snapshot_keys_refused(tmp_path: Path, value: dict[str, str]) -> None:
    with pytest.raises(WeakSecret) as err:
        check_secrets(Settings(data_dir=tmp_path, **value))  # type: ignore[arg-type]
    assert err.value.setting.startswith("FIELDCHECK_SNAPSHOT_")
    assert "keygen snapshot" in str(err.value)


def test_serve_refuses_to_start_with_the_fix(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli import app
    from gateway.settings import get_settings

    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("FIELDCHECK_SNAPSHOT_KEY", "a")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--port", "1"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert "FIELDCHECK_SNAPSHOT_KEY" in result.output and "keygen" in result.output


def test_keygen_output_is_accepted(tmp_path: Path) -> None:
    from gateway.cli import app

    out = CliRunner().invoke(app, ["keygen", "snapshot"]).output.splitlines()
    private = out[0].split("=", 1)[1]
    public = out[-1].lstrip("# ").strip()
    keys = check_secrets(Settings(data_dir=tmp_path, snapshot_signing_key=private,
                                  snapshot_trusted_keys=public))
    assert keys.signing is not None and keys.signing_key_id in keys.trusted
    token = CliRunner().invoke(app, ["keygen", "admin-token"]).output.strip().split("=", 1)[1]
    check_secrets(Settings(data_dir=tmp_path, admin_token=token))


def test_changed_bootstrap_token_revokes_the_old_one(tmp_path: Path) -> None:
    from gateway import db
    from gateway.auth.service import authenticate, ensure_admin_token

    engine = db.make_engine(f"sqlite:///{tmp_path / 'fc.db'}")
    db.create_all(engine)
    first, second = new_admin_token(), new_admin_token()
    for configured in (first, first, second):  # a restart with the same token changes nothing
        with Session(engine) as session:
            ensure_admin_token(session, configured)
            session.commit()
            if configured == first:
                assert authenticate(session, first) is not None
    with Session(engine) as session:
        assert authenticate(session, first) is None
        assert authenticate(session, second) is not None


def test_a_replica_holds_only_public_keys_and_cannot_sign(tmp_path: Path) -> None:
    source = network_settings("net")
    with LiveGateway(tmp_path, country="MU",
                     snapshot_trusted_keys=source["snapshot_trusted_keys"]) as replica:
        assert replica.runtime.snapshot_keys.signing is None
        with replica.client() as admin:
            for r in (admin.get("/v1/watchlist/changes"), admin.get("/v1/watchlist/export")):
                assert r.status_code == 409, r.text
                assert r.json()["field"] == "FIELDCHECK_SNAPSHOT_SIGNING_KEY"


def _full_snapshot(keys, *, to_version: int, source: str = "wl_source") -> bytes:  # type: ignore[no-untyped-def]
    from gateway.watchlist import snapshots

    body = {"source_gateway": source, "source_country": "KE", "target_country": "MU",
            "since": 0, "to_version": to_version, "has_more": False, "changes": [],
            "format": snapshots.SNAPSHOT_FORMAT, "snapshot_id": f"snap_{to_version}",
            "kind": "full", "created_at": "2026-01-01T00:00:00+00:00",
            "expires_at": "2099-01-01T00:00:00+00:00"}
    return snapshots.sign(body, keys=keys)


def test_forged_and_implausible_snapshots_refused(tmp_path: Path) -> None:
    trusted = network_settings("net")
    with LiveGateway(tmp_path, country="MU",
                     snapshot_trusted_keys=trusted["snapshot_trusted_keys"]) as replica:
        with replica.client() as admin:
            sid = admin.post("/v1/subjects", json={"name": "Kept", "category": "red"}).json()["id"]
            # Signed by a key the replica does not trust (the attacker's own): refused.
            forged = _full_snapshot(network_keys("attacker"), to_version=10**12)
            r = admin.post("/v1/watchlist/import", params={"prune": "true"}, content=forged)
            assert r.status_code == 422 and r.json()["reason"] == "bad_signature", r.text
            assert "does not trust" in r.json()["detail"]
            # Even the trusted source may not jump a trillion versions ahead...
            r = admin.post("/v1/watchlist/import", content=_full_snapshot(
                network_keys("net"), to_version=10**12))
            assert r.status_code == 409 and r.json()["reason"] == "implausible_version", r.text
            # ...so its genuine snapshots still load afterwards, and nothing was deleted.
            r = admin.post("/v1/watchlist/import", content=_full_snapshot(
                network_keys("net"), to_version=42))
            assert r.status_code == 200, r.text
            assert admin.get(f"/v1/subjects/{sid}").status_code == 200
