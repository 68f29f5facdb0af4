"""Who may see a watchlist subject: the sharing rule, in Python and in SQL, kept together.

A subject is visible to a gateway of country C when C is its originating country, or the
subject has no sharing list (JSON ``null`` / SQL NULL: unrestricted), or C is in that list.
An empty list means "originating country only".

The rule exists twice because the cache filters loaded rows in Python while search and export
filter in SQL; ``tests/watchlist/test_sharing_rule.py`` checks that both forms agree on every
combination of origin, sharing list and gateway country, on SQLite and PostgreSQL. Change
both here, together, or that test fails. It is a security rule: a restricted record must never
reach a gateway that may not see it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import String, cast, or_
from sqlmodel import col

from gateway.watchlist.models import Subject


class Scoped(Protocol):
    """Anything with an origin and a sharing list (a Subject, a SubjectScope row)."""

    # Read-only: a Subject's list[str] column satisfies Sequence[str] only when not assigned.
    @property
    def originating_country(self) -> str: ...

    @property
    def sharing(self) -> Sequence[str] | None: ...


def visible_to(subject: Scoped, country: str) -> bool:
    """Python form: may a gateway of ``country`` see ``subject``?"""
    if subject.originating_country == country:
        return True
    return subject.sharing is None or country in subject.sharing


def visible_clause(country: str) -> Any:
    """SQL form of ``visible_to`` over the ``subject`` table.

    JSON ``null`` and SQL NULL both mean "no restriction"; the sharing list is stored as JSON
    text such as ``["KE", "TZ"]`` on SQLite and PostgreSQL alike, so a quoted code is a safe LIKE
    (country codes are two letters, validated on the way in).
    """
    sharing_text = cast(Subject.sharing, String)
    return or_(
        col(Subject.originating_country) == country,
        col(Subject.sharing).is_(None),
        sharing_text == "null",
        sharing_text.like(f'%"{country}"%'),
    )
