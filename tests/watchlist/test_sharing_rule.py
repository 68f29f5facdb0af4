"""The sharing rule's two forms (Python for the cache, SQL for search/export) agree everywhere."""

from __future__ import annotations

import itertools

import pytest
from sqlmodel import Session, SQLModel, create_engine, select

from gateway.watchlist.models import Subject
from gateway.watchlist.sharing import visible_clause, visible_to

ORIGINS = ("MU", "KE")
SHARINGS: tuple[list[str] | None, ...] = (
    None, [], ["MU"], ["KE"], ["TZ"], ["KE", "TZ"], ["MU", "KE", "TZ"], ["MU", "SC"],
)
COUNTRIES = ("MU", "KE", "TZ", "SC", "AO")


def _subjects() -> list[Subject]:
    return [
        Subject(id=f"sub_{i:03d}", name=f"S{i}", category="red", originating_country=origin,
                sharing=sharing)
        for i, (origin, sharing) in enumerate(itertools.product(ORIGINS, SHARINGS))
    ]


def _agree(engine) -> None:  # type: ignore[no-untyped-def]
    SQLModel.metadata.create_all(engine, tables=[Subject.__table__])  # type: ignore[list-item]
    subjects = _subjects()
    with Session(engine) as session:
        session.add_all(subjects)
        session.commit()
        for country in COUNTRIES:
            in_sql = set(session.exec(select(Subject.id).where(visible_clause(country))).all())
            in_python = {s.id for s in subjects if visible_to(s, country)}
            assert in_sql == in_python, country
    # the rule itself, spelled out, so both forms cannot drift together unnoticed
    by_id = {s.id: s for s in subjects}
    kenyan_only = next(s for s in by_id.values()
                       if s.originating_country == "KE" and s.sharing == [])
    assert visible_to(kenyan_only, "KE") and not visible_to(kenyan_only, "MU")
    unrestricted = next(s for s in by_id.values() if s.sharing is None)
    assert all(visible_to(unrestricted, c) for c in COUNTRIES)


def test_python_and_sql_agree_on_sqlite(tmp_path) -> None:  # type: ignore[no-untyped-def]
    _agree(create_engine(f"sqlite:///{tmp_path / 'rule.db'}"))


@pytest.mark.postgres
def test_python_and_sql_agree_on_postgres(pg_url: str) -> None:
    _agree(create_engine(pg_url))
