"""Database engine and sessions: SQLite by default, PostgreSQL when several gateways share one.

SQLite allows one writer at a time per file. Left to itself, every waiting writer spins in
SQLite's busy handler (sleep, retry) until its busy timeout, and a thread that loses that race
often enough fails with "database is locked". So within a process, writers queue on a Python
lock (``WriteLock``, one per database file, shared by every engine on that file): a connection
takes it just before its first write (INSERT/UPDATE/DELETE, or ``BEGIN IMMEDIATE``) and gives it
back when its transaction commits or rolls back. Threads therefore wait their turn in order,
and SQLite's own busy timeout (WAL mode) only arbitrates between processes (a CLI command
beside ``serve``). A writer that still cannot get the lock in time raises ``DatabaseBusy``
(503 with Retry-After), never a bare 500.

Rules that keep the lock short, for every caller: do the slow work (image extraction, network
calls) before the first write, then write and commit at once; never hold a write open on one
connection while writing on another from the same thread (that would wait for itself: it is
refused at once). PostgreSQL needs none of this (row locks); its engine is left as it is.

The schema is made and changed by Alembic revisions shipped in ``gateway/migrations``:
``upgrade`` (alias ``create_all``) runs them at every start and from ``fieldcheck db upgrade``;
``import_models`` is only for tools that need the whole metadata (autogenerate, the tests that
compare the migrated schema with the models).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

from gateway.errors import DatabaseBusy

log = logging.getLogger(__name__)
# Alembic's own INFO lines (plugins, "Context impl") are noise in the gateway's log; the start-up
# logs the revision change itself (gateway.cli).
logging.getLogger("alembic").setLevel(logging.WARNING)

# Between processes on one SQLite file (only): how long SQLite itself retries a locked write.
SQLITE_BUSY_TIMEOUT_S = 5.0
# Within the process: how long a writer queues for its turn before the request gets a 503.
# Transactions hold the lock for milliseconds; waiting this long means something is wrong.
WRITE_WAIT_S = 15.0
# A write transaction held longer than this is logged (with the statement that opened it).
SLOW_HOLD_S = 1.0
_WRITE_STATEMENTS = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE",
                     "BEGIN EXCLUSIVE")


class WriteLock:
    """The one-writer-at-a-time turn for one SQLite file in this process.

    Thread-safe. Held per DBAPI connection from its first write to its commit or rollback
    (``acquire_for``/``release_for``); a plain lock, not an RLock, so whichever thread closes a
    connection may give the turn back.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._lock = threading.Lock()
        self._guard = threading.Lock()
        self._holder: int | None = None  # id() of the DBAPI connection holding the turn
        self._holder_thread: int | None = None
        self._since = 0.0
        self._opened_by = ""
        # Observability (benchmarks, /metrics): how long writers waited and held.
        self.acquired = 0
        self.timeouts = 0
        self.max_wait_s = 0.0
        self.max_hold_s = 0.0

    def holds(self, dbapi_connection: Any) -> bool:
        return self._holder == id(dbapi_connection)

    def acquire_for(self, dbapi_connection: Any, *, statement: str, wait_s: float) -> None:
        if self.holds(dbapi_connection):
            return
        me = threading.get_ident()
        if self._holder_thread == me:
            # This thread already has a write open on another connection: waiting would wait
            # for itself until the timeout. Fail now and name the bug.
            raise RuntimeError(
                f"nested write transactions on one thread ({self.name}): commit the first "
                f"(opened by {self._opened_by[:80]!r}) before writing on another session"
            )
        started = time.monotonic()
        if not self._lock.acquire(timeout=wait_s):
            with self._guard:
                self.timeouts += 1
            raise DatabaseBusy(
                f"the database is busy: no write turn within {wait_s:g} s", retry_after_s=2
            )
        waited = time.monotonic() - started
        with self._guard:
            self._holder, self._holder_thread = id(dbapi_connection), me
            self._since, self._opened_by = time.monotonic(), statement
            self.acquired += 1
            self.max_wait_s = max(self.max_wait_s, waited)

    def release_for(self, dbapi_connection: Any) -> None:
        with self._guard:
            if self._holder != id(dbapi_connection):
                return
            held = time.monotonic() - self._since
            opened_by = self._opened_by
            self.max_hold_s = max(self.max_hold_s, held)
            self._holder = self._holder_thread = None
        self._lock.release()
        if held > SLOW_HOLD_S:
            log.warning("a write transaction on %s held the write turn for %.1f s (opened by "
                        "%r)", self.name, held, opened_by[:120])

    def stats(self) -> dict[str, float]:
        with self._guard:
            return {"acquired": self.acquired, "timeouts": self.timeouts,
                    "max_wait_s": round(self.max_wait_s, 4),
                    "max_hold_s": round(self.max_hold_s, 4)}


_locks: dict[str, WriteLock] = {}
_locks_guard = threading.Lock()


def write_lock(path: str) -> WriteLock:
    """The process's write turn for the SQLite file at ``path`` (one per file)."""
    key = str(Path(path).resolve())
    with _locks_guard:
        if key not in _locks:
            _locks[key] = WriteLock(key)
        return _locks[key]


def engine_write_lock(engine: Engine) -> WriteLock | None:
    """The write turn an engine takes (None: PostgreSQL, or SQLite in memory)."""
    return getattr(engine.dialect, "fieldcheck_write_lock", None)


def _raw(connection: Any) -> Any:
    """The DBAPI connection under SQLAlchemy's pool proxy (the key of the write turn)."""
    return getattr(connection, "dbapi_connection", None) or connection


def _install_write_lock(engine: Engine, lock: WriteLock, wait_s: float) -> None:
    @event.listens_for(engine, "before_cursor_execute")
    def _take_turn(conn, _cursor, statement, _params, _context, _many) -> None:
        head = statement.lstrip()[:16].upper()
        if head.startswith(_WRITE_STATEMENTS):
            lock.acquire_for(_raw(conn.connection), statement=statement, wait_s=wait_s)

    # The turn ends once SQLite has really committed or rolled back, so the next writer never
    # finds the file still locked. Wrapping this engine's dialect methods (not an event, which
    # fires before the DBAPI call) also covers the pool's rollback when a connection returns.
    dialect = engine.dialect
    commit, rollback, close = dialect.do_commit, dialect.do_rollback, dialect.do_close

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            lock.release_for(_raw(dbapi_connection))

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            lock.release_for(_raw(dbapi_connection))

    def do_close(dbapi_connection: Any) -> None:
        try:
            close(dbapi_connection)
        finally:
            lock.release_for(_raw(dbapi_connection))

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]
    dialect.do_close = do_close  # type: ignore[method-assign]
    dialect.fieldcheck_write_lock = lock  # type: ignore[attr-defined]


def make_engine(url: str, *, busy_timeout_s: float = SQLITE_BUSY_TIMEOUT_S,
                write_wait_s: float = WRITE_WAIT_S) -> Engine:
    """Create an engine; for SQLite: the parent folder, WAL, a busy timeout and the process's
    write turn for that file (see the module docstring)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1].split("?", 1)[0]
        in_memory = not path or path == ":memory:"
        if not in_memory:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": busy_timeout_s},
            pool_pre_ping=True,
        )
        busy_ms = int(busy_timeout_s * 1000)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={busy_ms}")
            # Deleted rows (purged probe data, erased subjects) are overwritten with zeros in the
            # file instead of lingering in free pages (docs/PRIVACY.md).
            cur.execute("PRAGMA secure_delete=ON")
            cur.close()

        if not in_memory:
            _install_write_lock(engine, write_lock(path), write_wait_s)
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


MIGRATIONS = "gateway:migrations"  # the revisions ship inside the package (gateway/migrations)
_PG_MIGRATION_LOCK = 4603  # advisory lock: gateways starting together migrate one at a time


def alembic_config():
    """Alembic's configuration for the packaged revisions (no ini file needed)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for an empty database or one made before migrations."""
    from alembic.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """Between processes on one SQLite file: one migrates, the others wait and then find the
    work done (PostgreSQL: an advisory lock inside the migration's transaction instead)."""
    path = engine.url.database if engine.dialect.name == "sqlite" else None
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock between processes (the gateway targets Linux)
        fcntl = None  # type: ignore[assignment]
    if not path or path == ":memory:" or fcntl is None:
        yield
        return

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    # A file of its own, never the database: closing any descriptor of the database file drops
    # every POSIX lock SQLite holds on it in this process, after which another process may
    # checkpoint and delete the WAL under a live connection (commits then lost).
    with open(f"{path}.migrate.lock", "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class SchemaError(Exception):
    """The database's schema revision cannot be brought to this code's (the message says why
    and what to do): it is newer than this code, or a revision failed."""


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to ``revision`` (the newest by default) with the packaged Alembic
    revisions. A database made before migrations (tables but no ``alembic_version``) is
    adopted: the initial revision creates only what it lacks. Safe to call at every start and
    from several processes at once."""
    from alembic import command
    from alembic.script import ScriptDirectory
    from alembic.util.exc import CommandError

    config = alembic_config()
    with _migration_lock(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
        from alembic.migration import MigrationContext

        current = MigrationContext.configure(conn).get_current_revision()
        script = ScriptDirectory.from_config(config)
        if current is not None and current not in {r.revision for r in script.walk_revisions()}:
            raise SchemaError(
                f"the database is at schema revision {current!r}, which this FieldCheck does "
                f"not know (its newest is {script.get_current_head()!r}): it was upgraded by a "
                "newer version. Run that version, or restore the backup taken before the upgrade")
        config.attributes["connection"] = conn
        try:
            command.upgrade(config, revision)
        except CommandError as exc:
            raise SchemaError(f"the schema cannot be upgraded to {revision!r}: {exc}") from None


def schema_differences(engine: Engine) -> list[str]:
    """What the database's schema lacks or has beyond the models' (Alembic's autogenerate
    comparison: tables, columns, types, nullability, indexes); empty when they agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlmodel import SQLModel

    import_models()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, SQLModel.metadata)
    return [_describe(d) for d in diff]


def _describe(difference: Any) -> str:
    if isinstance(difference, list):  # column changes come as a list of modify_* tuples
        return "; ".join(_describe(d) for d in difference)
    kind, *rest = difference
    names = [getattr(r, "name", None) or str(r) for r in rest
             if r is not None and not isinstance(r, dict)]
    what = {"add": "missing", "remove": "not in the models", "modify": "differs"}
    verb, _, thing = kind.partition("_")
    return f"{thing} {'.'.join(str(n) for n in names[:2])}: {what.get(verb, verb)}"


def create_all(engine: Engine) -> None:
    """Every table this code needs, at the newest revision (``upgrade``; the name is kept for
    the callers from before migrations)."""
    upgrade(engine)


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
