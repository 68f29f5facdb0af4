"""Languages: officer messages, category names, handling instructions and the console in English,
French and Portuguese, from gettext catalogues.

The source text (English) is the message id. Catalogues are ``gateway/locales/<lang>/LC_MESSAGES/
messages.po``; they are compiled in memory with Babel the first time a language is used, so a
fresh clone needs no build step and no committed ``.mo`` files. A message missing from a catalogue
falls back to English (``tests/console/test_i18n.py`` fails the build instead).

Placeholders use ``str.format`` names (``{name}``) so translators can reorder them.
"""

from __future__ import annotations

import gettext as _gettext
from functools import cache
from io import BytesIO
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

LANGUAGES = ("en", "fr", "pt")
DEFAULT_LANGUAGE = "en"
LANGUAGE_NAMES = {"en": "English", "fr": "Français", "pt": "Português"}
LOCALE_DIR = Path(__file__).resolve().parent / "locales"
DOMAIN = "messages"


def N_(message: str) -> str:
    """Mark a constant for translation (extracted into the catalogues); translated where shown."""
    return message


def catalogue_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


@cache
def translations(language: str) -> _gettext.NullTranslations:
    """The compiled catalogue of ``language`` (English: the identity)."""
    if language == DEFAULT_LANGUAGE:
        return _gettext.NullTranslations()
    with catalogue_path(language).open("rb") as handle:
        catalog = read_po(handle, locale=language, domain=DOMAIN)
    buffer = BytesIO()
    # Fuzzy entries are a translator's guess awaiting review: never shown to an officer.
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return _gettext.GNUTranslations(buffer)


def normalise(language: str | None) -> str:
    """A supported language code from a tag such as ``pt-BR`` or ``FR``; English otherwise."""
    if not language:
        return DEFAULT_LANGUAGE
    primary = language.strip().replace("_", "-").split("-")[0].lower()
    return primary if primary in LANGUAGES else DEFAULT_LANGUAGE


def is_supported(language: str | None) -> bool:
    return bool(language) and language in LANGUAGES


def translate(message: str, language: str | None, /, **values: object) -> str:
    """``message`` in ``language``, with ``{placeholders}`` filled from ``values``."""
    text = translations(normalise(language)).gettext(message)
    return text.format(**values) if values else text


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The best supported language for an ``Accept-Language`` header (RFC 9110 q-values)."""
    if not accept_language:
        return default
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        primary = tag.strip().split("-")[0].lower()
        if primary in LANGUAGES and quality > 0:
            ranked.append((-quality, index, primary))
    return min(ranked)[2] if ranked else default
