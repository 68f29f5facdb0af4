"""The stub's own SQLite file (plain sqlite3: none of the gateway's tables) and its indexes.

Tables: subject (the central population with templates), document (stolen/lost list), change
(the feed), delivery (one row per idempotency key with the first answer and how often it came).
Thread-safe: one connection behind a lock; searches run on in-memory indexes built at start.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from gateway.upstream.stub.seed import synthetic_document, synthetic_subject

log = logging.getLogger(__name__)

# Central's face thresholds: cosine similarity of unit SFace embeddings, the scores of FMR 1e-6
# and 1e-4 in matchers/params.FACE_SCORE_FMR.
FACE_HIT, FACE_POSSIBLE = 0.534, 0.414


def unit(vector: np.ndarray) -> np.ndarray:
    v = np.asarray(vector, dtype=np.float32).reshape(-1)
    if v.shape[0] != 128 or not np.all(np.isfinite(v)) or float(np.linalg.norm(v)) < 1e-6:
        raise ValueError("a face template is 128 finite float32 values, not all zero")
    return v / np.linalg.norm(v)


class FaceGallery:
    """Central's faces: one float32 matrix, cosine similarity by one matrix-vector product."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._matrix = np.zeros((0, 128), dtype=np.float32)
        self._subjects: list[str] = []
        self._pending: list[np.ndarray] = []

    def add(self, subject_id: str, embedding: np.ndarray) -> None:
        with self._lock:
            self._pending.append(unit(embedding))
            self._subjects.append(subject_id)

    def __len__(self) -> int:
        return len(self._subjects)

    def search(self, probe: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        query = unit(probe)
        with self._lock:
            if self._pending:
                self._matrix = np.vstack([self._matrix, *self._pending])
                self._pending = []
            if not len(self._subjects):
                return []
            scores = self._matrix @ query
            top = np.argsort(-scores)[: k * 2]
            subjects = list(self._subjects)
        out: list[tuple[str, float]] = []
        for i in top:
            if subjects[i] not in {s for s, _ in out}:
                out.append((subjects[i], float(scores[i])))
        return out[:k]


class FingerGallery:
    """Central's fingers, matched by an exact digest of the ISO/IEC 19794-2 record.

    A deliberate simplification: the stub stands in for the link, not for AFIS accuracy. The
    gateway's extraction is deterministic, so a probe made from the same image as an enrolled
    central subject's template matches it, and random synthetic templates never collide.
    """

    def __init__(self) -> None:
        self._by_digest: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def add(self, subject_id: str, record: bytes) -> None:
        with self._lock:
            self._by_digest.setdefault(hashlib.sha256(record).hexdigest(), []).append(subject_id)

    def search(self, record: bytes) -> list[str]:
        with self._lock:
            return list(self._by_digest.get(hashlib.sha256(record).hexdigest(), []))

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS subject (
    id TEXT PRIMARY KEY, surname TEXT, given_names TEXT, birth_date TEXT, nationality TEXT,
    category TEXT, face BLOB, fingers TEXT NOT NULL DEFAULT '{}');
CREATE INDEX IF NOT EXISTS subject_name ON subject (surname, birth_date);
CREATE TABLE IF NOT EXISTS document (
    number TEXT NOT NULL, issuing_state TEXT NOT NULL, status TEXT NOT NULL, reported_at REAL,
    PRIMARY KEY (number, issuing_state));
CREATE TABLE IF NOT EXISTS change (
    version INTEGER PRIMARY KEY AUTOINCREMENT, kind TEXT NOT NULL, op TEXT NOT NULL,
    key TEXT NOT NULL, data TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS delivery (
    key TEXT PRIMARY KEY, request_hash TEXT NOT NULL, check_id TEXT NOT NULL,
    response TEXT NOT NULL, count INTEGER NOT NULL, first_at REAL NOT NULL, last_at REAL NOT NULL);
"""


def normalise_number(value: str | None) -> str:
    return "".join(ch for ch in (value or "").upper() if ch.isalnum())


class StubStore:
    def __init__(self, path: Path, *, seed: int = 1, subjects: int = 2000, documents: int = 5000):
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self._lock = threading.Lock()
        self.seed = seed
        self.faces = FaceGallery()
        self.fingers = FingerGallery()
        self._seed_if_empty(subjects=subjects, documents=documents)
        self._load_indexes()

    # -- seeding and loading -----------------------------------------------------------------

    def _seed_if_empty(self, *, subjects: int, documents: int) -> None:
        if self._db.execute("SELECT value FROM meta WHERE key='seeded'").fetchone():
            return
        started = time.monotonic()
        log.info("central stub: seeding %d synthetic subjects and %d documents (first start "
                 "only)", subjects, documents)
        step = max(1, subjects // 10)
        with self._lock:
            self._db.execute("BEGIN")
            for i in range(subjects):
                if i and i % step == 0:  # a first start takes minutes on a loaded machine
                    log.info("central stub: seeded %d/%d subjects (%.0f s)", i, subjects,
                             time.monotonic() - started)
                s = synthetic_subject(self.seed, i)
                fingers = {str(p): t.hex() for p, t in s.fingers.items()}
                self._db.execute(
                    "INSERT INTO subject VALUES (?,?,?,?,?,?,?,?)",
                    (s.subject_id, s.surname, s.given_names, s.birth_date, s.nationality,
                     s.category, s.face.astype("<f4").tobytes(), json.dumps(fingers)),
                )
                if s.category == "red":
                    self._add_change("notice", "upsert", s.subject_id, {
                        "notice_id": s.subject_id, "surname": s.surname,
                        "given_names": s.given_names, "birth_date": s.birth_date,
                        "nationality": s.nationality, "category": s.category,
                    })
            for i in range(documents):
                d = synthetic_document(self.seed, i)
                self._upsert_document(d)
            self._db.execute("INSERT INTO meta VALUES ('seeded', ?)", (str(self.seed),))
            self._db.execute("COMMIT")
        log.info("central stub seeded %d subjects and %d documents in %.1f s",
                 subjects, documents, time.monotonic() - started)

    def _load_indexes(self) -> None:
        rows = self._db.execute("SELECT id, face, fingers FROM subject").fetchall()
        for subject_id, face, fingers in rows:
            if face:
                self.faces.add(subject_id, np.frombuffer(face, "<f4"))
            for hexed in json.loads(fingers).values():
                self.fingers.add(subject_id, bytes.fromhex(hexed))

    def _add_change(self, kind: str, op: str, key: str, data: dict[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO change (kind, op, key, data) VALUES (?,?,?,?)",
            (kind, op, key, json.dumps(data)),
        )

    def _upsert_document(self, d: dict[str, Any]) -> None:
        number = normalise_number(d["document_number"])
        state = (d.get("issuing_state") or "").upper()
        if d.get("status") == "clear":
            self._db.execute(
                "DELETE FROM document WHERE number=? AND issuing_state=?", (number, state)
            )
            self._add_change("document", "delete", f"{state}:{number}",
                             {"document_number": number, "issuing_state": state})
            return
        self._db.execute(
            "INSERT OR REPLACE INTO document VALUES (?,?,?,?)", (number, state, d["status"],
                                                               time.time()),
        )
        self._add_change("document", "upsert", f"{state}:{number}", {
            "document_number": number, "issuing_state": state, "status": d["status"],
        })

    # -- test administration ------------------------------------------------------------------

    def add_document(self, d: dict[str, Any]) -> None:
        with self._lock:
            self._db.execute("BEGIN")
            self._upsert_document(d)
            self._db.execute("COMMIT")

    def add_subject(self, s: dict[str, Any]) -> None:
        """Enrol a central-only subject (faces: float32 embeddings; fingers: position -> ISO)."""
        faces: list[np.ndarray] = s.get("faces", [])
        fingers: dict[int, bytes] = s.get("fingers", {})
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO subject VALUES (?,?,?,?,?,?,?,?)",
                (s["id"], s.get("surname"), s.get("given_names"), s.get("birth_date"),
                 s.get("nationality"), s.get("category", "red"),
                 faces[0].astype("<f4").tobytes() if faces else None,
                 json.dumps({str(p): t.hex() for p, t in fingers.items()})),
            )
        for face in faces:
            self.faces.add(s["id"], face)
        for record in fingers.values():
            self.fingers.add(s["id"], record)

    # -- central's answers --------------------------------------------------------------------

    def subject_summary(self, subject_id: str) -> dict[str, Any]:
        with self._lock:
            row = self._db.execute(
                "SELECT surname, given_names, birth_date, nationality, category FROM subject "
                "WHERE id=?", (subject_id,),
            ).fetchone()
        if row is None:
            return {"subject_id": subject_id}
        surname, given, birth, nationality, category = row
        return {
            "subject_id": subject_id, "name": f"{given or ''} {surname or ''}".strip(),
            "birth_date": birth, "nationality": nationality, "category": category,
            "source": "central",
        }

    def document_status(self, number: str | None, state: str | None) -> dict[str, Any]:
        number = normalise_number(number)
        with self._lock:
            if state:
                row = self._db.execute(
                    "SELECT status FROM document WHERE number=? AND issuing_state=?",
                    (number, state.upper()),
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT status FROM document WHERE number=?", (number,)
                ).fetchone()
        status = row[0] if row else "clear"
        return {"status": status, "hit": status != "clear", "document_number": number,
                "issuing_state": state}

    def nominal(self, surname: str, given: str | None, birth: str | None) -> list[dict[str, Any]]:
        sql = "SELECT id FROM subject WHERE surname=?"
        args: list[Any] = [surname.upper()]
        if birth:
            sql += " AND birth_date=?"
            args.append(birth)
        if given:
            sql += " AND given_names=?"
            args.append(given.upper())
        with self._lock:
            ids = [r[0] for r in self._db.execute(sql + " LIMIT 20", args).fetchall()]
        return [{**self.subject_summary(i), "modality": "nominal", "strength": "possible"}
                for i in ids]

    def changes(self, since: int, limit: int) -> dict[str, Any]:
        with self._lock:
            rows = self._db.execute(
                "SELECT version, kind, op, key, data FROM change WHERE version > ? "
                "ORDER BY version LIMIT ?", (since, limit),
            ).fetchall()
            latest = self._db.execute("SELECT COALESCE(MAX(version), 0) FROM change").fetchone()[0]
        changes = [
            {"version": v, "kind": k, "op": o, "key": key, "data": json.loads(d)}
            for v, k, o, key, d in rows
        ]
        version = changes[-1]["version"] if changes else max(since, 0)
        return {"version": version, "latest": latest, "changes": changes,
                "more": version < latest}

    # -- idempotent deliveries ----------------------------------------------------------------

    def replay(self, key: str, request_hash: str) -> dict[str, Any] | None | str:
        """The stored answer for ``key`` (and count the repeat); "mismatch" if the key was used
        for another request; None if new."""
        with self._lock:
            row = self._db.execute(
                "SELECT request_hash, response FROM delivery WHERE key=?", (key,)
            ).fetchone()
            if row is None:
                return None
            if row[0] != request_hash:
                return "mismatch"
            self._db.execute(
                "UPDATE delivery SET count = count + 1, last_at=? WHERE key=?", (time.time(), key)
            )
            return json.loads(row[1])

    def remember(self, key: str, request_hash: str, check_id: str,
                 response: dict[str, Any]) -> dict[str, Any]:
        """Store the first answer for ``key``; if another request stored one first, use that."""
        now = time.time()
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO delivery VALUES (?,?,?,?,1,?,?)",
                (key, request_hash, check_id, json.dumps(response), now, now),
            )
            if cur.rowcount == 1:
                return response
            self._db.execute("UPDATE delivery SET count = count + 1 WHERE key=?", (key,))
            row = self._db.execute("SELECT response FROM delivery WHERE key=?", (key,)).fetchone()
            return json.loads(row[0])

    def deliveries(self) -> dict[str, int]:
        with self._lock:
            unique, received = self._db.execute(
                "SELECT COUNT(*), COALESCE(SUM(count), 0) FROM delivery"
            ).fetchone()
            over = self._db.execute(
                "SELECT COUNT(*) FROM delivery WHERE count > 1"
            ).fetchone()[0]
        return {"received": int(received), "unique": int(unique),
                "duplicates": int(received) - int(unique), "keys_seen_twice_or_more": int(over)}

    def reset_deliveries(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM delivery")

    def close(self) -> None:
        with self._lock:
            self._db.close()


def request_hash(body: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()
