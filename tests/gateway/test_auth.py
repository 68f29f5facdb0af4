"""Authentication and roles over real HTTP."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from tests.conftest import LiveGateway

PROBLEM = "application/problem+json"


@pytest.mark.parametrize(
    "method,path",
    [("post", "/v1/checks"), ("post", "/v1/subjects"), ("get", "/v1/checks/x"),
     ("post", "/v1/tokens"), ("get", "/v1/adapters"), ("get", "/v1/subjects/x")],
)
def test_v1_without_token_is_401_problem(gateway: LiveGateway, method: str, path: str) -> None:
    with gateway.client(token=None) as c:
        r = c.request(method, path)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["field"] == "Authorization"
    assert r.headers["www-authenticate"] == "Bearer"


def test_unknown_token_is_401(gateway: LiveGateway) -> None:
    with gateway.client(token="fc_not_a_real_token") as c:
        r = c.get("/v1/adapters")
    assert r.status_code == 401
    assert "unknown or revoked" in r.json()["detail"]


def test_wrong_role_is_403(gateway: LiveGateway, device_token: str) -> None:
    auditor = gateway.token("auditor")
    with gateway.client(device_token) as c:
        r = c.post("/v1/subjects", json={"name": "X", "category": "red"})
        assert r.status_code == 403
        assert r.headers["content-type"].startswith(PROBLEM)
        assert c.post("/v1/tokens", json={"role": "device", "name": "x"}).status_code == 403
    with gateway.client(auditor) as c:
        r = c.post("/v1/checks", files={"face": ("f.jpg", b"x")}, data={"purpose": "port entry"})
        assert r.status_code == 403


def test_admin_issues_token_that_works_and_revocation_is_immediate(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        r = c.post("/v1/tokens", json={"role": "ncb_analyst", "name": "analyst one"})
        assert r.status_code == 201
        body = r.json()
        assert body["token"].startswith("fc_") and body["id"]
        tokens = c.get("/v1/tokens").json()
        listed = next(t for t in tokens if t["id"] == body["id"])
        assert "token" not in listed  # secrets are never listed
    with gateway.client(body["token"]) as c:
        assert c.get("/v1/adapters").status_code == 200
    with gateway.client() as c:
        assert c.delete(f"/v1/tokens/{body['id']}").status_code == 200
    with gateway.client(body["token"]) as c:
        assert c.get("/v1/adapters").status_code == 401


def test_tokens_are_stored_hashed(gateway: LiveGateway) -> None:
    from sqlmodel import Session, select

    from gateway.auth.models import ApiToken

    secret = gateway.token("device", "hash-check")
    with Session(gateway.runtime.engine) as s:
        hashes = [t.token_hash for t in s.exec(select(ApiToken))]
    assert secret not in hashes
    assert all(len(h) == 64 for h in hashes)


def test_unknown_role_is_422_naming_field(gateway: LiveGateway) -> None:
    with gateway.client() as c:
        r = c.post("/v1/tokens", json={"role": "superuser", "name": "x"})
    assert r.status_code == 422
    assert r.json()["field"] == "role"


def test_health_endpoints_are_open(gateway: LiveGateway) -> None:
    with gateway.client(token=None) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz").json()
    assert ready["status"] == "ready"
    assert ready["database"] == "ok"
    assert {"version", "subjects", "faces", "fingerprints"} <= set(ready["watchlist"])


def test_cli_token_create_gives_a_working_token(gateway: LiveGateway, monkeypatch) -> None:
    from gateway.cli import app
    from gateway.settings import get_settings

    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(gateway.settings.data_dir))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["token", "create", "--role", "device", "--name", "cli-dev"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    secret = result.output.split("token:")[1].strip()
    with gateway.client(secret) as c:
        assert c.get("/v1/adapters").status_code == 200
    bad = CliRunner().invoke(app, ["token", "create", "--role", "nope", "--name", "x"])
    assert bad.exit_code == 2
