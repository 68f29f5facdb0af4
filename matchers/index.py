"""In-memory watchlist indexes: built once, searched many times.

Both indexes hold templates keyed by a ``template_id`` and belonging to a ``subject_id`` (several
templates per subject: photos, impressions, fingers). ``search`` returns at most ``k`` ``Match``
objects, one per subject (its best template), best first.

Thread-safety: ``add``/``remove`` and ``search`` take one lock, so a search sees either the state
before or after a change; searches are short (vectorised) so contention is low.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import nbis
import numpy as np

from matchers import iso19794, params
from matchers.templates import FingerprintTemplate, normalise_embedding


@dataclass(frozen=True)
class Match:
    """One candidate subject. ``score`` is the matcher's raw score (higher is more similar)."""

    subject_id: str
    template_id: str
    score: float
    position: int = 0


class _Rows:
    """Growable row storage with tombstones, shared by both indexes."""

    def __init__(self, width: int, dtype: type) -> None:
        self.data = np.zeros((64, width), dtype=dtype)
        self.alive = np.zeros(64, dtype=bool)
        self.count = 0
        self.template_ids: list[str] = []
        self.subject_ids: list[str] = []
        self.row_of: dict[str, int] = {}

    def append(self, template_id: str, subject_id: str, row: np.ndarray) -> int:
        if template_id in self.row_of:
            self.remove(template_id)
        if self.count == len(self.data):
            grow = len(self.data) * 2
            self.data = np.resize(self.data, (grow, self.data.shape[1]))
            self.data[self.count:] = 0
            alive = np.zeros(grow, dtype=bool)
            alive[: self.count] = self.alive[: self.count]
            self.alive = alive
        i = self.count
        self.data[i] = row
        self.alive[i] = True
        self.template_ids.append(template_id)
        self.subject_ids.append(subject_id)
        self.row_of[template_id] = i
        self.count += 1
        return i

    def remove(self, template_id: str) -> bool:
        i = self.row_of.pop(template_id, None)
        if i is None:
            return False
        self.alive[i] = False
        self.data[i] = 0
        return True

    def rows_of_subject(self, subject_id: str) -> list[str]:
        return [t for t, i in self.row_of.items() if self.subject_ids[i] == subject_id]

    def __len__(self) -> int:
        return len(self.row_of)


def _best_per_subject(rows: _Rows, order: np.ndarray, scores: np.ndarray, k: int) -> list[Match]:
    seen: set[str] = set()
    out: list[Match] = []
    for i in order:
        subject = rows.subject_ids[i]
        if subject in seen:
            continue
        seen.add(subject)
        out.append(Match(subject, rows.template_ids[i], float(scores[i])))
        if len(out) == k:
            break
    return out


class FaceIndex:
    """Unit-normalised float32 embeddings in one contiguous matrix; score = cosine similarity.

    ``search`` costs one matrix-vector product over the gallery (about 2 ms per 100k on 2 cores)
    plus an argpartition; ``search_batch`` does several probes in one matrix product.
    """

    def __init__(self) -> None:
        self._rows = _Rows(params.FACE_EMBEDDING_DIM, np.float32)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._rows)

    def add(self, template_id: str, subject_id: str, embedding: np.ndarray) -> None:
        vector = normalise_embedding(embedding)
        with self._lock:
            self._rows.append(template_id, subject_id, vector)

    def remove(self, template_id: str) -> bool:
        with self._lock:
            return self._rows.remove(template_id)

    def remove_subject(self, subject_id: str) -> int:
        with self._lock:
            ids = self._rows.rows_of_subject(subject_id)
            for t in ids:
                self._rows.remove(t)
            return len(ids)

    def search(self, probe: np.ndarray, k: int = 10) -> list[Match]:
        return self.search_batch(np.asarray(probe)[None, :], k)[0]

    def search_batch(self, probes: np.ndarray, k: int = 10) -> list[list[Match]]:
        queries = np.stack([normalise_embedding(p) for p in np.asarray(probes)])
        with self._lock:
            n = self._rows.count
            if n == 0 or k <= 0:
                return [[] for _ in queries]
            scores = queries @ self._rows.data[:n].T  # (m, n)
            scores[:, ~self._rows.alive[:n]] = -np.inf
            results = []
            # Several templates may belong to one subject: take enough rows to fill k subjects.
            take = min(n, k * 4)
            for row in scores:
                top = np.argpartition(-row, take - 1)[:take] if take < n else np.arange(n)
                order = top[np.argsort(-row[top], kind="stable")]
                order = order[np.isfinite(row[order])]
                results.append(_best_per_subject(self._rows, order, row, k))
            return results


def _pair_histogram(minutiae: np.ndarray) -> np.ndarray:
    """Rotation- and translation-invariant histogram of minutia-pair features, L2-normalised.

    For each ordered pair (i, j) closer than PAIR_MAX_DIST: the distance, and the directions of
    i and j relative to the line i->j, quantised and counted.
    """
    nd = int(params.PAIR_MAX_DIST // params.PAIR_DIST_STEP)
    na = params.PAIR_ANGLE_BINS
    hist = np.zeros(nd * na * na, dtype=np.float32)
    m = np.asarray(minutiae, dtype=np.float32)
    if len(m) > params.PAIR_MAX_MINUTIAE:
        m = m[np.argsort(-m[:, 3], kind="stable")[: params.PAIR_MAX_MINUTIAE]]
    if len(m) < 2:
        return hist
    dx = m[None, :, 0] - m[:, None, 0]
    dy = m[None, :, 1] - m[:, None, 1]
    dist = np.hypot(dx, dy)
    phi = np.arctan2(dy, dx)
    two_pi = 2 * np.pi
    alpha = (m[:, None, 2] - phi) % two_pi
    beta = (m[None, :, 2] - phi) % two_pi
    mask = (dist > 0) & (dist < params.PAIR_MAX_DIST)
    di = (dist[mask] // params.PAIR_DIST_STEP).astype(np.int64)
    ai = (alpha[mask] / two_pi * na).astype(np.int64) % na
    bi = (beta[mask] / two_pi * na).astype(np.int64) % na
    np.add.at(hist, (di * na + ai) * na + bi, 1.0)
    norm = float(np.linalg.norm(hist))
    return hist / norm if norm > 0 else hist


class FingerprintIndex:
    """First fingerprint 1:N search: vectorised pair-histogram shortlist, bozorth3 on the last few.

    Cost: one (n x 2,048) float32 matrix-vector product per probe finger (about 20 ms per 100k
    templates) plus ``FINGER_SHORTLIST`` bozorth3 comparisons (about 0.5 ms each here). Position
    aware: a probe at position p searches templates at p and at 0 (unknown); p = 0 searches all.
    ``score`` is the bozorth3 score (NBIS: about 40 is a usual match threshold).
    """

    def __init__(self) -> None:
        nd = int(params.PAIR_MAX_DIST // params.PAIR_DIST_STEP)
        self._rows = _Rows(nd * params.PAIR_ANGLE_BINS**2, np.float32)
        self._positions = np.zeros(64, dtype=np.int8)
        self._nbis: dict[str, nbis.Minutiae] = {}
        self._lock = threading.Lock()
        self._extractor = nbis.new_nbis_extractor(
            nbis.NbisExtractorSettings(
                min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False,
                ppi=None,
            )
        )

    def __len__(self) -> int:
        return len(self._rows)

    def _nbis_minutiae(self, template: FingerprintTemplate) -> nbis.Minutiae:
        record = iso19794.to_nbis(template.minutiae, width=template.width, height=template.height)
        return self._extractor.load_iso_19794_2_2005(record)

    def add(self, template_id: str, subject_id: str, template: FingerprintTemplate) -> None:
        hist = _pair_histogram(template.minutiae)
        native = self._nbis_minutiae(template)
        with self._lock:
            i = self._rows.append(template_id, subject_id, hist)
            if len(self._positions) < len(self._rows.data):
                grown = np.zeros(len(self._rows.data), dtype=np.int8)
                grown[: len(self._positions)] = self._positions
                self._positions = grown
            self._positions[i] = template.position
            self._nbis[template_id] = native

    def remove(self, template_id: str) -> bool:
        with self._lock:
            self._nbis.pop(template_id, None)
            return self._rows.remove(template_id)

    def remove_subject(self, subject_id: str) -> int:
        with self._lock:
            ids = self._rows.rows_of_subject(subject_id)
            for t in ids:
                self._rows.remove(t)
                self._nbis.pop(t, None)
            return len(ids)

    def search(self, probe: FingerprintTemplate, k: int = 10) -> list[Match]:
        if len(probe.minutiae) < 2:
            return []
        hist = _pair_histogram(probe.minutiae)
        native = self._nbis_minutiae(probe)
        with self._lock:
            n = self._rows.count
            if n == 0:
                return []
            pre = self._rows.data[:n] @ hist
            usable = self._rows.alive[:n].copy()
            if probe.position:
                pos = self._positions[:n]
                usable &= (pos == probe.position) | (pos == 0)
            pre[~usable] = -np.inf
            take = min(int(usable.sum()), params.FINGER_SHORTLIST)
            if take == 0:
                return []
            short = np.argpartition(-pre, take - 1)[:take] if take < n else np.flatnonzero(usable)
            short = short[np.isfinite(pre[short])]
            scored = {
                int(i): float(native.compare(self._nbis[self._rows.template_ids[i]]))
                for i in short
            }
            positions = {i: int(self._positions[i]) for i in scored}
            rows = self._rows
        scores = np.full(n, -np.inf)
        for i, s in scored.items():
            scores[i] = s
        order = np.array(sorted(scored, key=lambda i: -scored[i]), dtype=np.int64)
        matches = _best_per_subject(rows, order, scores, k)
        return [
            Match(m.subject_id, m.template_id, m.score, positions[rows.row_of[m.template_id]])
            for m in matches
            if m.template_id in rows.row_of
        ]
