"""Headless Chromium for the console tests: Debian's ``chromium`` driven by Playwright.

Playwright's own browser download cannot work here, so the browser is the system one
(``FIELDCHECK_CHROMIUM``, else ``chromium`` / ``chromium-browser`` on PATH) passed as
``executable_path``. Without one, the tests skip with a message saying what to install.
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TABLET = {"width": 820, "height": 1180}  # a 10.9" tablet in portrait
DESKTOP = {"width": 1280, "height": 900}


def chromium_path() -> str | None:
    configured = os.environ.get("FIELDCHECK_CHROMIUM")
    if configured:
        return configured if Path(configured).exists() else None
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


# Package scope, not session: Playwright's sync API keeps an event loop running on the main
# thread until stopped, and tests outside tests/console call asyncio.run on that thread.
@pytest.fixture(scope="package")
def browser() -> Iterator[object]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        pytest.skip("playwright (python) is not installed: uv sync --group dev")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found: apt-get install -y chromium (or set FIELDCHECK_CHROMIUM)")
    manager = sync_playwright().start()
    try:
        try:
            instance = manager.chromium.launch(executable_path=path, headless=True,
                                               args=["--no-sandbox", "--disable-gpu"])
        except Error as exc:
            pytest.skip(f"Chromium at {path} did not start: {exc.message.splitlines()[0]}")
        yield instance
        instance.close()
    finally:
        manager.stop()


def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """FIELDCHECK_SCREENSHOT_DIR (e.g. docs/img/console to refresh the committed few), else tmp."""
    configured = os.environ.get("FIELDCHECK_SCREENSHOT_DIR")
    path = Path(configured) if configured else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


def people_with_photos(shared_data: Path, n: int, *, skip: int = 0) -> list[Path]:
    root = shared_data / "faces" / "lfw"
    if not root.is_dir():
        pytest.skip("LFW not in shared data")
    people = [p for p in sorted(root.iterdir()) if p.is_dir() and len(list(p.glob("*.jpg"))) >= 2]
    if len(people) < skip + n:
        pytest.skip(f"need {skip + n} LFW identities with 2+ photos")
    return people[skip:skip + n]


def batch_zip(people: list[Path], *, prefix: str) -> bytes:
    """A bulk-import zip: one good record per person, one unknown category, one missing image."""
    buffer = io.BytesIO()
    rows = []
    with zipfile.ZipFile(buffer, "w") as archive:
        for i, person in enumerate(people):
            photo = sorted(person.glob("*.jpg"))[0]
            archive.writestr(f"photos/{i}.jpg", photo.read_bytes())
            faces = f"photos/{i}.jpg" + (";photos/missing.jpg" if i == 0 else "")
            rows.append({"external_ref": f"{prefix}-{i + 1}", "name": person.name.replace("_", " "),
                         "category": "red", "faces": faces})
        rows.append({"external_ref": f"{prefix}-BAD", "name": "Bad Category",
                     "category": "crimson", "faces": "photos/0.jpg"})
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=["external_ref", "name", "category", "faces"])
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("manifest.csv", text.getvalue())
    return buffer.getvalue()


UNLABELLED_CONTROLS_JS = """
() => Array.from(document.querySelectorAll('input, select, textarea'))
  .filter(el => el.type !== 'hidden')
  .filter(el => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
  .map(el => el.outerHTML.slice(0, 120))
"""
OVERFLOW_JS = "() => document.documentElement.scrollWidth - window.innerWidth"
