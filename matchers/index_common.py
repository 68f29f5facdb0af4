"""Pieces shared by the face and fingerprint indexes: the Match type, id bookkeeping, growth."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Match:
    """One candidate subject. ``score`` is the matcher's raw score (higher is more similar):
    cosine similarity for faces, MCC LSS-R similarity in [0, 1] for fingerprints. Turn it into
    evidence with ``calibration.FACE`` / ``calibration.FINGER``."""

    subject_id: str
    template_id: str
    score: float
    position: int = 0


class GrowableIds:
    """Row <-> (template id, subject id) bookkeeping with tombstones (rows are never reused)."""

    def __init__(self) -> None:
        self.template_ids: list[str] = []
        self.subject_ids: list[str] = []
        self.row_of: dict[str, int] = {}
        self.rows_of_subject: dict[str, set[int]] = {}

    @classmethod
    def from_lists(cls, template_ids: list[str], subject_ids: list[str]) -> GrowableIds:
        ids = cls()
        ids.template_ids = list(template_ids)
        ids.subject_ids = list(subject_ids)
        ids.row_of = {t: i for i, t in enumerate(ids.template_ids)}
        for i, s in enumerate(ids.subject_ids):
            ids.rows_of_subject.setdefault(s, set()).add(i)
        return ids

    @property
    def count(self) -> int:
        """Rows used so far (live and removed)."""
        return len(self.template_ids)

    def append(self, template_id: str, subject_id: str) -> int:
        row = len(self.template_ids)
        self.template_ids.append(template_id)
        self.subject_ids.append(subject_id)
        self.row_of[template_id] = row
        self.rows_of_subject.setdefault(subject_id, set()).add(row)
        return row

    def pop(self, template_id: str) -> int | None:
        row = self.row_of.pop(template_id, None)
        if row is not None:
            rows = self.rows_of_subject.get(self.subject_ids[row])
            if rows is not None:
                rows.discard(row)
                if not rows:
                    del self.rows_of_subject[self.subject_ids[row]]
        return row

    def templates_of(self, subject_id: str) -> list[str]:
        return [self.template_ids[i] for i in sorted(self.rows_of_subject.get(subject_id, ()))]

    def __len__(self) -> int:
        return len(self.row_of)


class TombstoneRemoval:
    """``remove`` / ``remove_subject`` shared by both indexes: a removed template's row is marked
    dead in ``_alive`` (no rebuild) and its ids are forgotten. The index class provides
    ``_ids``, ``_alive`` and ``_lock``; rows used so far minus live ids = tombstones."""

    _ids: GrowableIds
    _alive: np.ndarray
    _lock: threading.Lock

    @property
    def _dead(self) -> int:
        """Tombstoned rows (rows used so far minus live templates)."""
        return self._ids.count - len(self._ids)

    def _remove_locked(self, template_id: str) -> bool:
        row = self._ids.pop(template_id)
        if row is None:
            return False
        self._alive[row] = False
        return True

    def template_ids_of(self, subject_id: str) -> list[str]:
        """The live template ids of one subject (in the order they were added)."""
        with self._lock:
            return self._ids.templates_of(subject_id)

    def remove(self, template_id: str) -> bool:
        """Remove one template; False when it is not in the index."""
        with self._lock:
            return self._remove_locked(template_id)

    def remove_subject(self, subject_id: str) -> int:
        """Remove every template of a subject; returns how many were removed."""
        with self._lock:
            ids = self._ids.templates_of(subject_id)
            for t in ids:
                self._remove_locked(t)
            return len(ids)


def ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Concatenated ``arange(start, start + count)`` for every pair, as one int64 array."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    first = np.cumsum(counts) - counts
    return np.repeat(np.asarray(starts, dtype=np.int64) - first, counts) + np.arange(total)


def grow(array: np.ndarray, need: int) -> np.ndarray:
    """``array`` if it holds ``need`` rows, else a writable copy with doubled capacity.

    A memory-mapped (read-only) array is copied into RAM on its first growth.
    """
    if len(array) >= need:
        return array
    capacity = max(need, 2 * len(array), 64)
    out = np.zeros((capacity, *array.shape[1:]), dtype=array.dtype)
    out[: len(array)] = array
    return out


def best_per_subject(
    order: np.ndarray,
    scores: np.ndarray,
    template_ids: Sequence[str],
    subject_ids: Sequence[str],
    positions: np.ndarray | None,
    k: int,
) -> list[Match]:
    """Walk candidates best first, keep each subject's best template, stop at ``k`` subjects."""
    seen: set[str] = set()
    out: list[Match] = []
    for i in order:
        subject = subject_ids[i]
        if subject in seen or not np.isfinite(scores[i]):
            continue
        seen.add(subject)
        pos = int(positions[i]) if positions is not None else 0
        out.append(Match(subject, template_ids[i], float(scores[i]), pos))
        if len(out) == k:
            break
    return out
