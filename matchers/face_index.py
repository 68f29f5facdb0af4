"""Face 1:N index: unit float32 embeddings in one contiguous (memory-mappable) matrix.

``Match.score`` is the cosine similarity (``calibration.FACE`` gives its false-match rate).

A search is memory-bound: it reads the matrix once. It walks the matrix in blocks of
``FACE_SEARCH_BLOCK`` rows; each block is one BLAS product (all probes of a batch at once) and
only rows scoring at least the current k-th best (a running threshold) are kept, so top-k costs
a comparison over cache-resident scores instead of an argpartition over N. Several photos of
one subject are separate rows; results keep each subject's best row.

Thread-safety: one lock around mutation and search. Removal is a tombstone; ``save`` writes live
rows only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from matchers import params
from matchers.errors import TemplateError
from matchers.index_common import GrowableIds, Match, TombstoneRemoval, best_per_subject, grow
from matchers.templates import normalise_embedding

FORMAT_VERSION = 1


class FaceIndex(TombstoneRemoval):
    """Face embeddings of the watchlist; ``search`` costs one pass over the matrix."""

    def __init__(self, model: str = "") -> None:
        # The model whose embeddings these are (matchers.face.MODEL_ID), saved in the manifest so
        # a saved index of another model is recognised and not mixed into this one.
        self.model = model
        self._ids = GrowableIds()
        self._matrix = np.zeros((0, params.FACE_EMBEDDING_DIM), dtype=np.float32)
        self._alive = np.zeros(0, dtype=bool)
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, template_id: str, subject_id: str, embedding: np.ndarray) -> None:
        """Add (or replace) one photo's embedding. Raises TemplateError on NaN/wrong length."""
        vector = normalise_embedding(embedding)
        with self._lock:
            if template_id in self._ids.row_of:
                self._remove_locked(template_id)
            row = self._ids.count
            self._matrix = grow(self._matrix, row + 1)
            self._alive = grow(self._alive, row + 1)
            self._matrix[row] = vector
            self._alive[row] = True
            self._ids.append(template_id, subject_id)

    def add_many(
        self, template_ids: list[str], subject_ids: list[str], embeddings: np.ndarray
    ) -> None:
        """Bulk add of already unit-normalised rows (benchmarks, rebuilds from a database)."""
        emb = np.asarray(embeddings, dtype=np.float32).reshape(-1, params.FACE_EMBEDDING_DIM)
        if not np.all(np.isfinite(emb)):
            raise TemplateError("embeddings contain NaN or infinite values")
        emb = emb / np.maximum(np.linalg.norm(emb, axis=1, keepdims=True), 1e-12)
        with self._lock:
            for t in template_ids:
                if t in self._ids.row_of:
                    self._remove_locked(t)
            start = self._ids.count
            self._matrix = grow(self._matrix, start + len(emb))
            self._alive = grow(self._alive, start + len(emb))
            self._matrix[start : start + len(emb)] = emb
            self._alive[start : start + len(emb)] = True
            for t, s in zip(template_ids, subject_ids, strict=True):
                self._ids.append(t, s)

    def search(self, probe: np.ndarray, k: int = 10) -> list[Match]:
        """Best ``k`` subjects for one embedding; ``[]`` for NaN/wrong-length/zero probes."""
        return self.search_batch(np.asarray(probe, dtype=np.float32).reshape(1, -1), k)[0]

    def search_batch(self, probes: np.ndarray, k: int = 10) -> list[list[Match]]:
        """One result list per probe; invalid probes get ``[]``. One pass over the matrix."""
        rows = np.asarray(probes, dtype=np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        m = len(rows)
        if rows.ndim != 2 or rows.shape[1] != params.FACE_EMBEDDING_DIM:
            return [[] for _ in range(m)]
        ok = np.all(np.isfinite(rows), axis=1)
        norms = np.linalg.norm(np.where(ok[:, None], rows, 0), axis=1)
        ok &= norms > 1e-6
        results: list[list[Match]] = [[] for _ in range(m)]
        if not ok.any() or k <= 0:
            return results
        queries = np.ascontiguousarray((rows[ok] / norms[ok, None]).T)  # (dim, m_ok)
        with self._lock:
            n = self._ids.count
            if n == 0 or len(self._ids) == 0:
                return results
            # Several rows may belong to one subject: keep enough rows to fill k subjects.
            take = min(n, k * params.FACE_ROWS_PER_SUBJECT_HINT)
            cand_rows, cand_scores = self._top_rows(queries, n, take)
            template_ids, subject_ids = self._ids.template_ids, self._ids.subject_ids
            out_iter = iter(np.flatnonzero(ok))
            for j in range(queries.shape[1]):
                order = np.argsort(-cand_scores[j], kind="stable")
                rows_j = cand_rows[j][order]
                scores_j = cand_scores[j][order]
                matches = best_per_subject(
                    np.arange(len(rows_j)),
                    scores_j,
                    [template_ids[r] for r in rows_j],
                    [subject_ids[r] for r in rows_j],
                    None,
                    k,
                )
                results[int(next(out_iter))] = matches
        return results

    def _top_rows(
        self, queries: np.ndarray, n: int, take: int
    ) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Rows and scores of each probe's ``take`` best live rows (unordered).

        One BLAS product per block of rows (the whole matrix for a few probes, smaller blocks for
        big batches to bound the score buffer). Top-k without an argpartition over N: the
        ``take``-th best of a 64k-row prefix is a lower bound of the final threshold, so one
        comparison pass leaves a few hundred rows to rank.
        """
        m = queries.shape[1]
        probes = np.ascontiguousarray(queries.T)  # (m, dim)
        block = max(params.FACE_SEARCH_BLOCK, params.FACE_SCORE_BUFFER // m)
        thresholds = np.full(m, -np.inf, dtype=np.float32)
        kept_rows: list[list[np.ndarray]] = [[] for _ in range(m)]
        kept_scores: list[list[np.ndarray]] = [[] for _ in range(m)]
        for start in range(0, n, block):
            stop = min(n, start + block)
            scores = probes @ self._matrix[start:stop].T  # (m, rows): each probe's row contiguous
            if self._dead:
                scores[:, ~self._alive[start:stop]] = -np.inf
            for j in range(m):
                row = scores[j]
                if not np.isfinite(thresholds[j]):
                    prefix = row[: params.FACE_SEARCH_BLOCK]
                    if len(prefix) > take:
                        thresholds[j] = np.partition(prefix, len(prefix) - take)[len(prefix) - take]
                hit = np.flatnonzero(row >= thresholds[j])
                if len(hit):
                    kept_rows[j].append(hit + start)
                    kept_scores[j].append(row[hit])
        out_rows, out_scores = [], []
        for j in range(m):
            r = np.concatenate(kept_rows[j]) if kept_rows[j] else np.zeros(0, np.int64)
            sc = np.concatenate(kept_scores[j]) if kept_scores[j] else np.zeros(0, np.float32)
            finite = np.isfinite(sc)
            r, sc = r[finite], sc[finite]
            if len(sc) > take:
                top = np.argpartition(-sc, take - 1)[:take]
                r, sc = r[top], sc[top]
            out_rows.append(r)
            out_scores.append(sc)
        return out_rows, out_scores

    def scan(self, probe: np.ndarray) -> np.ndarray:
        """Plain memory scan baseline: all scores by one BLAS product, no ranking."""
        with self._lock:
            return self._matrix[: self._ids.count] @ np.asarray(probe, dtype=np.float32)

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write live rows as ``embeddings.npy`` plus ``manifest.json`` (ids, version)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        with self._lock:
            n = self._ids.count
            live = np.flatnonzero(self._alive[:n])
            matrix = self._matrix[:n] if len(live) == n else self._matrix[live]
            manifest = {
                "kind": "fieldcheck-face-index",
                "version": FORMAT_VERSION,
                "dim": params.FACE_EMBEDDING_DIM,
                "model": self.model,
                "template_ids": [self._ids.template_ids[i] for i in live],
                "subject_ids": [self._ids.subject_ids[i] for i in live],
            }
            np.save(out / "embeddings.npy", np.ascontiguousarray(matrix, dtype=np.float32))
        tmp = out / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest))
        tmp.replace(out / "manifest.json")

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> FaceIndex:
        """Open a saved index; the matrix is memory-mapped read-only when ``mmap`` (a later
        ``add`` copies it into RAM once). Raises ValueError on another format version."""
        src = Path(directory)
        manifest = json.loads((src / "manifest.json").read_text())
        if (
            manifest.get("version") != FORMAT_VERSION
            or manifest.get("dim") != params.FACE_EMBEDDING_DIM
        ):
            raise ValueError(
                f"{src}: face index format {manifest.get('version')} is not "
                f"{FORMAT_VERSION}; rebuild it from the templates"
            )
        index = cls(model=str(manifest.get("model", "")))
        index._matrix = np.load(src / "embeddings.npy", mmap_mode="r" if mmap else None)
        if len(index._matrix) != len(manifest["template_ids"]):
            raise ValueError(f"{src}: manifest and embeddings.npy disagree on the row count")
        index._alive = np.ones(len(index._matrix), dtype=bool)
        index._ids = GrowableIds.from_lists(manifest["template_ids"], manifest["subject_ids"])
        return index
