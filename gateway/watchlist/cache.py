"""The watchlist cached in memory: the face and fingerprint indexes plus what a check shows.

Loaded at start from the database, then kept current by ``sync``, which replays the change log
(``WatchlistChange``) since the cached version: every write path calls it after committing, and a
background thread calls it every few seconds so gateways sharing one PostgreSQL database see each
other's enrolments. Only subjects this gateway may see (sharing restrictions) are ever loaded, so
a restricted subject can never be searched, returned or exported here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlalchemy import func
from sqlmodel import Session, col, select

from gateway.watchlist.models import BiometricTemplate, Subject, WatchlistChange, current_model
from gateway.watchlist.sharing import visible_clause, visible_to
from matchers.index import FaceIndex, FingerprintIndex
from matchers.templates import FaceTemplate, FingerprintTemplate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SubjectCard:
    """What a check answer shows about a candidate."""

    id: str
    name: str
    category: str
    handling_instructions: str | None
    expires_at: datetime | None

    def expired(self, now: datetime) -> bool:
        if self.expires_at is None:
            return False
        expires = self.expires_at
        if expires.tzinfo is None:
            expires = expires.replace(tzinfo=UTC)
        return expires <= now


class WatchlistCache:
    def __init__(self, country: str) -> None:
        self.country = country
        self.faces = FaceIndex(model=current_model("face"))
        self.fingers = FingerprintIndex()
        self.subjects: dict[str, SubjectCard] = {}
        self.version = 0
        self.saved_version = -1
        self.loaded = False
        # Template rows that could not be indexed (corrupt data): counted so the saved cache's
        # template count can be checked against the database's.
        self.unreadable: set[str] = set()
        self._sync_lock = threading.Lock()
        # Templates made by another model than this gateway's extractors (e.g. dlib faces stored
        # before the SFace matcher): never searched, counted for re-enrolment.
        # subject id -> {template id: modality}
        self._stale: dict[str, dict[str, str]] = {}
        self._stale_count = {"face": 0, "finger": 0}
        self._models = {m: current_model(m) for m in ("face", "finger")}

    def counts(self) -> dict[str, int]:
        return {
            "subjects": len(self.subjects),
            "faces": len(self.faces),
            "fingerprints": len(self.fingers),
        }

    def needs_reenrolment(self) -> dict[str, int]:
        """Templates left out of search because another model made them."""
        return {"faces": self._stale_count["face"],
                "fingerprints": self._stale_count["finger"]}

    def _current(self, tpl: BiometricTemplate) -> bool:
        """True when this gateway's extractor made ``tpl``; else it is recorded as stale."""
        if tpl.model == self._models.get(tpl.modality):
            return True
        self._stale.setdefault(tpl.subject_id, {})[tpl.id] = tpl.modality
        self._stale_count[tpl.modality] = self._stale_count.get(tpl.modality, 0) + 1
        return False

    def _forget_stale(self, subject_id: str) -> None:
        for modality in self._stale.pop(subject_id, {}).values():
            self._stale_count[modality] -= 1

    def _log_stale(self) -> None:
        stale = self.needs_reenrolment()
        if any(stale.values()):
            log.warning(
                "%s face and %s fingerprint templates were made by another model than this "
                "gateway's (%s, %s) and are not searched: re-enrol them (fieldcheck watchlist "
                "status lists the counts)", stale["faces"], stale["fingerprints"],
                self._models["face"], self._models["finger"],
            )

    def card(self, subject_id: str) -> SubjectCard | None:
        return self.subjects.get(subject_id)

    def load(self, session: Session) -> None:
        """Load every visible subject and its templates (start-up)."""
        with self._sync_lock:
            version = session.exec(select(func.max(WatchlistChange.version))).one() or 0
            subjects = {s.id: s for s in session.exec(select(Subject))}
            self._stale, self._stale_count = {}, {"face": 0, "finger": 0}
            for subject in subjects.values():
                if visible_to(subject, self.country):
                    self.subjects[subject.id] = _card(subject)
            face_ids: list[str] = []
            face_subjects: list[str] = []
            face_rows: list[bytes] = []
            for tpl in session.exec(select(BiometricTemplate)):
                if tpl.subject_id not in self.subjects or not self._current(tpl):
                    continue
                if tpl.modality == "face" and len(tpl.data) == 4 * 128:
                    # Faces go in one vectorised bulk add (a million rows in seconds).
                    face_ids.append(tpl.id)
                    face_subjects.append(tpl.subject_id)
                    face_rows.append(tpl.data)
                else:
                    self._add_template(tpl)
            if face_rows:
                matrix = np.frombuffer(b"".join(face_rows), dtype="<f4").reshape(-1, 128)
                usable = np.isfinite(matrix).all(axis=1) & (np.linalg.norm(matrix, axis=1) > 1e-6)
                keep = np.flatnonzero(usable)
                if len(keep) < len(face_rows):
                    log.error("skipping %d unreadable face templates", len(face_rows) - len(keep))
                    self.unreadable.update(face_ids[i] for i in np.flatnonzero(~usable))
                self.faces.add_many([face_ids[i] for i in keep], [face_subjects[i] for i in keep],
                                    matrix[keep])
            self.version = int(version)
            self.loaded = True
            log.info("watchlist cache loaded: version %s, %s", self.version, self.counts())
            self._log_stale()

    def sync(self, session: Session) -> int:
        """Apply changes committed since the cached version; returns how many subjects changed."""
        with self._sync_lock:
            changes = list(
                session.exec(
                    select(WatchlistChange)
                    .where(col(WatchlistChange.version) > self.version)
                    .order_by(col(WatchlistChange.version))
                )
            )
            if not changes:
                return 0
            touched = list(dict.fromkeys(c.subject_id for c in changes))
            for subject_id in touched:
                self._reload_subject(session, subject_id)
            self.version = int(changes[-1].version or self.version)
            return len(touched)

    # --- persistence: start in seconds with a million templates ---------------------------
    # The indexes are saved (memory-mappable .npy + manifests) with the watchlist version they
    # reflect; a start loads the newest snapshot and replays the change log after it. The change
    # log is the source of truth, so a stale or missing snapshot only costs start-up time.

    def save(self, directory: Path, *, database_key: str) -> None:
        """Write the cache to ``directory`` atomically: a new folder, every file fsynced and
        listed with its SHA-256 in ``meta.json`` (written last), then swapped in by rename."""
        with self._sync_lock:
            tmp = directory.with_name(directory.name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            self.faces.save(tmp / "faces")
            self.fingers.save(tmp / "fingers")
            cards = [
                {**asdict(c), "expires_at": c.expires_at.isoformat() if c.expires_at else None}
                for c in self.subjects.values()
            ]
            (tmp / "subjects.json").write_text(json.dumps(cards))
            (tmp / "stale.json").write_text(json.dumps(self._stale))
            meta = {"version": self.version, "country": self.country,
                    "database": database_key, "saved_at": time.time(), "models": self._models,
                    "counts": self.counts(), "unreadable": sorted(self.unreadable),
                    "files": {str(f.relative_to(tmp)): _sha256(f)
                              for f in sorted(tmp.rglob("*")) if f.is_file()}}
            (tmp / "meta.json").write_text(json.dumps(meta))
            _fsync_tree(tmp)
            old = directory.with_name(directory.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if directory.exists():
                directory.rename(old)
            tmp.rename(directory)
            _fsync_dir(directory.parent)
            shutil.rmtree(old, ignore_errors=True)
            self.saved_version = self.version

    def load_saved(self, session: Session, directory: Path, *, database_key: str) -> bool:
        """Load a saved cache and replay newer changes; False (cache left empty) if unusable.

        Unusable: another database or country, a file missing, added or altered (checksums),
        a card that does not parse, or counts that disagree with the database after the
        replay. A rebuild only costs start-up time; a cache that lost subjects would answer
        "no hit" for them, so it is never kept.
        """
        try:
            meta = json.loads((directory / "meta.json").read_text())
        except (OSError, ValueError):
            return False
        db_version = int(session.exec(select(func.max(WatchlistChange.version))).one() or 0)
        if (
            not isinstance(meta, dict)
            or meta.get("country") != self.country
            or meta.get("database") != database_key
            or int(meta.get("version", -1)) > db_version
            # Embeddings of another model must never be mixed into this one's index.
            or meta.get("models") != self._models
        ):
            log.info("saved watchlist cache at %s does not fit this database: rebuilding",
                     directory)
            return False
        problem = _verify_files(directory, meta.get("files"))
        if problem:
            log.warning("saved watchlist cache at %s failed its checksums (%s): rebuilding",
                        directory, problem)
            return False
        try:
            faces = FaceIndex.load(directory / "faces", mmap=True)
            fingers = FingerprintIndex.load(directory / "fingers", mmap=True)
            stale = {str(k): {str(t): str(m) for t, m in v.items()} for k, v in
                     json.loads((directory / "stale.json").read_text()).items()}
            if faces.model != self._models["face"]:
                raise ValueError(f"face index of model {faces.model!r}")
            cards = {
                c["id"]: SubjectCard(
                    id=str(c["id"]), name=str(c["name"]), category=str(c["category"]),
                    handling_instructions=c["handling_instructions"],
                    expires_at=(
                        datetime.fromisoformat(c["expires_at"]) if c["expires_at"] else None
                    ),
                )
                for c in json.loads((directory / "subjects.json").read_text())
            }
            version = int(meta["version"])
            unreadable = {str(t) for t in meta.get("unreadable", [])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            log.warning("saved watchlist cache unusable (%r): rebuilding", exc)
            return False
        with self._sync_lock:
            self.faces, self.fingers, self.subjects = faces, fingers, cards
            self.version = version
            self.saved_version = self.version
            self.unreadable = unreadable
            self._stale = stale
            self._stale_count = {"face": 0, "finger": 0}
            for templates in self._stale.values():
                for modality in templates.values():
                    self._stale_count[modality] = self._stale_count.get(modality, 0) + 1
        replayed = self.sync(session)
        mismatch = self._count_mismatch(session)
        if mismatch:
            log.warning("saved watchlist cache at %s disagrees with the database (%s): "
                        "rebuilding", directory, mismatch)
            self._reset()
            return False
        self.loaded = True
        log.info("watchlist cache loaded from %s (version %s, %s subjects replayed): %s",
                 directory, self.version, replayed, self.counts())
        self._log_stale()
        return True

    def _count_mismatch(self, session: Session) -> str | None:
        """What differs between the cache and the visible rows of the database, if anything."""
        visible = set(session.exec(select(Subject.id).where(visible_clause(self.country))))
        if len(visible) != len(self.subjects) or not visible.issuperset(self.subjects):
            return f"{len(self.subjects)} subjects cached, {len(visible)} in the database"
        templates = 0
        for subject_id, n in session.exec(
            select(BiometricTemplate.subject_id, func.count())
            .group_by(BiometricTemplate.subject_id)
        ):
            templates += n if subject_id in visible else 0
        # Templates of another model are held aside (stale), not indexed: they count as present.
        cached = (len(self.faces) + len(self.fingers) + len(self.unreadable)
                  + sum(len(t) for t in self._stale.values()))
        if cached != templates:
            return (f"{cached} templates cached (unreadable and other-model included), "
                    f"{templates} in the database")
        return None

    def _reset(self) -> None:
        with self._sync_lock:
            self.faces, self.fingers, self.subjects = FaceIndex(), FingerprintIndex(), {}
            self.version, self.saved_version, self.unreadable = 0, -1, set()
            self._stale, self._stale_count = {}, {"face": 0, "finger": 0}
            self.loaded = False

    def _reload_subject(self, session: Session, subject_id: str) -> None:
        """Bring one subject up to date without a moment where a search could miss it.

        The database is read first; then new templates are added before removed ones go.
        Templates never change under one id (they are only added and deleted), so templates
        that stay are left in place.
        """
        subject = session.get(Subject, subject_id)
        self._forget_stale(subject_id)
        if subject is None or not visible_to(subject, self.country):
            self.faces.remove_subject(subject_id)
            self.fingers.remove_subject(subject_id)
            self.subjects.pop(subject_id, None)
            return
        query = select(BiometricTemplate).where(BiometricTemplate.subject_id == subject_id)
        templates = [tpl for tpl in session.exec(query) if self._current(tpl)]
        self.subjects[subject_id] = _card(subject)
        current = set(self.faces.template_ids_of(subject_id)) | set(
            self.fingers.template_ids_of(subject_id)
        )
        for tpl in templates:
            if tpl.id not in current:
                self._add_template(tpl)
        wanted = {tpl.id for tpl in templates}
        for template_id in current - wanted:
            self.faces.remove(template_id) or self.fingers.remove(template_id)

    def _add_template(self, tpl: BiometricTemplate) -> None:
        try:
            if tpl.modality == "face":
                self.faces.add(tpl.id, tpl.subject_id, FaceTemplate.from_bytes(tpl.data).embedding)
            elif tpl.modality == "finger":
                template = FingerprintTemplate.from_iso(tpl.data)
                template.position = tpl.position
                self.fingers.add(tpl.id, tpl.subject_id, template)
        except Exception:  # a corrupt row must not stop the gateway from starting
            log.exception("skipping unreadable template %s of subject %s", tpl.id, tpl.subject_id)
            self.unreadable.add(tpl.id)


def _card(subject: Subject) -> SubjectCard:
    return SubjectCard(
        id=subject.id, name=subject.name, category=subject.category,
        handling_instructions=subject.handling_instructions, expires_at=subject.expires_at,
    )


def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def _verify_files(directory: Path, listed: object) -> str | None:
    """None when exactly the listed files are present with their checksums; else what is off."""
    if not isinstance(listed, dict) or not listed:
        return "no checksums recorded"
    present = {str(f.relative_to(directory)) for f in directory.rglob("*") if f.is_file()}
    present.discard("meta.json")
    if present != set(listed):
        return f"files differ: {sorted(present ^ set(listed))[:5]}"
    for name, digest in listed.items():
        if _sha256(directory / name) != digest:
            return f"{name} altered"
    return None


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_tree(root: Path) -> None:
    """Flush every file and folder under ``root`` to disk before it is renamed into place."""
    for path in sorted(root.rglob("*"), key=lambda p: -len(p.parts)):
        if path.is_file():
            with path.open("rb") as fh:
                os.fsync(fh.fileno())
        else:
            _fsync_dir(path)
    _fsync_dir(root)


def database_key(url: str) -> str:
    """A stable fingerprint of the database a saved cache belongs to (no secrets stored)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]
