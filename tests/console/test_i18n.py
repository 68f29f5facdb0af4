"""Languages: every officer and console message has a French and a Portuguese translation, and
checks answer in the device's language."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from PIL import Image
from sqlmodel import Session

from gateway import i18n
from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.console.languages import set_device_language
from gateway.watchlist.categories import CATEGORY_NAMES, HANDLING, category_name
from tests.conftest import LiveGateway

ROOT = Path(__file__).resolve().parents[2]
KEYWORDS = {"_": None, "N_": None, "translate": (1,), "gettext": None}
METHODS = [("gateway/**.py", "python"),
           ("gateway/console/templates/**.html", "jinja2.ext:babel_extract")]
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _source_messages() -> set[str]:
    """Every translatable string in the code and the templates, as the extractor sees them."""
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map=METHODS, keywords=KEYWORDS, options_map={}
    ):
        if isinstance(message, tuple):
            message = message[0]
        if message:
            found.add(message)
    return found


@pytest.fixture(scope="module")
def source_messages() -> set[str]:
    return _source_messages()


@pytest.mark.parametrize("language", ["fr", "pt"])
def test_every_message_has_a_translation(language: str, source_messages: set[str]) -> None:
    with i18n.catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language)
    translated = {m.id: m.string for m in catalog if m.id and m.string and not m.fuzzy}
    missing = sorted(source_messages - set(translated))
    assert not missing, f"{language}: {len(missing)} messages lack a translation: {missing[:10]}"
    for msgid, text in translated.items():
        # A translation that drops or renames a placeholder would fail (or lie) at run time.
        assert set(PLACEHOLDER.findall(msgid)) == set(PLACEHOLDER.findall(text)), (language, msgid)


def test_the_extractor_sees_officer_messages(source_messages: set[str]) -> None:
    # Guards the test above: if extraction silently found nothing it would pass vacuously.
    assert set(HANDLING.values()) <= source_messages
    assert set(CATEGORY_NAMES.values()) <= source_messages
    assert "Sign in" in source_messages  # a template string


@pytest.mark.parametrize("language", ["fr", "pt"])
def test_officer_texts_differ_from_english(language: str) -> None:
    for text in [*HANDLING.values(), *CATEGORY_NAMES.values()]:
        assert i18n.translate(text, language) != text, (language, text)


def test_category_names_per_language() -> None:
    assert category_name("red", "fr") == "Notice rouge (personne recherchée)"
    assert category_name("red", "pt") == "Difusão Vermelha (pessoa procurada)"
    assert category_name("red", "en") == "Red Notice (wanted)"
    assert category_name("no_such_code", "fr") == "no_such_code"


@pytest.mark.parametrize(
    ("header", "expected"),
    [("fr-FR,fr;q=0.9,en;q=0.8", "fr"), ("pt-BR", "pt"), ("en-US,en;q=0.9", "en"),
     ("de-DE,pt;q=0.5,fr;q=0.4", "pt"), ("fr;q=0, pt;q=0.2", "pt"), ("sw-KE", "en"),
     (None, "en"), ("", "en"), ("fr;q=bogus,pt", "pt")],
)
def test_accept_language(header: str | None, expected: str) -> None:
    assert i18n.negotiate(header) == expected


def _no_face_png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 240), (128, 128, 128)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_check_answers_in_the_devices_language(gateway: LiveGateway, device_token: str) -> None:
    """A grey picture has no face: the officer is told to capture again, in his language."""
    with gateway.client(device_token) as device:
        answers = {
            lang: device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": ("grey.png", _no_face_png())},
                              headers={"Accept-Language": header}).json()
            for lang, header in [("fr", "fr-FR,fr;q=0.9"), ("pt", "pt-PT"), ("en", "en-GB")]
        }
    assert answers["fr"]["message"] == (
        "Qualité de capture trop faible pour une réponse fiable : recommencez la capture.")
    assert answers["pt"]["message"].startswith("Qualidade da captura demasiado baixa")
    assert answers["en"]["message"].startswith("Capture quality too low")
    assert {a["decision"] for a in answers.values()} == {"recapture"}
    assert answers["fr"]["language"] == "fr"


def test_device_setting_wins_over_accept_language(gateway: LiveGateway) -> None:
    token = gateway.token("device", "SEEK-PT-LANG")
    with gateway.client() as admin:
        token_id = next(t["id"] for t in admin.get("/v1/tokens").json() if t["name"] == "SEEK-PT-LANG")
    with Session(gateway.runtime.engine) as session:
        set_device_language(session, token_id=token_id, language="pt",
                            actor=Principal(token_id="test", name="test", role=Role.ncb_admin))
        session.commit()
    with gateway.client(token) as device:
        answer = device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": ("grey.png", _no_face_png())},
                             headers={"Accept-Language": "en-US"}).json()
    assert answer["language"] == "pt" and answer["message"].startswith("Qualidade")


def test_hit_message_and_instructions_in_french(gateway: LiveGateway, device_token: str,
                                                 shared_data: Path) -> None:
    from tests.watchlist.helpers import enrol, lfw_people

    person = next(p for p in lfw_people(shared_data) if len(list(p.glob("*.jpg"))) >= 3)
    with gateway.client() as admin:
        enrol(admin, person, photo=0, external_ref="FR-HIT-1")
    probe = sorted(person.glob("*.jpg"))[1]
    with gateway.client(device_token) as device:
        answer = device.post("/v1/checks", data={"purpose": "port entry"}, files={"face": (probe.name, probe.read_bytes())},
                             headers={"Accept-Language": "fr"}).json()
    assert answer["decision"] in ("hit", "possible"), answer
    top = answer["candidates"][0]
    assert top["category_name"] == "Notice rouge (personne recherchée)"
    assert top["handling_instructions"].startswith("Personne recherchée (notice rouge).")
    if answer["decision"] == "hit":
        assert answer["message"].startswith("RÉSULTAT POSITIF : ")
        assert "Notice rouge" in answer["message"]
    else:
        assert answer["message"].startswith("Candidat possible")


def _every_mrz_error() -> set[str]:
    """Every error text the MRZ reader gives when one digit of a specimen is changed."""
    from device_adapters.mrz import check_digit, parse_mrz
    from tests.adapters.builders import TD1, TD3
    from tests.adapters.test_mrz import MRV_A, MRV_B

    td2 = "D231458907UTO7408122F1204159<<<<<<<"
    td2 += check_digit(td2[0:10] + td2[13:20] + td2[21:35])
    specimens = [list(TD3), list(TD1), ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", td2], MRV_A, MRV_B]
    found: set[str] = set()
    for lines in specimens:
        for row, text in enumerate(lines):
            for col, char in enumerate(text):
                if not char.isdigit():
                    continue
                for other in ("0", "9"):  # "9" in a month or day also makes an impossible date
                    if other == char:
                        continue
                    changed = list(lines)
                    changed[row] = text[:col] + other + text[col + 1:]
                    found |= set(parse_mrz(changed).errors)
    return found


def test_every_mrz_error_is_in_the_catalogues() -> None:
    """The reader's error names appear inside the officer's message, so each must be translated."""
    from gateway.checks.document_messages import MRZ_ERRORS

    produced = _every_mrz_error()
    assert {"birth_date is not a date", "composite check digit"} <= produced  # the walk reaches them
    assert produced <= set(MRZ_ERRORS), sorted(produced - set(MRZ_ERRORS))


def test_document_only_messages_in_the_devices_language(gateway: LiveGateway,
                                                        device_token: str) -> None:
    """A passport alone: valid and not listed, or failing its check digits, told in French and
    Portuguese with the failed part named in that language."""
    from tests.upstream.procs import td3_mrz

    good = td3_mrz(number="ZZ1357913", state="UTO")
    line1, line2 = good.split("\n")
    bad = line1 + "\n" + line2[:9] + str((int(line2[9]) + 1) % 10) + line2[10:]
    answers = {}
    with gateway.client(device_token) as device:
        for lang in ("fr", "pt", "en"):
            for name, mrz in (("good", good), ("bad", bad)):
                r = device.post("/v1/checks", files={"mrz": (None, mrz)},
                                data={"purpose": "port entry"}, headers={"Accept-Language": lang})
                assert r.status_code == 200, r.text
                answers[lang, name] = r.json()
    # The number's digit is inside the composite too: both fail.
    assert answers["en", "bad"]["document"]["errors"] == ["document_number check digit",
                                                          "composite check digit"]
    for lang in ("fr", "pt"):
        for name in ("good", "bad"):
            assert answers[lang, name]["message"] != answers["en", name]["message"], (lang, name)
    if answers["en", "good"]["document"].get("check"):  # the stolen/lost list was consulted
        assert answers["fr", "good"]["message"] == (
            "Le document de voyage n'est pas signalé volé ou perdu. Poursuivez normalement.")
    assert "chiffre de contrôle du numéro de document" in answers["fr", "bad"]["message"]
    assert "dígito de controlo do número do documento" in answers["pt", "bad"]["message"]
