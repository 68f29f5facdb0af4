"""Watchlist categories (INTERPOL notices, the UN special notice, national lists) and the default
handling instruction each gives the officer (overridable per subject)."""

from __future__ import annotations

from enum import StrEnum


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
    Category.red: "Wanted person (Red Notice). Do not alert the subject. Contact the NCB at once "
    "and act under national law.",
    Category.yellow: "Missing person (Yellow Notice). Ensure the person's safety and contact the "
    "NCB.",
    Category.blue: "Person of interest (Blue Notice). Obtain identity and location; do not detain "
    "on this basis alone; inform the NCB.",
    Category.black: "Unidentified body record (Black Notice). Inform the NCB.",
    Category.green: "Warning (Green Notice): criminal activity. Apply caution and inform the NCB.",
    Category.orange: "Imminent threat (Orange Notice). Apply safety procedures and contact the NCB "
    "immediately.",
    Category.purple: "Modus operandi record (Purple Notice). Inform the NCB.",
    Category.un_special: "INTERPOL-UN Security Council Special Notice: sanctions apply. Contact "
    "the NCB.",
    Category.national_wanted: "Nationally wanted person. Follow national arrest procedures.",
    Category.deportee: "Deported person. Check entry eligibility under national law.",
}

NO_HIT_MESSAGE = "No candidate on the watchlist. Proceed normally."
POSSIBLE_MESSAGE = "Possible candidate: do not act on this alone. An NCB analyst will review it."
RECAPTURE_MESSAGE = "Capture quality too low for a reliable answer: capture again."


def parse_category(value: str) -> Category:
    from gateway.errors import parse_choice

    return parse_choice(Category, value, field="category")
