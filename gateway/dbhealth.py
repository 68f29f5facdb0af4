"""Noticing a read-only or failing database: readiness, a 503 answer, and a quiet log.

A database can go read-only under a running gateway (a full disk, a remounted volume, a
PostgreSQL standby promoted the wrong way, file permissions changed). Reads keep working, so a
plain ``SELECT 1`` says "ok" while every write fails. Here:

- ``classify(exc)`` names the failure of a database error: ``read_only``, ``disk_full``,
  ``io_error``, ``unreachable`` or None (anything else, e.g. a constraint: not ours);
- ``DatabaseHealth.record_failure`` remembers it; ``/readyz`` answers 503 while a write failed in
  the last ``RECENT_S`` seconds or the write probe (``probe``) fails;
- the log says it once per ``LOG_EVERY_S`` per kind, with the number of requests in between,
  instead of one stack trace per request.

"database is locked" (SQLite busy past its timeout) is a different, transient condition handled
by the concurrency layer (``gateway.errors``); it is not classified here.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)
RECENT_S = 30.0
LOG_EVERY_S = 60.0
RETRY_AFTER_S = 30

_PATTERNS = (
    ("read_only", ("readonly database", "read-only", "read only", "readonlysqltransaction")),
    ("disk_full", ("database or disk is full", "no space left", "disk full")),
    ("io_error", ("disk i/o error", "database disk image is malformed", "unable to open database",
                  "input/output error")),
    ("unreachable", ("connection refused", "could not connect", "server closed the connection",
                     "connection is closed", "terminating connection")),
)
FIXES = {
    "read_only": "the gateway's database refuses writes; make it writable (disk space, mount, "
                 "permissions, PostgreSQL primary) and send the request again",
    "disk_full": "the database disk is full; free space and send the request again",
    "io_error": "the database file cannot be read or written reliably; check the disk",
    "unreachable": "the database server is unreachable; check it and send the request again",
}


def classify(exc: BaseException) -> str | None:
    """The kind of database failure ``exc`` is, or None when it is not one."""
    if not isinstance(exc, DBAPIError):
        return None
    message = f"{type(getattr(exc, 'orig', exc)).__name__} {getattr(exc, 'orig', exc)}".lower()
    if "database is locked" in message or "database table is locked" in message:
        return None
    for kind, needles in _PATTERNS:
        if any(n in message for n in needles):
            return kind
    if getattr(exc, "connection_invalidated", False):
        return "unreachable"
    return None


class DatabaseHealth:
    """Per-process memory of database failures (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_failure: dict[str, float] = {}
        self._last_logged: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def record_failure(self, kind: str, exc: BaseException, where: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._last_failure[kind] = now
            if now - self._last_logged.get(kind, -LOG_EVERY_S) < LOG_EVERY_S:
                self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
                return
            suppressed = self._suppressed.pop(kind, 0)
            self._last_logged[kind] = now
        log.error("database %s on %s: %s (answered 503; %d more since the last report; "
                  "next report in %.0f s at most)", kind.replace("_", " "), where,
                  getattr(exc, "orig", exc), suppressed, LOG_EVERY_S)

    def recent_failure(self) -> str | None:
        now = time.monotonic()
        with self._lock:
            recent = [(t, k) for k, t in self._last_failure.items() if now - t < RECENT_S]
        return max(recent)[1] if recent else None


def probe(engine: Engine) -> str | None:
    """None when the database takes a write; else the failure kind. Writes nothing: an UPDATE
    matching no row inside a rolled-back transaction (SQLite and PostgreSQL both refuse it on a
    read-only database). A busy database counts as writable."""
    try:
        with engine.connect() as conn:
            sqlite = engine.dialect.name == "sqlite"
            if sqlite:
                # Do not queue behind a long writer: a lock is "busy", not "read-only".
                before = conn.exec_driver_sql("PRAGMA busy_timeout").scalar()
                conn.exec_driver_sql("PRAGMA busy_timeout = 200")
            try:
                conn.execute(text("UPDATE api_token SET name = name WHERE 1 = 0"))
            finally:
                conn.rollback()
                if sqlite:
                    conn.exec_driver_sql(f"PRAGMA busy_timeout = {int(before or 0)}")
    except DBAPIError as exc:
        return classify(exc)
    return None


def failure_problem(exc: BaseException) -> dict[str, Any] | None:
    """The problem body fields for a classified database failure (None: not one)."""
    kind = classify(exc)
    if kind is None:
        return None
    what = kind.replace("_", " ")
    return {"kind": kind, "detail": f"the database cannot take writes now ({what})",
            "fix": FIXES[kind]}
