"""Fingerprint 1:N index over MCC templates: built once, searched many times, memory-mappable.

Search = two stages:

1. **Shortlist** by locality-sensitive hashing of cylinder bits (after the MCC indexing of
   Cappelli, Ferrara & Maltoni, IEEE TPAMI 2011; ``matchers.cylinder_hash``): every gallery
   cylinder is filed under ~16 keys, hashes of triples of its set bits (a bottom-k sketch).
   A probe's cylinders look their keys up; each gallery template gets the rarity weight of
   every key it shares. The ``FINGER_SHORTLIST`` best live templates at the probe's position
   go on (when fewer collide, others fill the shortlist: a small gallery is verified whole).
2. **Verification** (shortlist): the probe's MCC cylinders are compared with the candidates'
   cylinders (popcounts as BLAS products of the unpacked bits) and consolidated with LSS-R
   (``matchers.mcc``).

Templates added since the last merge sit in a small *tail* whose keys are compared directly;
the tail is sorted and inserted into the key table when it outgrows ``FINGER_LSH_TAIL``
cylinders, and at ``save``.

``Match.score`` is the MCC LSS-R similarity in [0, 1]; ``calibration.FINGER`` turns it into a
false-match-rate equivalent (docs/CALIBRATION.md). Costs at 100k templates (~3.4M cylinders):
96 B of cylinder bits and 12 B of minutia per cylinder, ~16 x 8 B of keys per cylinder; a
search looks up ~16 keys per probe cylinder and scores ``FINGER_SHORTLIST`` candidates
(measured by ``fieldcheck bench fingerprint``, docs/MATCHERS.md).

Thread-safety: one lock around mutation and search. Removal is a tombstone (no rebuild); the
space is reclaimed by ``save``, which writes live rows only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Literal

import numpy as np

from matchers import mcc, params
from matchers.cylinder_hash import CylinderSketch, HashTables
from matchers.index_common import (
    GrowableIds,
    Match,
    TombstoneRemoval,
    best_per_subject,
    grow,
    ranges,
)
from matchers.templates import FingerprintTemplate

FORMAT_VERSION = 2  # 1: bag-of-codewords shortlist (before issue 12's LSH)
_FILES = ("alive", "positions", "offsets", "counts", "bits", "valid", "xyt", "lsh_keys", "lsh_rows")


def hash_family() -> CylinderSketch:
    """The shortlist's cylinder keys (``params.FINGER_LSH_*``)."""
    return CylinderSketch(
        params.FINGER_LSH_ORDER,
        params.FINGER_LSH_CAP,
        params.FINGER_LSH_PER_CYLINDER,
        params.FINGER_LSH_SEED,
    )


class FingerprintIndex(TombstoneRemoval):
    """MCC fingerprint index: ``add``/``remove`` without rebuilding, ``search`` position-aware.

    A probe at position p searches gallery templates at p and at 0 (unknown); p = 0 searches
    all. A probe with fewer than 3 usable minutiae, or a position with no gallery entries,
    gives ``[]``.
    """

    def __init__(self) -> None:
        self._ids = GrowableIds()
        self._alive = np.zeros(0, dtype=bool)
        self._positions = np.zeros(0, dtype=np.int8)
        self._offsets = np.zeros(0, dtype=np.int64)
        self._counts = np.zeros(0, dtype=np.int32)
        self._bits = np.zeros((0, mcc.WORDS), dtype=np.uint64)
        self._valid = np.zeros((0, mcc.WORDS), dtype=np.uint64)
        self._xyt = np.zeros((0, 3), dtype=np.float32)
        self._n_cyl = 0
        self._hash = HashTables(hash_family())
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    # --- mutation ---------------------------------------------------------------------------
    def add(self, template_id: str, subject_id: str, template: FingerprintTemplate) -> None:
        """Add (or replace) one template; cost: one MCC extraction (~2.5 ms) and its hash keys
        (~0.1 ms per cylinder), amortised O(1) (plus a merge of the tail every
        ``FINGER_LSH_TAIL`` cylinders: ~1 s at 100k templates)."""
        cyl = mcc.cylinders(template.minutiae)
        self.add_cylinders(template_id, subject_id, cyl, int(template.position))

    def add_cylinders(
        self,
        template_id: str,
        subject_id: str,
        cyl: mcc.Cylinders,
        position: int = 0,
        keys: np.ndarray | None = None,
    ) -> None:
        """Add already-built cylinders (``keys``: their precomputed ``hash_family().keys``)."""
        keys = self._hash.sketch.keys(cyl.bits) if keys is None else keys
        with self._lock:
            if template_id in self._ids.row_of:
                self._remove_locked(template_id)
            row = self._ids.count
            need = row + 1
            self._alive = grow(self._alive, need)
            self._positions = grow(self._positions, need)
            self._offsets = grow(self._offsets, need)
            self._counts = grow(self._counts, need)
            c = len(cyl)
            need_cyl = self._n_cyl + c
            self._bits = grow(self._bits, need_cyl)
            self._valid = grow(self._valid, need_cyl)
            self._xyt = grow(self._xyt, need_cyl)
            self._bits[self._n_cyl : need_cyl] = cyl.bits
            self._valid[self._n_cyl : need_cyl] = cyl.valid
            self._xyt[self._n_cyl : need_cyl] = cyl.minutiae
            self._alive[row] = True
            self._positions[row] = position if 0 <= position <= 10 else 0
            self._offsets[row] = self._n_cyl
            self._counts[row] = c
            self._n_cyl = need_cyl
            self._ids.append(template_id, subject_id)
            self._hash.append(keys, row)
            if self._hash.tail_used > params.FINGER_LSH_TAIL:
                self._hash.merge_tail()

    # --- search -----------------------------------------------------------------------------
    def search(self, probe: FingerprintTemplate, k: int = 10) -> list[Match]:
        """Best ``k`` subjects for one probe finger, best first; thread-safe.

        ``Match.score`` is the MCC LSS-R similarity in [0, 1] of the subject's best template:
        0.0265 is FMR 1e-3 and 0.034 FMR 1e-4 per comparison (``calibration.FINGER``); a
        search of N templates expects about N x FMR impostors above a threshold. Cost: the
        shortlist lookup (~5 ms) plus ``FINGER_SHORTLIST`` MCC comparisons (~0.15 ms each).
        """
        try:
            cyl = mcc.cylinders(probe.minutiae)
        except (ValueError, TypeError):
            return []
        return self.search_cylinders(cyl, int(probe.position or 0), k)

    def search_cylinders(
        self, cyl: mcc.Cylinders, position: int = 0, k: int = 10, shortlist: int | None = None
    ) -> list[Match]:
        """``search`` for already-built cylinders (``shortlist``: candidates verified, default
        ``FINGER_SHORTLIST``)."""
        if len(cyl) == 0 or k <= 0:
            return []
        keys = self._hash.sketch.keys(cyl.bits)
        with self._lock:
            short = self._shortlist_locked(keys, position, shortlist or params.FINGER_SHORTLIST)
            if len(short) == 0:
                return []
            counts = self._counts[short]
            width = max(1, int(counts.max(initial=0)))
            idx = self._offsets[short][:, None] + np.arange(width)[None, :]
            present = np.arange(width)[None, :] < counts[:, None]
            idx = np.where(present, idx, 0)
            bits = (
                np.where(present[..., None], self._bits[idx], 0)
                if self._n_cyl
                else np.zeros((len(short), width, mcc.WORDS), np.uint64)
            )
            valid = np.where(present[..., None], self._valid[idx], 0) if self._n_cyl else bits
            xyt = (
                np.where(present[..., None], self._xyt[idx], np.nan)
                if self._n_cyl
                else np.full((len(short), width, 3), np.nan, np.float32)
            )
            template_ids = [self._ids.template_ids[i] for i in short]
            subject_ids = [self._ids.subject_ids[i] for i in short]
            positions = self._positions[short].copy()
        scores = mcc.score_padded(
            cyl,
            bits.astype(np.uint64),
            valid.astype(np.uint64),
            xyt.astype(np.float32),
            counts.astype(np.int64),
        )
        order = np.argsort(-scores, kind="stable")
        return best_per_subject(order, scores, template_ids, subject_ids, positions, k)

    def shortlist(
        self, cyl: mcc.Cylinders, position: int = 0, size: int | None = None
    ) -> list[str]:
        """Template ids of stage 1's candidates, best first (what ``search`` verifies); for
        measuring the shortlist's recall."""
        if len(cyl) == 0:
            return []
        keys = self._hash.sketch.keys(cyl.bits)
        with self._lock:
            short = self._shortlist_locked(keys, position, size or params.FINGER_SHORTLIST)
            return [self._ids.template_ids[i] for i in short]

    def _shortlist_locked(self, keys: np.ndarray, position: int, size: int) -> np.ndarray:
        """Rows of the ``size`` live templates at ``position`` (and 0) with most collisions,
        best first. When fewer than ``size`` templates collide at all, the others fill the
        shortlist (a small gallery is verified in full)."""
        n = self._ids.count
        if n == 0:
            return np.zeros(0, np.int64)
        usable = self._alive[:n]
        if position:
            pos = self._positions[:n]
            usable = usable & ((pos == position) | (pos == 0))
        rows = np.flatnonzero(usable)
        votes = self._hash.votes(keys, n, len(self._ids))[rows]
        if len(rows) > size:
            top = np.argpartition(-votes, size - 1)[:size]
            rows, votes = rows[top], votes[top]
        return rows[np.argsort(-votes, kind="stable")]

    # --- persistence ------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        """Write live templates as .npy arrays plus ``manifest.json`` (ids, version, params)."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        with self._lock:
            n = self._ids.count
            rows = np.flatnonzero(self._alive[:n])
            counts = self._counts[rows].astype(np.int32)
            offsets = np.zeros(len(rows), dtype=np.int64)
            if len(rows):
                offsets[1:] = np.cumsum(counts[:-1], dtype=np.int64)
            new_row = np.full(n, -1, np.int64)
            new_row[rows] = np.arange(len(rows))
            lsh_keys, lsh_rows = self._hash.compacted(new_row)
            if len(rows) == n and np.array_equal(self._offsets[:n], offsets):
                # Nothing removed, cylinders in row order: write views, not copies (the
                # cylinder arrays are ~360 MB at 100k templates).
                bits, valid, xyt = (
                    a[: self._n_cyl] for a in (self._bits, self._valid, self._xyt)
                )
            else:
                cyl_idx = ranges(self._offsets[rows], counts)
                bits, valid, xyt = self._bits[cyl_idx], self._valid[cyl_idx], self._xyt[cyl_idx]
            arrays = {
                "alive": np.ones(len(rows), dtype=bool),
                "positions": self._positions[rows],
                "offsets": offsets,
                "counts": counts,
                "bits": bits,
                "valid": valid,
                "xyt": xyt,
                "lsh_keys": lsh_keys,
                "lsh_rows": lsh_rows,
            }
            manifest = {
                "kind": "fieldcheck-fingerprint-index",
                "version": FORMAT_VERSION,
                "params": _signature(),
                "template_ids": [self._ids.template_ids[i] for i in rows],
                "subject_ids": [self._ids.subject_ids[i] for i in rows],
            }
        for name, arr in arrays.items():
            np.save(out / f"{name}.npy", np.ascontiguousarray(arr))
        tmp = out / "manifest.json.tmp"
        tmp.write_text(json.dumps(manifest))
        tmp.replace(out / "manifest.json")

    @classmethod
    def load(cls, directory: str | Path, mmap: bool = True) -> FingerprintIndex:
        """Open a saved index; big arrays are memory-mapped (read-only) when ``mmap``.

        Raises ValueError when the directory was written by another format or parameter set
        (cylinders or hash keys built with other parameters are not comparable: rebuild from
        the templates).
        """
        src = Path(directory)
        manifest = json.loads((src / "manifest.json").read_text())
        if manifest.get("version") != FORMAT_VERSION or manifest.get("params") != _signature():
            raise ValueError(
                f"{src}: fingerprint index written with format {manifest.get('version')} / "
                f"params {manifest.get('params')}; this build needs {FORMAT_VERSION} / "
                f"{_signature()}; rebuild it from the templates"
            )
        mode: Literal["r"] | None = "r" if mmap else None
        index = cls()
        index._alive = np.load(src / "alive.npy").copy()
        index._positions = np.load(src / "positions.npy").copy()
        index._offsets = np.load(src / "offsets.npy").copy()
        index._counts = np.load(src / "counts.npy").copy()
        index._bits = np.load(src / "bits.npy", mmap_mode=mode)
        index._valid = np.load(src / "valid.npy", mmap_mode=mode)
        index._xyt = np.load(src / "xyt.npy", mmap_mode=mode)
        index._n_cyl = len(index._bits)
        index._hash = HashTables.from_arrays(
            hash_family(),
            np.load(src / "lsh_keys.npy", mmap_mode=mode),
            np.load(src / "lsh_rows.npy", mmap_mode=mode),
            index._n_cyl,
        )
        index._ids = GrowableIds.from_lists(manifest["template_ids"], manifest["subject_ids"])
        return index


def _signature() -> dict:
    return {
        "mcc_ns": params.MCC_NS,
        "mcc_nd": params.MCC_ND,
        "mcc_radius": params.MCC_RADIUS,
        "mcc_rotation_sign": params.MCC_ROTATION_SIGN,
        "lsh_order": params.FINGER_LSH_ORDER,
        "lsh_cap": params.FINGER_LSH_CAP,
        "lsh_per_cylinder": params.FINGER_LSH_PER_CYLINDER,
        "lsh_seed": params.FINGER_LSH_SEED,
    }
