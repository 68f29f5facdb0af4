"""The cylinder codebook of the fingerprint shortlist (bag of MCC codewords).

Codewords are spherical k-means centroids of MCC cylinders (unpacked bits, L2-normalised) from
*synthetic* minutiae sets, never from the evaluation data, so `fieldcheck evaluate` stays honest.
The trained codebook ships as ``matchers/data/mcc_codebook_<words>_<seed>.npy`` (float16); when
absent (other parameters) it is retrained deterministically (about a minute) and written there.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import numpy as np

from matchers import mcc, params, synthetic

log = logging.getLogger(__name__)


def _path() -> Path:
    name = f"mcc_codebook_{params.FINGER_BOW_WORDS}_{params.FINGER_BOW_SEED}_{mcc.WORDS}.npy"
    return Path(__file__).parent / "data" / name


@functools.cache
def codebook() -> np.ndarray:
    """float32 ``(FINGER_BOW_WORDS, cylinder bits)``, rows unit-norm."""
    path = _path()
    if path.exists():
        words = np.load(path).astype(np.float32)
    else:
        log.warning("training the MCC codebook (%s missing)", path.name)
        words = train()
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, words.astype(np.float16))
        except OSError:  # read-only install: keep it in memory
            pass
    return words


def train(words: int | None = None, seed: int | None = None) -> np.ndarray:
    """Spherical k-means over cylinders of synthetic prints (deterministic for a seed)."""
    k = words or params.FINGER_BOW_WORDS
    rng = np.random.default_rng(params.FINGER_BOW_SEED if seed is None else seed)
    samples = [
        mcc.unpack(mcc.cylinders(synthetic.minutiae(rng)).bits)
        for _ in range(params.FINGER_BOW_TRAIN_PRINTS)
    ]
    x = np.concatenate([s for s in samples if len(s)])
    x /= np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-6)
    centres = x[rng.choice(len(x), k, replace=False)].copy()
    for _ in range(params.FINGER_BOW_TRAIN_ITERATIONS):
        assign = np.argmax(x @ centres.T, axis=1)
        sums = np.zeros_like(centres)
        np.add.at(sums, assign, x)
        empty = np.bincount(assign, minlength=k) == 0
        sums[empty] = x[rng.choice(len(x), int(empty.sum()), replace=False)]
        centres = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-6)
    return centres.astype(np.float32)
