"""Console pages over real HTTP: they act through the API's services, permissions and audit."""

from __future__ import annotations

import io
import time
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.conftest import LiveGateway

from .helpers import csrf_of, make_user, sign_in


def _grey_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def _post(client: httpx.Client, form_page: str, url: str, data: dict, **kw: object) -> httpx.Response:
    return client.post(url, data={**data, "csrf": csrf_of(client.get(form_page).text)}, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def admin_console(gateway: LiveGateway) -> httpx.Client:
    make_user(gateway, "pages-admin", role="ncb_admin", language="en")
    return sign_in(gateway, "pages-admin")


def test_create_refuses_bad_fields_with_the_services_message(admin_console: httpx.Client) -> None:
    r = _post(admin_console, "/console/subjects/new", "/console/subjects/new",
              {"name": "Bad Country", "category": "red", "nationality": "ZZ"})
    assert r.status_code == 422
    assert "nationality" in r.text and 'value="Bad Country"' in r.text  # the form is kept


def test_edit_and_delete_with_reason_go_through_the_audit_trail(
    gateway: LiveGateway, admin_console: httpx.Client
) -> None:
    created = _post(admin_console, "/console/subjects/new", "/console/subjects/new",
                    {"name": "Joao Edit", "category": "blue", "external_ref": "PG-EDIT-1",
                     "aliases": "Jo; J. E.", "sharing": "ke, tz", "expires_at": "2031-01-31"})
    assert created.status_code == 303
    sid = created.headers["location"].split("/")[-1].split("?")[0]
    with gateway.client() as api:
        record = api.get(f"/v1/subjects/{sid}").json()
    assert record["aliases"] == ["Jo", "J. E."] and record["sharing"] == ["KE", "TZ"]
    assert record["expires_at"].startswith("2031-01-31T23:59:59")
    change = {"name": "João Edité", "category": "red", "external_ref": "PG-EDIT-1"}
    unexplained = _post(admin_console, f"/console/subjects/{sid}/edit",
                        f"/console/subjects/{sid}/edit", {**change, "reason": " "})
    assert unexplained.status_code == 422 and "needs a reason" in unexplained.text
    assert 'value="João Edité"' in unexplained.text  # the form is kept
    with gateway.client() as api:
        assert api.get(f"/v1/subjects/{sid}").json()["name"] == "Joao Edit"  # nothing changed
    edited = _post(admin_console, f"/console/subjects/{sid}/edit", f"/console/subjects/{sid}/edit",
                   {**change, "reason": "notice reissued with the full name"})
    assert edited.status_code == 303
    page = admin_console.get(f"/console/subjects/{sid}")
    assert "João Edité" in page.text and "subject.update" in page.text  # history
    assert "notice reissued with the full name" in page.text  # the reason, in the history
    with gateway.client() as api:
        audit = api.get("/v1/audit", params={"target_id": sid, "action": "subject.update"}).json()
    [update] = audit["items"]
    assert update["detail"] == "notice reissued with the full name"
    assert update["before"]["name"] == "Joao Edit" and update["after"]["name"] == "João Edité"
    no_reason = _post(admin_console, f"/console/subjects/{sid}", f"/console/subjects/{sid}/delete",
                      {"reason": "  "})
    assert no_reason.status_code == 422
    gone = _post(admin_console, f"/console/subjects/{sid}", f"/console/subjects/{sid}/delete",
                 {"reason": "notice withdrawn by the requesting country"})
    assert gone.status_code == 303
    with gateway.client() as api:
        assert api.get(f"/v1/subjects/{sid}").status_code == 404
        audit = api.get("/v1/audit", params={"target_id": sid, "action": "subject.delete"}).json()
    [entry] = audit["items"]
    assert entry["detail"] == "notice withdrawn by the requesting country"
    assert entry["actor_token_id"].startswith("usr_") and entry["actor_name"] == "pages-admin"


def test_api_edit_records_the_reason_given(gateway: LiveGateway) -> None:
    """PATCH /v1/subjects/{id}?reason=... keeps why in the audit entry; without one it still
    works (scripts), and an over-long reason is refused before anything changes."""
    with gateway.client() as api:
        sid = api.post("/v1/subjects", json={"name": "Api Edit", "category": "blue"}).json()["id"]
        assert api.patch(f"/v1/subjects/{sid}", json={"category": "red"},
                         params={"reason": "  upgraded to a Red Notice  "}).status_code == 200
        assert api.patch(f"/v1/subjects/{sid}", json={"notes": "seen"}).status_code == 200
        long = api.patch(f"/v1/subjects/{sid}", json={"name": "X"}, params={"reason": "r" * 2001})
        assert long.status_code == 422 and long.json()["field"] == "reason"
        entries = api.get("/v1/audit", params={"target_id": sid, "action": "subject.update"}).json()
        assert api.get(f"/v1/subjects/{sid}").json()["name"] == "Api Edit"
    details = sorted((e["detail"] or "") for e in entries["items"])
    assert details == ["", "upgraded to a Red Notice"]


def test_search_ignores_accents_and_pages(gateway: LiveGateway, admin_console: httpx.Client) -> None:
    with gateway.client() as api:
        api.post("/v1/subjects", json={"name": "Hélène Rakotomalala", "category": "yellow"})
    found = admin_console.get("/console/subjects", params={"q": "helene"})
    assert "Hélène Rakotomalala" in found.text and "Yellow Notice (missing person)" in found.text
    none = admin_console.get("/console/subjects", params={"q": "no such person at all"})
    assert "No subject matches." in none.text


def test_enrol_a_fingerprint_and_see_its_quality(
    gateway: LiveGateway, admin_console: httpx.Client, shared_data: Path
) -> None:
    prints = sorted((shared_data / "fingerprints" / "fvc2002_db1_b").glob("*.tif"))
    if not prints:
        pytest.skip("FVC 2002 DB1 B not in shared data")
    created = _post(admin_console, "/console/subjects/new", "/console/subjects/new",
                    {"name": "Print Person", "category": "national_wanted"})
    sid = created.headers["location"].split("/")[-1].split("?")[0]
    token = csrf_of(admin_console.get(f"/console/subjects/{sid}").text)
    enrolled = None
    for image in prints[:6]:
        r = admin_console.post(f"/console/subjects/{sid}/fingerprints",
                               data={"csrf": token, "position": "7", "ppi": "500"},
                               files={"image": (image.name, image.read_bytes())})
        if r.status_code == 303:
            enrolled = image
            break
        assert r.status_code == 422 and "NFIQ" in r.text or "minutiae" in r.text
    assert enrolled is not None, "no FVC print was good enough to enrol"
    page = admin_console.get(f"/console/subjects/{sid}")
    assert "7 · left index" in page.text
    with gateway.client() as api:
        [tpl] = api.get(f"/v1/subjects/{sid}/biometrics").json()
    assert str(tpl["quality"]["nfiq2"]) in page.text and tpl["position"] == 7


def test_enrol_refuses_a_picture_without_a_face(admin_console: httpx.Client) -> None:
    created = _post(admin_console, "/console/subjects/new", "/console/subjects/new",
                    {"name": "No Face", "category": "red"})
    sid = created.headers["location"].split("/")[-1].split("?")[0]
    r = admin_console.post(f"/console/subjects/{sid}/faces",
                           data={"csrf": csrf_of(admin_console.get(f"/console/subjects/{sid}").text)},
                           files={"image": ("grey.png", _grey_png())})
    assert r.status_code == 422 and "No face photo enrolled." in r.text
    assert 'class="error"' in r.text


def test_tokens_issue_language_and_revoke(gateway: LiveGateway, admin_console: httpx.Client) -> None:
    issued = _post(admin_console, "/console/tokens", "/console/tokens",
                   {"role": "device", "name": "SEEK-CONSOLE-7"})
    assert issued.status_code == 200 and "shown only this once" in issued.text
    secret = issued.text.split('id="secret" readonly value="')[1].split('"')[0]
    with gateway.client() as api:
        token_id = next(t["id"] for t in api.get("/v1/tokens").json() if t["name"] == "SEEK-CONSOLE-7")
    assert secret not in admin_console.get("/console/tokens").text  # never shown again
    r = _post(admin_console, "/console/tokens", f"/console/tokens/{token_id}/language",
              {"language": "pt"})
    assert r.status_code == 303
    with gateway.client(secret) as device:
        answer = device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": ("grey.png", _grey_png())},
                             headers={"Accept-Language": "fr"}).json()
    assert answer["language"] == "pt"
    r = _post(admin_console, "/console/tokens", f"/console/tokens/{token_id}/revoke", {})
    assert r.status_code == 303
    with gateway.client(secret) as device:
        assert device.get("/v1/adapters").status_code == 401


def test_auditor_may_search_but_not_manage(gateway: LiveGateway) -> None:
    make_user(gateway, "pages-auditor", role="auditor", language="pt")
    auditor = sign_in(gateway, "pages-auditor")
    page = auditor.get("/console/audit", params={"action": "console."})
    assert page.status_code == 200 and "console.login" in page.text and 'lang="pt"' in page.text
    assert auditor.get("/console/tokens").status_code == 403
    assert auditor.get("/console/import").status_code == 403
    csv_export = auditor.get("/console/audit.csv", params={"action": "console.login"})
    assert csv_export.status_code == 200 and csv_export.text.startswith("id,at,")
    with gateway.client() as api:
        exports = api.get("/v1/audit", params={"action": "audit.export"}).json()["items"]
    assert any(e["actor_name"] == "pages-auditor" for e in exports)


def test_unknown_pages_and_records_answer_html_not_json(admin_console: httpx.Client) -> None:
    r = admin_console.get("/console/subjects/sub_doesnotexist")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "no subject with id" in r.text


def test_central_link_dead_letters_and_requeue(tmp_path: Path, shared_data: Path) -> None:
    from tests.watchlist.helpers import lfw_people

    face = sorted(lfw_people(shared_data)[0].glob("*.jpg"))[0]
    with LiveGateway(tmp_path, start_upstream=True) as gw:
        status = gw.runtime.upstream.status()
        assert gw.runtime.upstream.stub.wait_ready(timeout_s=180), "the bundled stub did not start"
        httpx.post(status["url"] + "/admin/faults", json={"reject_rate": 1.0}, timeout=10)
        with gw.client(gw.token("device", "SEEK-LINK")) as device:
            # A real face: a check with nothing to search is never forwarded.
            check = device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": (face.name, face.read_bytes())}).json()
        deadline = time.monotonic() + 60
        while not gw.runtime.upstream.dead_letters() and time.monotonic() < deadline:
            time.sleep(0.2)
        make_user(gw, "link-admin")
        admin = sign_in(gw, "link-admin")
        page = admin.get("/console/link")
        assert page.status_code == 200 and check["check_id"] in page.text
        assert 'id="queue-depth"' in page.text
        make_user(gw, "link-analyst", role="ncb_analyst")
        analyst_page = sign_in(gw, "link-analyst").get("/console/link")
        assert analyst_page.status_code == 200 and "dead-letters" not in analyst_page.text
        httpx.post(status["url"] + "/admin/faults", json={"reject_rate": 0.0}, timeout=10)
        [dead] = gw.runtime.upstream.dead_letters()
        r = _post(admin, "/console/link", f"/console/link/dead-letters/{dead['id']}/requeue", {})
        assert r.status_code == 303 and "done=requeued" in r.headers["location"]
        with gw.client() as api:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                state = api.get(f"/v1/checks/{check['check_id']}").json()["upstream"]["status"]
                if state == "completed":
                    break
                time.sleep(0.2)
            assert state == "completed"
            requeues = api.get("/v1/audit", params={"action": "upstream.requeue"}).json()["items"]
        assert requeues and requeues[0]["actor_name"] == "link-admin"
