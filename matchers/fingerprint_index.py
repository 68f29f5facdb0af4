"""Fingerprint 1:N index over MCC templates: built once, searched many times, memory-mappable.

Search = two vectorised stages:

1. **Shortlist** (whole gallery): every template is summarised by a bag of cylinder *codewords*
   (each cylinder soft-assigned to its ``FINGER_BOW_ASSIGN`` nearest of ``FINGER_BOW_WORDS``
   codewords, square-rooted and L2-normalised). One float32 matrix-vector product over the
   gallery (restricted to the probe's finger position) ranks it; the best
   ``FINGER_SHORTLIST`` templates go on.
2. **Verification** (shortlist): the probe's MCC cylinders are compared with the candidates'
   cylinders (popcounts as BLAS products of the unpacked bits) and consolidated with LSS-R
   (``matchers.mcc``).

``Match.score`` is the MCC LSS-R similarity in [0, 1]; ``calibration.FINGER`` turns it into a
false-match-rate equivalent (docs/CALIBRATION.md). Costs at 100k templates: about 400 B of
cylinders per minutia plus 4 x FINGER_BOW_WORDS B per template; a search reads the shortlist
matrix once and scores ``FINGER_SHORTLIST`` candidates (see ``fieldcheck bench fingerprint``).

Thread-safety: one lock around mutation and search. Removal is a tombstone (no rebuild); the
space is reclaimed by ``save``, which writes live rows only.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from matchers import mcc, params
from matchers.codebook import codebook
from matchers.index_common import (
    GrowableIds,
    Match,
    TombstoneRemoval,
    best_per_subject,
    grow,
    ranges,
)
from matchers.templates import FingerprintTemplate

FORMAT_VERSION = 1
_FILES = ("alive", "positions", "offsets", "counts", "bow", "bits", "valid", "xyt")


def bag_of_words(cyl: mcc.Cylinders) -> np.ndarray:
    """The shortlist descriptor of one template (float32, unit norm or all zeros)."""
    words = codebook()
    hist = np.zeros(len(words), dtype=np.float32)
    if len(cyl) == 0:
        return hist
    x = mcc.unpack(cyl.bits)
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    sims = x @ words.T
    top = np.argpartition(-sims, params.FINGER_BOW_ASSIGN - 1, axis=1)[
        :, : params.FINGER_BOW_ASSIGN
    ]
    hist += np.bincount(top.ravel(), minlength=len(words)).astype(np.float32)
    hist = np.sqrt(hist)
    return hist / max(float(np.linalg.norm(hist)), 1e-6)


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
        self._bow = np.zeros((0, params.FINGER_BOW_WORDS), dtype=np.float32)
        self._bits = np.zeros((0, mcc.WORDS), dtype=np.uint64)
        self._valid = np.zeros((0, mcc.WORDS), dtype=np.uint64)
        self._xyt = np.zeros((0, 3), dtype=np.float32)
        self._n_cyl = 0
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._ids)

    # --- mutation ---------------------------------------------------------------------------
    def add(self, template_id: str, subject_id: str, template: FingerprintTemplate) -> None:
        """Add (or replace) one template; cost: one MCC extraction (~2.5 ms), amortised O(1)."""
        cyl = mcc.cylinders(template.minutiae)
        self.add_cylinders(template_id, subject_id, cyl, int(template.position))

    def add_cylinders(
        self,
        template_id: str,
        subject_id: str,
        cyl: mcc.Cylinders,
        position: int = 0,
        bow: np.ndarray | None = None,
    ) -> None:
        """Add already-built cylinders (``bow``: their precomputed ``bag_of_words``)."""
        bow = bag_of_words(cyl) if bow is None else bow
        with self._lock:
            if template_id in self._ids.row_of:
                self._remove_locked(template_id)
            row = self._ids.count
            need = row + 1
            self._alive = grow(self._alive, need)
            self._positions = grow(self._positions, need)
            self._offsets = grow(self._offsets, need)
            self._counts = grow(self._counts, need)
            self._bow = grow(self._bow, need)
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
            self._bow[row] = bow
            self._n_cyl = need_cyl
            self._ids.append(template_id, subject_id)

    # --- search -----------------------------------------------------------------------------
    def search(self, probe: FingerprintTemplate, k: int = 10) -> list[Match]:
        """Best ``k`` subjects for one probe finger, best first (see the module docstring)."""
        try:
            cyl = mcc.cylinders(probe.minutiae)
        except (ValueError, TypeError):
            return []
        return self.search_cylinders(cyl, int(probe.position or 0), k)

    def search_cylinders(self, cyl: mcc.Cylinders, position: int = 0, k: int = 10) -> list[Match]:
        if len(cyl) == 0 or k <= 0:
            return []
        bow = bag_of_words(cyl)
        with self._lock:
            n = self._ids.count
            if n == 0:
                return []
            usable = self._alive[:n]
            if position:
                pos = self._positions[:n]
                usable = usable & ((pos == position) | (pos == 0))
            rows = np.flatnonzero(usable)
            if len(rows) == 0:
                return []
            # Full product then gather: gathering the position's rows first copies them (slower
            # than reading the whole matrix once, measured at 100k).
            pre_rows = (self._bow[:n] @ bow)[rows]
            take = min(len(rows), params.FINGER_SHORTLIST)
            if take < len(rows):
                short = rows[np.argpartition(-pre_rows, take - 1)[:take]]
            else:
                short = rows
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
            cyl_idx = ranges(self._offsets[rows], counts)
            arrays = {
                "alive": np.ones(len(rows), dtype=bool),
                "positions": self._positions[rows],
                "offsets": offsets,
                "counts": counts,
                "bow": self._bow[rows],
                "bits": self._bits[cyl_idx],
                "valid": self._valid[cyl_idx],
                "xyt": self._xyt[cyl_idx],
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
        (cylinders built with other MCC parameters are not comparable: rebuild from templates).
        """
        src = Path(directory)
        manifest = json.loads((src / "manifest.json").read_text())
        if manifest.get("version") != FORMAT_VERSION or manifest.get("params") != _signature():
            raise ValueError(
                f"{src}: fingerprint index written with format {manifest.get('version')} / "
                f"params {manifest.get('params')}; this build needs {FORMAT_VERSION} / "
                f"{_signature()}; rebuild it from the templates"
            )
        mode = "r" if mmap else None
        index = cls()
        index._alive = np.load(src / "alive.npy").copy()
        index._positions = np.load(src / "positions.npy").copy()
        index._offsets = np.load(src / "offsets.npy").copy()
        index._counts = np.load(src / "counts.npy").copy()
        index._bow = np.load(src / "bow.npy", mmap_mode=mode)
        index._bits = np.load(src / "bits.npy", mmap_mode=mode)
        index._valid = np.load(src / "valid.npy", mmap_mode=mode)
        index._xyt = np.load(src / "xyt.npy", mmap_mode=mode)
        index._n_cyl = len(index._bits)
        index._ids = GrowableIds.from_lists(manifest["template_ids"], manifest["subject_ids"])
        return index


def _signature() -> dict:
    return {
        "mcc_ns": params.MCC_NS,
        "mcc_nd": params.MCC_ND,
        "mcc_radius": params.MCC_RADIUS,
        "mcc_rotation_sign": params.MCC_ROTATION_SIGN,
        "bow_words": params.FINGER_BOW_WORDS,
        "bow_assign": params.FINGER_BOW_ASSIGN,
        "codebook_seed": params.FINGER_BOW_SEED,
    }
