"""Console sign-in over real HTTP: argon2 passwords, session cookies, CSRF, lock-out, roles."""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlmodel import Session, select

from gateway.audit.models import AuditEntry
from gateway.console.models import StaffUser
from tests.conftest import LiveGateway

from .helpers import PASSWORD, csrf_of, make_user, sign_in


def _attempt(gateway: LiveGateway, client: httpx.Client, username: str, password: str) -> httpx.Response:
    form = client.get("/console/login")
    return client.post("/console/login", data={"username": username, "password": password,
                                               "csrf": csrf_of(form.text)})


def test_password_is_stored_as_argon2id_hash(gateway: LiveGateway) -> None:
    make_user(gateway, "hash-check")
    with Session(gateway.runtime.engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == "hash-check")).one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


def test_sign_in_sets_a_strict_httponly_session_cookie_and_opens_pages(gateway: LiveGateway) -> None:
    make_user(gateway, "cookie-check")
    client = httpx.Client(base_url=gateway.url)
    form = client.get("/console/login")
    r = client.post("/console/login", data={"username": "cookie-check", "password": PASSWORD,
                                            "csrf": csrf_of(form.text), "next": "/console/subjects"})
    assert r.status_code == 303 and r.headers["location"] == "/console/subjects"
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("fc_console="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/console" in cookie
    page = client.get("/console/subjects")
    assert page.status_code == 200 and "<h1>Watchlist</h1>" in page.text


def test_secure_flag_when_served_over_https(gateway: LiveGateway) -> None:
    make_user(gateway, "https-check")
    client = httpx.Client(base_url=gateway.url, headers={"X-Forwarded-Proto": "https"})
    form = client.get("/console/login")
    login_cookie = form.headers["set-cookie"]
    assert login_cookie.startswith("fc_login_csrf=") and "Secure" in login_cookie
    # httpx keeps Secure cookies from plain http: hand it back as the browser behind TLS would.
    r = client.post("/console/login", data={"username": "https-check", "password": PASSWORD,
                                            "csrf": csrf_of(form.text)},
                    headers={"Cookie": login_cookie.split(";")[0]})
    cookie = next(v for k, v in r.headers.multi_items() if k == "set-cookie" and v.startswith("fc_console="))
    assert "Secure" in cookie


def test_pages_redirect_to_sign_in_without_a_session(gateway: LiveGateway) -> None:
    r = httpx.get(gateway.url + "/console/subjects?q=x")
    assert r.status_code == 303
    assert r.headers["location"] == "/console/login?next=/console/subjects%3Fq%3Dx"
    forged = httpx.get(gateway.url + "/console/subjects", cookies={"fc_console": "made-up"})
    assert forged.status_code == 303


def test_wrong_password_is_refused_and_audited(gateway: LiveGateway) -> None:
    uid = make_user(gateway, "wrong-check")
    r = _attempt(gateway, httpx.Client(base_url=gateway.url), "wrong-check", "not the password")
    assert r.status_code == 401 and "Wrong username or password." in r.text
    assert "fc_console=" not in r.headers.get("set-cookie", "")
    unknown = _attempt(gateway, httpx.Client(base_url=gateway.url), "nobody-" + uuid.uuid4().hex, "x")
    assert unknown.status_code == 401 and "Wrong username or password." in unknown.text
    with Session(gateway.runtime.engine) as session:
        actions = [e.action for e in session.exec(select(AuditEntry).where(AuditEntry.target_id == uid))]
    assert "console.login.failed" in actions


def test_lock_out_after_repeated_failures_refuses_even_the_right_password(gateway: LiveGateway) -> None:
    make_user(gateway, "lock-check")
    client = httpx.Client(base_url=gateway.url)
    attempts = gateway.settings.console_lockout_attempts
    for n in range(attempts - 1):
        assert _attempt(gateway, client, "lock-check", f"bad {n}").status_code == 401
    locked = _attempt(gateway, client, "lock-check", "bad again")
    assert locked.status_code == 401 and "locked" in locked.text
    right = _attempt(gateway, client, "lock-check", PASSWORD)
    assert right.status_code == 401 and "locked" in right.text  # the right password waits too
    with Session(gateway.runtime.engine) as session:
        user = session.exec(select(StaffUser).where(StaffUser.username == "lock-check")).one()
        assert user.locked_until is not None
        user.locked_until = None  # what `fieldcheck user unlock` does
        session.add(user)
        session.commit()
    assert _attempt(gateway, client, "lock-check", PASSWORD).status_code == 303


def test_a_success_resets_the_failure_count(gateway: LiveGateway) -> None:
    make_user(gateway, "reset-check")
    client = httpx.Client(base_url=gateway.url)
    attempts = gateway.settings.console_lockout_attempts
    for n in range(attempts - 1):
        _attempt(gateway, client, "reset-check", f"bad {n}")
    assert _attempt(gateway, client, "reset-check", PASSWORD).status_code == 303
    assert _attempt(gateway, client, "reset-check", "bad").status_code == 401
    assert _attempt(gateway, client, "reset-check", PASSWORD).status_code == 303


def test_login_form_needs_its_csrf_cookie(gateway: LiveGateway) -> None:
    make_user(gateway, "login-csrf")
    form = httpx.get(gateway.url + "/console/login")
    # The token without the cookie it was issued with: a cross-site login attempt.
    r = httpx.post(gateway.url + "/console/login", data={
        "username": "login-csrf", "password": PASSWORD, "csrf": csrf_of(form.text)})
    assert r.status_code == 403


def test_state_changing_forms_need_the_session_csrf_token(gateway: LiveGateway) -> None:
    make_user(gateway, "csrf-check")
    client = sign_in(gateway, "csrf-check")
    body = {"name": "Csrf Probe", "category": "red"}
    refused = client.post("/console/subjects/new", data={**body, "csrf": "forged"})
    assert refused.status_code == 403
    other_site = client.post("/console/subjects/new",
                             data={**body, "csrf": csrf_of(client.get("/console/subjects/new").text)},
                             headers={"Origin": "https://evil.example"})
    assert other_site.status_code == 403
    with gateway.client() as admin:
        assert admin.get("/v1/subjects", params={"q": "Csrf Probe"}).json()["total"] == 0
    ok = client.post("/console/subjects/new",
                     data={**body, "csrf": csrf_of(client.get("/console/subjects/new").text)})
    assert ok.status_code == 303


def test_sign_out_ends_the_session(gateway: LiveGateway) -> None:
    make_user(gateway, "logout-check")
    client = sign_in(gateway, "logout-check")
    cookie = client.cookies.get("fc_console")
    page = client.get("/console/subjects")
    assert client.post("/console/logout", data={"csrf": csrf_of(page.text)}).status_code == 303
    replay = httpx.get(gateway.url + "/console/subjects", cookies={"fc_console": cookie})
    assert replay.status_code == 303  # the old cookie opens nothing any more


def test_roles_are_the_apis(gateway: LiveGateway) -> None:
    """An analyst reads the watchlist but may not change it, in the console as with a token."""
    make_user(gateway, "analyst-check", role="ncb_analyst")
    client = sign_in(gateway, "analyst-check")
    analyst_token = gateway.token("ncb_analyst")
    with gateway.client(analyst_token) as api:
        assert api.get("/v1/subjects").status_code == 200
        assert api.post("/v1/subjects", json={"name": "X", "category": "red"}).status_code == 403
    assert client.get("/console/subjects").status_code == 200
    assert client.get("/console/subjects/new").status_code == 403
    refused = client.post("/console/subjects/new", data={
        "name": "Analyst Made", "category": "red",
        "csrf": csrf_of(client.get("/console/subjects").text)})
    assert refused.status_code == 403
    assert client.get("/console/tokens").status_code == 403
    assert client.get("/console/reviews").status_code == 200


def test_central_link_status_admits_the_same_roles_in_console_and_api(gateway: LiveGateway) -> None:
    """Who may read the link's state: one role set (deps.STATUS_READER_ROLES) for both."""
    for role in ("ncb_admin", "ncb_analyst", "auditor"):
        make_user(gateway, f"link-reader-{role}", role=role)
        console = sign_in(gateway, f"link-reader-{role}").get("/console/link")
        with gateway.client(gateway.token(role)) as api:
            status = api.get("/v1/upstream/status")
        assert console.status_code != 403, role
        assert status.status_code != 403, role  # 200, or 404 where no link runs
    with gateway.client(gateway.token("device")) as device:
        assert device.get("/v1/upstream/status").status_code == 403


def test_devices_cannot_have_staff_accounts(gateway: LiveGateway) -> None:
    from gateway.console.auth import create_user
    from gateway.errors import Invalid

    with Session(gateway.runtime.engine) as session, pytest.raises(Invalid):
        create_user(session, username="seek-0042", password=PASSWORD, role="device")


def test_cli_user_create(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from gateway.cli import app
    from gateway.settings import get_settings

    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        done = runner.invoke(app, ["--create", "user", "create", "--username", "nadia", "--role",
                                   "ncb_analyst", "--language", "pt", "--password-stdin"],
                             input=PASSWORD + "\n")
        assert done.exit_code == 0, done.output
        assert "usr_" in done.output
        short = runner.invoke(app, ["user", "create", "--username", "omar", "--role", "auditor",
                                    "--password-stdin"], input="short\n")
        assert short.exit_code == 2 and "shorter than" in short.output
        listed = runner.invoke(app, ["user", "list"])
        assert "nadia" in listed.output and "omar" not in listed.output
    finally:
        get_settings.cache_clear()
    with LiveGateway(tmp_path) as gw:
        client = sign_in(gw, "nadia")
        page = client.get("/console/reviews")
        assert page.status_code == 200 and 'lang="pt"' in page.text
