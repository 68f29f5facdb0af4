"""Locality-sensitive hashing of MCC cylinders: the shortlist stage of ``FingerprintIndex``.

MCC indexing (Cappelli, Ferrara & Maltoni, "Fingerprint indexing based on Minutia
Cylinder-Code", IEEE TPAMI 2011) files gallery cylinders under hash keys and ranks templates by
how many keys they share with the probe. Their keys sample fixed bits of the cylinder; ours are
*sets of set bits*, because our cylinders (8 x 8 cells x 6 sections, 384 bits) are sparse: ~19
bits set on average (5th-95th percentile 5-39). Fixed-bit keys are then mostly all-zero or
driven by the cylinder's density (measured: with a minimum of set bits per key, sparse probes
get no key at all and the mate was in the top 300 of 20k for 48% of real probes).

A cylinder's keys (``CylinderSketch.keys``):

1. its set bits in a fixed pseudo-random priority order, the first ``cap`` of them kept (two
   cylinders that share many bits keep mostly the same ones);
2. every combination of ``order`` of those bits, hashed to 32 bits (the set, not the order);
3. the ``per_cylinder`` smallest hashes (a bottom-k sketch: a combination both cylinders hold
   is kept by both when its hash is small, whatever else they hold).

Two cylinders collide on a key with probability that grows with the cube of their shared bits
(order 3): impostor cylinders rarely share three bits, genuine ones do. A template's score is
the sum over the probe's keys of the gallery cylinders filed under it, each weighted by the
key's rarity (``log(templates / cylinders under the key)``: a key shared by half the gallery
says nothing).
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import dataclass

import numpy as np

from matchers import mcc

_CHUNK = 4096  # cylinders sketched at once (bounds the (chunk, combinations) temporaries)
EMPTY = np.uint32(0xFFFFFFFF)  # "no key" (a cylinder with fewer than ``order`` set bits)
_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)


@dataclass(frozen=True)
class CylinderSketch:
    """The keys of a cylinder: the ``per_cylinder`` smallest hashes of the ``order``-subsets of
    its first ``cap`` set bits (priority drawn once from ``seed``)."""

    order: int
    cap: int
    per_cylinder: int
    seed: int

    @functools.cached_property
    def _priority(self) -> np.ndarray:
        return np.random.default_rng(self.seed).permutation(mcc._N_BITS)

    @functools.cached_property
    def _combinations(self) -> np.ndarray:
        return np.array(list(itertools.combinations(range(self.cap), self.order)), np.int64)

    def keys(self, packed: np.ndarray) -> np.ndarray:
        """Keys of packed cylinders ``(c, WORDS)`` -> uint32 ``(c, per_cylinder)``, ``EMPTY``
        where a cylinder has fewer keys. Cost: ~0.1 ms per cylinder (order 3, cap 16)."""
        out = np.full((len(packed), self.per_cylinder), EMPTY, np.uint32)
        combos = self._combinations
        k = min(self.per_cylinder, len(combos))
        for start in range(0, len(packed), _CHUNK):
            bits = mcc.unpack(packed[start : start + _CHUNK]).astype(bool)[:, self._priority]
            c = len(bits)
            rank = np.cumsum(bits, axis=1)
            keep = bits & (rank <= self.cap)
            rows, cols = np.nonzero(keep)
            chosen = np.full((c, self.cap), -1, np.int64)
            chosen[rows, rank[rows, cols] - 1] = self._priority[cols]
            sel = chosen[:, combos]  # (c, combinations, order)
            ok = (sel >= 0).all(axis=2)
            sel.sort(axis=2)
            key = np.zeros(sel.shape[:2], np.uint64)
            for j in range(self.order):
                key *= np.uint64(mcc._N_BITS)
                key += sel[:, :, j].astype(np.uint64)
            key += np.uint64(1)
            key *= _MIX1
            key ^= key >> np.uint64(31)
            key *= _MIX2
            hashed = np.minimum(key >> np.uint64(32), np.uint64(EMPTY) - np.uint64(1))
            hashed = hashed.astype(np.uint32)
            hashed[~ok] = EMPTY
            out[start : start + c, :k] = np.partition(hashed, k - 1, axis=1)[:, :k]
        return out


class HashTables:
    """Gallery cylinders filed by key (``keys`` sorted, with the index row, i.e. template, of
    each in ``rows``), plus a *tail* of cylinders added since, compared directly. Memory:
    8 B per key (~16 keys per cylinder)."""

    def __init__(self, sketch: CylinderSketch) -> None:
        self.sketch = sketch
        self.keys = np.zeros(0, np.uint32)
        self.rows = np.zeros(0, np.int32)
        self.filed = 0  # cylinders in the sorted table (the tail excluded)
        self.tail_keys = np.zeros((0, sketch.per_cylinder), np.uint32)
        self.tail_rows = np.zeros(0, np.int32)
        self.tail_used = 0

    @classmethod
    def from_arrays(
        cls, sketch: CylinderSketch, keys: np.ndarray, rows: np.ndarray, filed: int
    ) -> HashTables:
        """Tables saved by ``compacted`` (``keys`` sorted; may be memory-mapped)."""
        tables = cls(sketch)
        tables.keys, tables.rows, tables.filed = keys, rows, filed
        return tables

    @staticmethod
    def _flat(keys: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The real keys of ``(c, per_cylinder)`` and the row each belongs to."""
        present = keys != EMPTY
        return keys[present], np.broadcast_to(rows[:, None], keys.shape)[present]

    def build(self, keys: np.ndarray, rows: np.ndarray) -> None:
        """File ``keys`` (c, per_cylinder) of cylinders of index ``rows`` (c,); empties the
        tail."""
        flat, flat_rows = self._flat(keys, np.asarray(rows, np.int32))
        order = np.argsort(flat, kind="stable")
        self.keys, self.rows = flat[order], flat_rows[order].astype(np.int32)
        self.filed = len(rows)
        self._empty_tail()

    def _empty_tail(self) -> None:
        self.tail_keys = np.zeros((0, self.sketch.per_cylinder), np.uint32)
        self.tail_rows = np.zeros(0, np.int32)
        self.tail_used = 0

    def append(self, keys: np.ndarray, row: int) -> None:
        """Add the cylinders of one template (index ``row``) to the tail (amortised O(1))."""
        from matchers.index_common import grow

        need = self.tail_used + len(keys)
        self.tail_keys = grow(self.tail_keys, need)
        self.tail_rows = grow(self.tail_rows, need)
        self.tail_keys[self.tail_used : need] = keys
        self.tail_rows[self.tail_used : need] = row
        self.tail_used = need

    def tail(self) -> tuple[np.ndarray, np.ndarray]:
        """Keys and rows of the cylinders not yet filed."""
        return self.tail_keys[: self.tail_used], self.tail_rows[: self.tail_used]

    def merge_tail(self) -> None:
        """File the tail's cylinders into the sorted table: the tail is sorted and inserted
        (one pass over the table, not a sort of it: ~0.3 s at 100k templates)."""
        if not self.tail_used:
            return
        keys, rows = self.tail()
        flat, flat_rows = self._flat(keys, rows)
        order = np.argsort(flat, kind="stable")
        flat, flat_rows = flat[order], flat_rows[order].astype(np.int32)
        at = np.searchsorted(self.keys, flat, side="right")  # after equal keys: stable
        self.keys = np.insert(self.keys, at, flat)
        self.rows = np.insert(self.rows, at, flat_rows)
        self.filed += len(keys)
        self._empty_tail()

    def compacted(self, new_row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Filed keys and rows (tail merged) renumbered by ``new_row`` (old row -> new row,
        -1 for a removed template, whose keys are dropped)."""
        self.merge_tail()
        if len(new_row) and bool((new_row == np.arange(len(new_row))).all()):
            return self.keys, self.rows  # nothing removed: no copy (51M keys at 100k)
        renumbered = new_row.astype(np.int32)[self.rows]
        keep = renumbered >= 0
        return self.keys[keep], renumbered[keep]

    def votes(
        self, probe_keys: np.ndarray, n_rows: int, templates: int | None = None
    ) -> np.ndarray:
        """Weighted collisions of the probe's keys ``(c, per_cylinder)`` with every index row,
        float32 ``(n_rows,)``. A key's weight is ``log(templates / cylinders filed under it)``
        (at least 0; ``templates``: the live templates, default ``n_rows``), the same whether
        the cylinders are in the sorted table or the tail."""
        from matchers.index_common import ranges

        query, counts = np.unique(probe_keys[probe_keys != EMPTY], return_counts=True)
        votes = np.zeros(n_rows, np.float64)
        if len(query) == 0 or n_rows == 0:
            return votes.astype(np.float32)
        lo = np.searchsorted(self.keys, query, side="left")
        size = np.searchsorted(self.keys, query, side="right") - lo
        in_tail = np.zeros(len(query), np.int64)
        if self.tail_used:
            flat, tail_rows = self._flat(*self.tail())
            at = np.minimum(np.searchsorted(query, flat), len(query) - 1)
            hit = query[at] == flat
            at, tail_rows = at[hit], tail_rows[hit]
            in_tail = np.bincount(at, minlength=len(query))
        total = templates if templates is not None else n_rows
        weight = counts * np.maximum(np.log(max(total, 1) / np.maximum(size + in_tail, 1)), 0.0)
        if size.any():
            votes += np.bincount(
                self.rows[ranges(lo, size)], weights=np.repeat(weight, size), minlength=n_rows
            )[:n_rows]
        if in_tail.any():
            votes += np.bincount(tail_rows, weights=weight[at], minlength=n_rows)[:n_rows]
        return votes.astype(np.float32)
