"""Database engine and sessions: SQLite by default, PostgreSQL when several gateways share one.

SQLite runs in WAL mode with a busy timeout so the API, the upstream worker and CLI commands can
use one file at once. ``create_all`` imports every domain's models first so their tables exist.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, create_engine


def make_engine(url: str) -> Engine:
    """Create an engine; for SQLite, create the parent folder and set WAL and a busy timeout."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=True
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            # Deleted rows (purged probe data, erased subjects) are overwritten with zeros in the
            # file instead of lingering in free pages (docs/PRIVACY.md).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def import_models() -> None:
    """Import every module that declares tables (the metadata must know them)."""
    import importlib
    import pkgutil

    import gateway

    for mod in pkgutil.walk_packages(gateway.__path__, "gateway."):
        if mod.name.endswith(".models"):
            importlib.import_module(mod.name)


# The audit trail is append-only in the database itself, not only by the application's habits:
# an UPDATE or DELETE on it fails whoever issues it.
_SQLITE_AUDIT_GUARDS = [
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_update BEFORE UPDATE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_entry_no_delete BEFORE DELETE ON audit_entry "
    "BEGIN SELECT RAISE(ABORT, 'audit entries are append-only'); END",
]
_POSTGRES_AUDIT_GUARDS = [
    "CREATE OR REPLACE FUNCTION fieldcheck_audit_append_only() RETURNS trigger "
    "LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit entries are append-only'; END $$",
    "DROP TRIGGER IF EXISTS audit_entry_append_only ON audit_entry",
    "CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON audit_entry "
    "FOR EACH ROW EXECUTE FUNCTION fieldcheck_audit_append_only()",
]


def create_all(engine: Engine) -> None:
    import_models()
    SQLModel.metadata.create_all(engine)
    _add_template_model_column(engine)
    guards = {"sqlite": _SQLITE_AUDIT_GUARDS, "postgresql": _POSTGRES_AUDIT_GUARDS}
    statements = guards.get(engine.dialect.name, [])
    if statements:
        with engine.begin() as conn:
            if engine.dialect.name == "postgresql":
                # Gateways starting together must not race on the trigger's replacement.
                conn.execute(text("SELECT pg_advisory_xact_lock(4603)"))
            for statement in statements:
                conn.execute(text(statement))


def _add_template_model_column(engine: Engine) -> None:
    """Databases made before templates named their model lack ``biometric_template.model``: add
    it (idempotent) and mark the old rows with the models of that time
    (``LEGACY_MODELS``), so their embeddings are never compared with a newer model's."""
    from sqlalchemy import inspect
    from sqlalchemy.exc import OperationalError, ProgrammingError

    from gateway.watchlist.models import LEGACY_MODELS

    columns = {c["name"] for c in inspect(engine).get_columns("biometric_template")}
    if "model" in columns:
        return
    postgres = engine.dialect.name == "postgresql"
    backfill = text(
        "UPDATE biometric_template SET model = CASE modality WHEN 'face' THEN :face "
        "ELSE :finger END WHERE model = ''"
    )
    try:
        with engine.begin() as conn:
            if postgres:
                conn.execute(text("SELECT pg_advisory_xact_lock(4604)"))
            conn.execute(text(
                "ALTER TABLE biometric_template ADD COLUMN "
                + ("IF NOT EXISTS " if postgres else "")
                + "model VARCHAR(60) NOT NULL DEFAULT ''"
            ))
            conn.execute(backfill, {"face": LEGACY_MODELS["face"],
                                    "finger": LEGACY_MODELS["finger"]})
    except (OperationalError, ProgrammingError):
        # Another process added it between our look and our ALTER (SQLite has no IF NOT EXISTS).
        if "model" not in {c["name"] for c in inspect(engine).get_columns("biometric_template")}:
            raise


@contextmanager
def session_scope(engine: Engine) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(engine, expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
