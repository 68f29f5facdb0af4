"""Finding subjects for NCB staff: filters, paging and sorting, never past sharing restrictions.

Exact filters, visibility and sorting run in SQL so a page costs one query. The free-text name
search (``q``) matches names and aliases accent- and case-insensitively ("jose" finds "José"),
which SQL cannot do portably over a JSON alias list, so with ``q`` the filtered rows are scanned
in Python: fine for the tens of thousands of records a national list holds.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from gateway.errors import Invalid
from gateway.watchlist.categories import parse_category
from gateway.watchlist.countries import parse_country
from gateway.watchlist.models import BiometricTemplate, Subject
from gateway.watchlist.sharing import visible_clause, visible_to

SORT_KEYS = {
    "name": Subject.name,
    "created_at": Subject.created_at,
    "updated_at": Subject.updated_at,
    "date_of_birth": Subject.date_of_birth,
    "external_ref": Subject.external_ref,
    "category": Subject.category,
    "expires_at": Subject.expires_at,
}
MAX_LIMIT = 500


@dataclass(frozen=True)
class SubjectFilter:
    q: str | None = None
    date_of_birth: date | None = None
    nationality: str | None = None
    category: str | None = None
    external_ref: str | None = None
    originating_country: str | None = None
    status: str | None = None  # "active" | "expired"


def fold(text: str) -> str:
    """Lower-case without accents, for name matching."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()


def _sort(sort: str) -> Any:
    key = sort.lstrip("-")
    column = SORT_KEYS.get(key)
    if column is None:
        raise Invalid(
            f"cannot sort by {sort!r}",
            field="sort",
            fix="use one of " + ", ".join(SORT_KEYS) + " (prefix '-' for descending)",
        )
    return col(column).desc() if sort.startswith("-") else col(column).asc()


def list_subjects(
    session: Session,
    *,
    country: str,
    filters: SubjectFilter,
    sort: str = "name",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[Subject], int]:
    """One page of the subjects this gateway may see, and how many match in all."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit must be 1-{MAX_LIMIT}", field="limit")
    if offset < 0:
        raise Invalid("offset cannot be negative", field="offset")
    query = select(Subject).where(visible_clause(country))
    if filters.category:
        query = query.where(Subject.category == parse_category(filters.category).value)
    if filters.nationality:
        query = query.where(
            Subject.nationality == parse_country(filters.nationality, field="nationality")
        )
    if filters.originating_country:
        query = query.where(
            Subject.originating_country
            == parse_country(filters.originating_country, field="originating_country")
        )
    if filters.date_of_birth:
        query = query.where(Subject.date_of_birth == filters.date_of_birth)
    if filters.external_ref:
        query = query.where(
            func.lower(Subject.external_ref).like("%" + filters.external_ref.strip().lower() + "%")
        )
    if filters.status:
        now = datetime.now(UTC)
        if filters.status == "expired":
            query = query.where(
                col(Subject.expires_at).is_not(None), col(Subject.expires_at) <= now
            )
        elif filters.status == "active":
            query = query.where(
                or_(col(Subject.expires_at).is_(None), col(Subject.expires_at) > now)
            )
        else:
            raise Invalid(
                f"unknown status {filters.status!r}", field="status", fix="use active or expired"
            )
    query = query.order_by(_sort(sort), col(Subject.id))
    if filters.q and filters.q.strip():
        needle = fold(filters.q.strip())
        rows = [
            s
            for s in session.exec(query)
            if needle in fold(s.name) or any(needle in fold(a) for a in s.aliases or [])
        ]
        rows = [s for s in rows if visible_to(s, country)]
        return rows[offset : offset + limit], len(rows)
    total = session.exec(select(func.count()).select_from(query.subquery())).one()
    page = list(session.exec(query.offset(offset).limit(limit)))
    # Defence in depth: the SQL clause above and the cache's rule must never disagree.
    return [s for s in page if visible_to(s, country)], int(total)


def biometric_counts(session: Session, subject_ids: list[str]) -> dict[str, dict[str, int]]:
    """Per subject: how many faces and fingerprints are enrolled."""
    counts: dict[str, dict[str, int]] = {
        sid: {"faces": 0, "fingerprints": 0} for sid in subject_ids
    }
    if not subject_ids:
        return counts
    rows = session.exec(
        select(BiometricTemplate.subject_id, BiometricTemplate.modality, func.count())
        .where(col(BiometricTemplate.subject_id).in_(subject_ids))
        .group_by(BiometricTemplate.subject_id, BiometricTemplate.modality)
    )
    for subject_id, modality, n in rows:
        counts[subject_id]["faces" if modality == "face" else "fingerprints"] = int(n)
    return counts
