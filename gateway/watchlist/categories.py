"""Watchlist categories (INTERPOL notices, the UN special notice, national lists) and the default
handling instruction each gives the officer (overridable per subject).

The English text here is the message id of the gettext catalogues (``gateway/i18n.py``): show it
through ``category_name`` / ``handling_instruction`` / ``translate`` in the reader's language.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.i18n import N_, translate


class Category(StrEnum):
    red = "red"
    yellow = "yellow"
    blue = "blue"
    black = "black"
    green = "green"
    orange = "orange"
    purple = "purple"
    un_special = "un_special"
    national_wanted = "national_wanted"
    deportee = "deportee"


HANDLING: dict[Category, str] = {
    Category.red: N_(
        "Wanted person (Red Notice). Do not alert the subject. Contact the NCB at once and act "
        "under national law."
    ),
    Category.yellow: N_(
        "Missing person (Yellow Notice). Ensure the person's safety and contact the NCB."
    ),
    Category.blue: N_(
        "Person of interest (Blue Notice). Obtain identity and location; do not detain on this "
        "basis alone; inform the NCB."
    ),
    Category.black: N_("Unidentified body record (Black Notice). Inform the NCB."),
    Category.green: N_(
        "Warning (Green Notice): criminal activity. Apply caution and inform the NCB."
    ),
    Category.orange: N_(
        "Imminent threat (Orange Notice). Apply safety procedures and contact the NCB "
        "immediately."
    ),
    Category.purple: N_("Modus operandi record (Purple Notice). Inform the NCB."),
    Category.un_special: N_(
        "INTERPOL-UN Security Council Special Notice: sanctions apply. Contact the NCB."
    ),
    Category.national_wanted: N_("Nationally wanted person. Follow national arrest procedures."),
    Category.deportee: N_("Deported person. Check entry eligibility under national law."),
}

NO_HIT_MESSAGE = N_("No candidate on the watchlist. Proceed normally.")
POSSIBLE_MESSAGE = N_(
    "Possible candidate: do not act on this alone. An NCB analyst will review it."
)
RECAPTURE_MESSAGE = N_("Capture quality too low for a reliable answer: capture again.")


CATEGORY_NAMES: dict[Category, str] = {
    Category.red: N_("Red Notice (wanted)"),
    Category.yellow: N_("Yellow Notice (missing person)"),
    Category.blue: N_("Blue Notice (information)"),
    Category.black: N_("Black Notice (unidentified body)"),
    Category.green: N_("Green Notice (warning)"),
    Category.orange: N_("Orange Notice (threat)"),
    Category.purple: N_("Purple Notice (modus operandi)"),
    Category.un_special: N_("INTERPOL-UN Special Notice"),
    Category.national_wanted: N_("Nationally wanted"),
    Category.deportee: N_("Deportee"),
}


def category_name(category: str, language: str | None) -> str:
    """The category's name for people (the raw code when it is not a known category)."""
    try:
        return translate(CATEGORY_NAMES[Category(category)], language)
    except ValueError:
        return category


def handling_instruction(category: str, language: str | None) -> str:
    """The category's default instruction to the officer, in ``language``."""
    return translate(HANDLING[Category(category)], language)


def parse_category(value: str) -> Category:
    from gateway.errors import parse_choice

    return parse_choice(Category, value, field="category")
