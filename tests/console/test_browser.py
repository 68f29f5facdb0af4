"""The console in a real browser (headless Chromium): an NCB analyst's day, in each language.

Sign in, switch language, create a subject and enrol a photo by upload, edit it with a reason,
find it again, import a batch (live progress, rejected rows), review the hits from the keyboard,
search the audit trail and export it as CSV. Labels are looked up in the user's language through
the same catalogues, so a page that is not translated, or a control without its label, fails the
test.

The default suite runs one quick pass in French; ``-m slow`` runs the full day (ten hits) in
English, French and Portuguese. Screenshots go to FIELDCHECK_SCREENSHOT_DIR (else a tmp dir).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import httpx
import pytest

from gateway.i18n import translate
from tests.conftest import LiveGateway

from .browser import (
    DESKTOP,
    OVERFLOW_JS,
    TABLET,
    UNLABELLED_CONTROLS_JS,
    batch_zip,
    people_with_photos,
    screenshot_dir,
)
from .helpers import PASSWORD, make_user


def _pending_check(device: httpx.Client, person: Path, lang: str) -> str | None:
    """Check another photo of an enrolled person until one lands in the review queue."""
    for probe in sorted(person.glob("*.jpg"))[1:4]:
        answer = device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": (probe.name, probe.read_bytes())},
                             headers={"Accept-Language": lang})
        assert answer.status_code == 200, answer.text
        if answer.json()["decision"] in ("hit", "possible"):
            return answer.json()["check_id"]
    return None


def _accessible(page, where: str) -> None:  # type: ignore[no-untyped-def]
    unlabelled = page.evaluate(UNLABELLED_CONTROLS_JS)
    assert not unlabelled, f"{where}: controls without a label: {unlabelled}"


def analyst_day(chromium, gateway: LiveGateway, shared_data: Path, shots: Path, *,  # type: ignore[no-untyped-def]
                lang: str, hits: int) -> None:
    def t(message: str, **values: object) -> str:
        return translate(message, lang, **values)

    username = f"analyst-{lang}-{hits}"
    make_user(gateway, username, role="ncb_admin", language="en")
    people = people_with_photos(shared_data, hits + 3, skip={"en": 0, "fr": 20, "pt": 40}[lang])
    context = chromium.new_context(viewport=DESKTOP, accept_downloads=True)
    context.set_default_timeout(60_000)
    page = context.new_page()
    try:
        # Sign in (the sign-in page is in English: the browser asks for nothing else).
        page.goto(gateway.url + "/console/")
        assert page.url.startswith(gateway.url + "/console/login")
        page.get_by_label("Username", exact=True).fill(username)
        page.get_by_label("Password", exact=True).fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/subjects")
        # The user's choice of language, from the header's menu (submits on change).
        if lang != "en":
            page.get_by_label("Language", exact=True).select_option(lang)
            page.wait_for_function(f"document.documentElement.lang === '{lang}'")
        assert page.locator("h1").inner_text() == t("Watchlist")
        _accessible(page, "watchlist")

        # Create a subject and enrol a photo by upload.
        first = people[0]
        name = first.name.replace("_", " ")
        page.get_by_role("link", name=t("New subject")).click()
        _accessible(page, "subject form")
        page.get_by_label(t("Name"), exact=True).fill(name)
        page.get_by_label(t("Category"), exact=True).select_option("red")
        page.get_by_label(t("Reference (e.g. notice number)")).fill(f"{lang.upper()}-CONSOLE-1")
        page.get_by_label(t("Date of birth"), exact=True).fill("1970-05-04")
        page.get_by_role("button", name=t("Create subject")).click()
        page.get_by_text(t("Subject created.")).wait_for()
        photo = sorted(first.glob("*.jpg"))[0]
        page.get_by_label(t("Face photo (JPEG or PNG, one face)")).set_input_files(str(photo))
        page.get_by_role("button", name=t("Enrol photo")).click()
        page.get_by_text(t("Biometric enrolled.")).wait_for()
        faces = page.locator("section[aria-labelledby=h-faces] tbody tr")
        assert faces.count() == 1 and re.search(r"\d", faces.first.inner_text())
        assert t("Red Notice (wanted)") in page.locator("h1").inner_text()
        _accessible(page, "subject page")
        # Edit it: the form asks why, and the history shows the reason.
        page.get_by_role("link", name=t("Edit"), exact=True).click()
        _accessible(page, "edit form")
        page.get_by_label(t("Notes"), exact=True).fill("seen at the port, 2026-12-01")
        reason = f"notice {lang.upper()}-CONSOLE-1 updated by the requesting country"
        page.get_by_label(t("Reason for the change (kept in the audit trail)")).fill(reason)
        page.get_by_role("button", name=t("Save changes")).click()
        page.get_by_text(t("Changes saved.")).wait_for()
        assert reason in page.locator("section[aria-labelledby=h-history]").inner_text()
        page.screenshot(path=str(shots / f"{lang}-subject.png"), full_page=True)

        # Find it again: part of the name, lower case.
        page.get_by_role("link", name=t("Watchlist")).first.click()
        page.get_by_label(t("Name or alias"), exact=True).fill(name.split()[-1].lower())
        page.get_by_role("button", name=t("Search")).click()
        page.get_by_role("link", name=name).wait_for()
        page.screenshot(path=str(shots / f"{lang}-watchlist.png"), full_page=True)

        # Bulk import: the page follows the job live, then shows the rejected rows.
        page.get_by_role("link", name=t("Bulk import")).click()
        page.get_by_label(t("Batch file (.zip or .json)")).set_input_files({
            "name": "batch.zip", "mimeType": "application/zip",
            "buffer": batch_zip(people[1:], prefix=f"{lang.upper()}-BATCH"),
        })
        page.get_by_role("button", name=t("Start the import")).click()
        page.locator("#rejected-rows").wait_for(timeout=300_000)
        rejected = page.locator("#rejected-rows tbody").inner_text()
        assert f"{lang.upper()}-BATCH-BAD" in rejected and "crimson" in rejected
        assert "missing.jpg" in page.locator("#refused-images tbody").inner_text()
        page.screenshot(path=str(shots / f"{lang}-import.png"), full_page=True)

        # Field checks from a device put hits in the review queue.
        with gateway.client(gateway.token("device", f"SEEK-{lang}-{hits}")) as device:
            pending = [c for c in (_pending_check(device, p, lang) for p in people) if c]
        assert len(pending) >= hits, f"only {len(pending)} of {len(people)} checks were hits"

        # Review from the keyboard: j/k to move, Enter to open, c/r, comment, Ctrl+Enter.
        page.get_by_role("link", name=t("Review queue")).click()
        assert page.locator("[data-queue-row]").count() == len(pending)
        _accessible(page, "review queue")
        page.keyboard.press("j")
        page.keyboard.press("k")
        page.keyboard.press("Enter")
        page.wait_for_url("**/console/reviews/chk_*")
        _accessible(page, "review page")
        # The probe beside the reference photo, served to the browser (decoded, not broken).
        figures = page.locator("section .sides").first.locator("figure")
        for figure in (figures.nth(0), figures.nth(1)):
            image = figure.locator("img").first
            image.wait_for()
            assert image.evaluate("img => img.complete && img.naturalWidth > 0")
        page.screenshot(path=str(shots / f"{lang}-review.png"), full_page=True)
        page.set_viewport_size(TABLET)
        assert page.evaluate(OVERFLOW_JS) <= 0, "the review page scrolls sideways on a tablet"
        page.screenshot(path=str(shots / f"{lang}-review-tablet.png"), full_page=True)
        page.set_viewport_size(DESKTOP)
        for n in range(hits):
            page.keyboard.press("c" if n % 2 == 0 else "r")
            page.keyboard.type(f"review {n + 1}: face compared with the enrolled photo")
            page.keyboard.press("Control+Enter")
            page.get_by_text(t("Review saved.") if n < len(pending) - 1
                             else t("The review queue is empty.")).wait_for()
        with gateway.client() as admin:
            reviewed = admin.get("/v1/reviews", params={"status": "all"}).json()["items"]
        outcomes = [r["review"]["status"] for r in reviewed]
        assert outcomes.count("confirmed") == (hits + 1) // 2
        assert outcomes.count("rejected") == hits // 2

        # Audit: search, then export what was found as CSV.
        page.get_by_role("link", name=t("Audit trail")).click()
        page.get_by_label(t("Action (exact, or a prefix such as subject.)")).fill("check.review")
        page.get_by_role("button", name=t("Search")).click()
        page.get_by_text(t("{n} entries.", n=hits)).wait_for()
        _accessible(page, "audit")
        page.screenshot(path=str(shots / f"{lang}-audit.png"), full_page=True)
        with page.expect_download() as download:
            page.get_by_role("link", name=t("Export CSV")).click()
        rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
        assert len(rows) == hits and {r["action"] for r in rows} == {"check.review"}
        assert {r["actor_name"] for r in rows} == {username}

        # Tablet: the watchlist reflows without sideways scrolling.
        page.set_viewport_size(TABLET)
        page.get_by_role("link", name=t("Watchlist")).first.click()
        assert page.evaluate(OVERFLOW_JS) <= 0, "the watchlist scrolls sideways on a tablet"
        page.screenshot(path=str(shots / f"{lang}-watchlist-tablet.png"), full_page=True)
    finally:
        context.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return screenshot_dir(tmp_path_factory)


def test_analyst_day_in_french_quick(browser, gateway: LiveGateway, shared_data: Path,
                                     shots: Path) -> None:
    analyst_day(browser, gateway, shared_data, shots, lang="fr", hits=2)


@pytest.mark.slow
@pytest.mark.parametrize("lang", ["fr", "en", "pt"])
def test_analyst_day_ten_hits(browser, tmp_path: Path, shared_data: Path, shots: Path,
                              lang: str) -> None:
    with LiveGateway(tmp_path) as gw:
        analyst_day(browser, gw, shared_data, shots, lang=lang, hits=10)
