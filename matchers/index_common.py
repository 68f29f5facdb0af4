"""Pieces shared by the face and fingerprint indexes: the Match type, id bookkeeping, growth."""

from __future__ import annotations

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
