"""Synthetic galleries for benchmarks: realistic-looking minutiae sets and random face embeddings.

Minutiae follow a fingerprint-like layout rather than uniform noise, so a benchmark gallery
competes with a real probe the way other people's fingers would: points spread over an
elliptical finger area with a minimum spacing (ridges are ~9 px apart at 500 ppi), directions
taken from a loop-type orientation field (a core and a delta, Sherlock-Monro model) plus
ridge-ending/bifurcation flips, counts and scores in the range LEADER gives on FVC.

How realistic: the layout and directions are fingerprint-like, but there are no ridges behind
them, so minutiae are not tied to each other the way ridge endings and bifurcations are. As
impostors they score lower than real other fingers (docs/MATCHERS.md measures both), so a
synthetic gallery is a fair speed and memory test and a lenient accuracy test.
"""

from __future__ import annotations

import numpy as np

from matchers import params
from matchers.templates import FingerprintTemplate


def minutiae(rng: np.random.Generator) -> np.ndarray:
    """One synthetic minutiae set, float32 (n, 4): x, y, theta rad, quality."""
    width, height = 320.0, 380.0
    cx, cy = rng.normal(width / 2, 15), rng.normal(height / 2, 15)
    ax, ay = rng.uniform(100, 140), rng.uniform(130, 170)
    n = int(np.clip(rng.normal(params.SYNTH_MEAN_MINUTIAE, params.SYNTH_SD_MINUTIAE), 12,
                    params.LEADER_MAX_MINUTIAE))
    # Rejection-sample points in the ellipse with a minimum spacing.
    cand = rng.uniform(-1, 1, size=(n * 6, 2))
    cand = cand[(cand**2).sum(axis=1) <= 1.0]
    pts = np.column_stack([cx + cand[:, 0] * ax, cy + cand[:, 1] * ay])
    kept: list[np.ndarray] = []
    for p in pts:
        if all(np.hypot(*(p - q)) >= params.SYNTH_MIN_SPACING for q in kept):
            kept.append(p)
            if len(kept) == n:
                break
    xy = np.array(kept, dtype=np.float64).reshape(-1, 2)
    core = np.array([cx + rng.normal(0, 20), cy - rng.uniform(20, 60)])
    delta = core + np.array([rng.choice([-1, 1]) * rng.uniform(60, 110), rng.uniform(80, 140)])
    zc = (xy[:, 0] - core[0]) + 1j * (xy[:, 1] - core[1])
    zd = (xy[:, 0] - delta[0]) + 1j * (xy[:, 1] - delta[1])
    orientation = 0.5 * (np.angle(zc) - np.angle(zd)) + rng.normal(0, 0.15) + np.pi / 2
    theta = orientation + np.pi * rng.integers(0, 2, len(xy)) + rng.normal(0, 0.1, len(xy))
    low = params.LEADER_MIN_SCORE
    quality = low + (1 - low) * rng.beta(*params.SYNTH_QUALITY_BETA, len(xy))
    return np.column_stack([xy, theta % (2 * np.pi), quality]).astype(np.float32)


def fingerprint_template(rng: np.random.Generator, position: int = 0) -> FingerprintTemplate:
    return FingerprintTemplate(minutiae=minutiae(rng), width=320, height=380, position=position)


def face_embeddings(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random unit vectors (float32, 128-d), generated in chunks to bound memory."""
    out = np.empty((n, params.FACE_EMBEDDING_DIM), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        block = rng.standard_normal(
            (min(step, n - start), params.FACE_EMBEDDING_DIM), dtype=np.float32
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(block)] = block
    return out
