"""Minutia Cylinder-Code (MCC): bit-packed local descriptors and vectorised LSS-R scoring.

Method (Cappelli, Ferrara, Maltoni, "Minutia Cylinder-Code", IEEE TPAMI 2010):

1. Each minutia gets a *cylinder*: a square of ``MCC_NS x MCC_NS`` cells centred on it and
   rotated to its direction, times ``MCC_ND`` direction sections. A cell-section is set when
   nearby minutiae (Gaussian in space) have the section's relative direction (Gaussian in angle).
   Cylinders are invariant to translation and rotation and tolerant to skin distortion.
2. Cells outside the fingerprint (farther than ``MCC_HULL_MARGIN`` from the minutiae's convex
   hull) or outside the radius are *invalid*; a cylinder with too few valid cells or neighbours is
   dropped.
3. Cylinders are packed into ``uint64`` words (value bits and validity bits). Comparing them
   needs popcounts over their common valid cells; those are dot products of 0/1 vectors, so a
   probe is compared with all candidates' cylinders by a few BLAS products of the unpacked bits
   (``local_similarity``).
4. Local similarities of all probe x candidate cylinders are *consolidated* with LSS-R: the best
   ``min(nA, nB)`` pairs are relaxed by their geometric compatibility (distance, direction and
   radial-angle differences), and the score is the mean relaxed similarity of the ``nP`` most
   efficient pairs.

Score: a similarity in [0, 1] (0 = nothing in common, also for empty or degenerate templates).
Its false-match rate is measured in ``params.FINGER_SCORE_FMR`` (docs/CALIBRATION.md).

Everything is vectorised over many candidates at once: ``score_many`` compares one probe with a
padded batch of gallery templates in a few numpy operations. ``cylinders`` is vectorised over
minutiae (~2.3 ms per template at 500 ppi).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from matchers import params

_TWO_PI = 2 * np.pi


def _wrap(angle: np.ndarray) -> np.ndarray:
    """Angle difference wrapped to [-pi, pi)."""
    return (angle + np.pi) % _TWO_PI - np.pi


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): numpy has no erf and scipy is not a dependency.
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (
        0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429)))
    )
    return sign * (1.0 - poly * np.exp(-x * x))


def _sigmoid(v: np.ndarray, mu: float, tau: float) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-tau * (v - mu)))


# Cell offsets in cylinder coordinates (before rotation), shared by every cylinder.
_NS = params.MCC_NS
_ND = params.MCC_ND
_DELTA_S = 2.0 * params.MCC_RADIUS / _NS
_GRID = (np.arange(_NS) - (_NS - 1) / 2.0) * _DELTA_S
_CELL_U, _CELL_V = (g.reshape(-1) for g in np.meshgrid(_GRID, _GRID, indexing="ij"))
_IN_CIRCLE = np.hypot(_CELL_U, _CELL_V) <= params.MCC_RADIUS
_N_BITS = _NS * _NS * _ND
WORDS = (_N_BITS + 63) // 64
_SECTION_ANGLES = -np.pi + (np.arange(_ND) + 0.5) * (_TWO_PI / _ND)


@dataclass(frozen=True)
class Cylinders:
    """The MCC of one template: ``bits``/``valid`` uint64 ``(c, WORDS)``; ``minutiae`` (c, 3)."""

    bits: np.ndarray
    valid: np.ndarray
    minutiae: np.ndarray  # x, y, theta of the minutia each cylinder is centred on

    def __len__(self) -> int:
        return len(self.bits)


def empty_cylinders() -> Cylinders:
    return Cylinders(
        np.zeros((0, WORDS), np.uint64),
        np.zeros((0, WORDS), np.uint64),
        np.zeros((0, 3), np.float32),
    )


def _pack(bools: np.ndarray) -> np.ndarray:
    """Pack ``(c, _N_BITS)`` booleans into ``(c, WORDS)`` uint64."""
    c = len(bools)
    padded = np.zeros((c, WORDS * 64), dtype=bool)
    padded[:, :_N_BITS] = bools
    return np.packbits(padded, axis=1, bitorder="little").view(np.uint64).reshape(c, WORDS)


def _hull_valid(points: np.ndarray, cx: np.ndarray, cy: np.ndarray) -> np.ndarray:
    """True for cells (``cx``, ``cy``, any shape) inside the convex hull of ``points`` or within
    MCC_HULL_MARGIN of it. Vectorised over cells x hull edges, one coordinate at a time."""
    import cv2

    hull = cv2.convexHull(points.astype(np.float32)).reshape(-1, 2).astype(np.float64)
    ax, ay = hull[:, 0], hull[:, 1]
    ex = np.roll(ax, -1) - ax
    ey = np.roll(ay, -1) - ay
    rx = cx.reshape(-1, 1) - ax  # (P, E)
    ry = cy.reshape(-1, 1) - ay
    cross = ex * ry
    cross -= ey * rx
    inside = np.all(cross >= 0, axis=1) | np.all(cross <= 0, axis=1)
    length2 = np.maximum(ex * ex + ey * ey, 1e-9)
    t = rx * ex
    t += ry * ey
    t /= length2
    np.clip(t, 0.0, 1.0, out=t)
    rx -= t * ex  # cell minus its nearest point on the edge
    ry -= t * ey
    rx *= rx
    ry *= ry
    rx += ry
    near = rx.min(axis=1) <= params.MCC_HULL_MARGIN**2
    return (inside | near).reshape(cx.shape)


def select_minutiae(minutiae: np.ndarray) -> np.ndarray:
    """Finite minutiae, best quality first, at most MCC_MAX_MINUTIAE (float64 (n, 4))."""
    m = (
        np.asarray(minutiae, dtype=np.float64).reshape(-1, 4)
        if np.size(minutiae)
        else np.zeros((0, 4))
    )
    m = m[np.all(np.isfinite(m), axis=1)]
    m = m[m[:, 3] >= params.MCC_MIN_MINUTIA_QUALITY]
    if len(m) > params.MCC_MAX_MINUTIAE:
        m = m[np.argsort(-m[:, 3], kind="stable")[: params.MCC_MAX_MINUTIAE]]
    return m


def cylinders(minutiae: np.ndarray) -> Cylinders:
    """Build the valid cylinders of a minutiae set (x, y, theta rad, quality). Never raises."""
    m = select_minutiae(minutiae)
    n = len(m)
    if n < params.MCC_MIN_NEIGHBOURS + 1 or n < 3:
        return empty_cylinders()
    x, y, theta = m[:, 0], m[:, 1], m[:, 2]
    cos, sin = np.cos(theta), np.sin(theta)
    # Cell centres of every cylinder, rotated by the minutia direction: (n, cells, 2). The sign
    # convention matches ISO angles in image coordinates (y down), chosen by measured EER.
    s = params.MCC_ROTATION_SIGN
    cx = x[:, None] + cos[:, None] * _CELL_U[None] - s * sin[:, None] * _CELL_V[None]
    cy = y[:, None] + s * sin[:, None] * _CELL_U[None] + cos[:, None] * _CELL_V[None]
    # Validity first, so that contributions are computed for the kept cylinders only.
    valid_cells = _IN_CIRCLE[None, :] & _hull_valid(m[:, :2], cx, cy)
    sigma_s = params.MCC_SIGMA_S
    dist = np.hypot(x[:, None] - x[None, :], y[:, None] - y[None, :])
    neighbours = ((dist <= params.MCC_RADIUS + 3 * sigma_s) & (dist > 0)).sum(axis=1)
    keep = (valid_cells.sum(axis=1) >= params.MCC_MIN_VALID_CELLS * _IN_CIRCLE.sum()) & (
        neighbours >= params.MCC_MIN_NEIGHBOURS
    )
    if not keep.any():
        return empty_cylinders()
    rows = np.flatnonzero(keep)
    cx, cy, valid_cells = cx[rows], cy[rows], valid_cells[rows]
    # Spatial contribution of every minutia t to every cell of cylinder i: (kept, cells, n),
    # a Gaussian cut at 3 sigma (exp only evaluated inside the cut: most pairs are outside).
    d2 = cx[:, :, None] - x[None, None, :]
    d2 *= d2
    dy = cy[:, :, None] - y[None, None, :]
    dy *= dy
    d2 += dy
    d2[np.arange(len(rows)), :, rows] = np.inf  # a minutia does not contribute to its own
    near = d2 <= (3 * sigma_s) ** 2
    spatial = np.zeros_like(d2)
    spatial[near] = np.exp(-d2[near] / (2 * sigma_s**2)) / (sigma_s * np.sqrt(_TWO_PI))
    # Directional contribution: Gaussian mass of the section around the relative direction.
    rel = _wrap(theta[None, :] - theta[rows, None])  # (i, t)
    alpha = _wrap(_SECTION_ANGLES[None, None, :] - rel[:, :, None])  # (i, t, k)
    half = np.pi / _ND
    scale = 1.0 / (np.sqrt(2.0) * params.MCC_SIGMA_D)
    directional = 0.5 * (_erf((alpha + half) * scale) - _erf((alpha - half) * scale))
    values = np.matmul(spatial, directional)  # (kept, cells, Nd): sum over minutiae t
    bits = (values > params.MCC_MU_PSI) & valid_cells[:, :, None]
    valid = np.repeat(valid_cells[:, :, None], _ND, axis=2)
    return Cylinders(
        bits=_pack(bits.reshape(len(rows), -1)),
        valid=_pack(valid.reshape(len(rows), -1)),
        minutiae=m[rows, :3].astype(np.float32),
    )


def _unpack_u8(words: np.ndarray) -> np.ndarray:
    """Packed cylinders ``(m, WORDS)`` -> uint8 0/1 ``(m, cells x sections)`` (cell-major)."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).view(np.uint8).reshape(len(words), -1)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :_N_BITS]


def _dense(bits: np.ndarray, valid: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Float32 views of packed cylinders for the similarity products: the 0/1 bits
    ``(m, cells x sections)``, the set sections per cell ``(m, cells)`` and the valid cells
    ``(m, cells)`` (validity is per cell, repeated over the sections)."""
    m = len(bits)
    b = _unpack_u8(bits).astype(np.float32)
    # Sum of each cell's sections as a matrix-vector product (a numpy sum over a 6-long inner
    # axis is several times slower).
    counts = (b.reshape(m * _NS * _NS, _ND) @ np.ones(_ND, np.float32)).reshape(m, _NS * _NS)
    cells = _unpack_u8(valid)[:, ::_ND].astype(np.float32)
    return b, counts, cells


def local_similarity(
    probe: Cylinders, bits: np.ndarray, valid: np.ndarray, theta: np.ndarray
) -> np.ndarray:
    """Similarities of the probe cylinders with a padded gallery batch.

    ``bits``/``valid``: uint64 ``(S, C, WORDS)``; ``theta``: ``(S, C)`` (NaN for padding).
    Returns float32 ``(S, nA, C)``; unmatchable pairs (direction too different, too few common
    valid cells, padding) are 0.

    MCC compares the bits of the cells valid in both cylinders: with ``ca = a & valid_b`` and
    ``cb = b & valid_a``, ``sim = 1 - |ca ^ cb|^0.5 / (|ca|^0.5 + |cb|^0.5)``. Bits are only set in
    valid cells, so every popcount is a product of 0/1 matrices (exact in float32):
    ``|ca| = count_a . valid_b`` (per cell), ``|cb| = valid_a . count_b``,
    ``|ca ^ cb| = |ca| + |cb| - 2 a . b``, common cells ``= valid_a . valid_b``: four BLAS
    products over all candidates' cylinders at once instead of XOR/popcount temporaries.
    """
    s_count, c = bits.shape[:2]
    n_a = len(probe)
    m = s_count * c
    a, a_count, a_cells = _dense(probe.bits, probe.valid)
    b, b_count, b_cells = _dense(bits.reshape(m, WORDS), valid.reshape(m, WORDS))
    dot = b @ a.T  # (m, nA): |a & b|
    left = np.concatenate([a_count, a_cells], axis=0)  # (2 nA, cells)
    by_valid_b = b_cells @ left.T  # (m, 2 nA): |ca| and common cells
    n_ca = by_valid_b[:, :n_a]
    common = by_valid_b[:, n_a:]
    n_cb = b_count @ a_cells.T  # (m, nA)
    # Float64 from the exact integer counts, as the popcount formulation computed it: local
    # similarities tie often (ratios of small integers) and LSS-R's pair selection breaks ties
    # by order, so float32 rounding here would change which pairs are consolidated.
    diff = n_ca.astype(np.float64)
    diff += n_cb
    diff -= 2.0 * dot
    np.maximum(diff, 0.0, out=diff)
    np.sqrt(diff, out=diff)
    norm = np.sqrt(n_ca, dtype=np.float64)
    norm += np.sqrt(n_cb, dtype=np.float64)
    # Same float32 arithmetic as the reference: mindtct angles are quantised, so differences of
    # exactly pi/2 are frequent and their rounding decides the pair.
    dtheta = np.abs(_wrap(probe.minutiae[None, :, 2] - theta.reshape(m, 1)))
    ok = common >= params.MCC_MIN_COMMON_CELLS * float(_IN_CIRCLE.sum())
    ok &= norm > 0
    ok &= dtheta <= params.MCC_MAX_DIRECTION_DIFF
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = 1.0 - diff / norm
    sim[~ok] = 0.0
    return np.ascontiguousarray(sim.reshape(s_count, c, n_a).transpose(0, 2, 1), np.float32)


def _n_pairs(n_min: np.ndarray) -> np.ndarray:
    z = _sigmoid(n_min.astype(np.float64), params.MCC_MU_P, params.MCC_TAU_P)
    return params.MCC_MIN_NP + np.round(z * (params.MCC_MAX_NP - params.MCC_MIN_NP)).astype(
        np.int64
    )


def consolidate(
    sim: np.ndarray, probe: Cylinders, xyt: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """LSS-R global scores ``(S,)`` from local similarities ``(S, nA, C)``.

    ``xyt``: ``(S, C, 3)`` gallery minutiae of the cylinders; ``counts``: cylinders per candidate.
    Computed in float32 (scores agree with float64 to ~1e-6).
    """
    s_count, n_a, c = sim.shape
    if n_a == 0 or c == 0 or s_count == 0:
        return np.zeros(s_count, dtype=np.float32)
    n_min = np.minimum(n_a, counts)
    n_r = max(1, int(min(n_a, c, params.MCC_MAX_RELAX_PAIRS)))
    # Padding cylinders (beyond a candidate's count) are never chosen, even among zeros.
    padding = np.arange(c)[None, None, :] >= counts[:, None, None]
    flat = np.where(padding, np.float32(-1.0), sim).reshape(s_count, -1)
    top = _top_pairs(flat, n_r)
    lam0 = np.take_along_axis(flat, top, axis=1).astype(np.float32)  # (S, nR)
    used = np.arange(n_r)[None, :] < np.minimum(n_min, n_r)[:, None]
    # The top-nR of each row are unordered: keep the n_min(s) best by ordering them first.
    order = np.argsort(-lam0, axis=1, kind="stable")
    top = np.take_along_axis(top, order, axis=1)
    lam0 = np.take_along_axis(lam0, order, axis=1)
    lam0[~used] = 0.0
    ia, ib = top // c, top % c
    pa = probe.minutiae[ia].astype(np.float32)  # (S, nR, 3)
    pb = np.take_along_axis(xyt, ib[..., None], axis=1).astype(np.float32)
    rho = _compatibility(pa, pb)
    rho *= used[:, :, None] & used[:, None, :]
    rho[:, np.arange(n_r), np.arange(n_r)] = 0.0
    denom = np.maximum(np.minimum(n_min, n_r) - 1, 1)[:, None].astype(np.float32)
    lam = lam0
    w = np.float32(params.MCC_RELAX_WEIGHT)
    rho *= (1 - w) / denom[:, :, None]
    for _ in range(params.MCC_RELAX_ITERATIONS):
        lam = w * lam + np.matmul(rho, lam[:, :, None])[:, :, 0]
    with np.errstate(invalid="ignore", divide="ignore"):
        efficiency = np.where(lam0 > 0, lam / lam0, np.float32(-1.0))
    efficiency[~used] = -np.inf
    best = np.argsort(-efficiency, axis=1, kind="stable")
    lam_sorted = np.take_along_axis(lam, best, axis=1)
    n_p = np.minimum(_n_pairs(n_min), np.minimum(n_min, n_r))
    take = np.arange(n_r)[None, :] < n_p[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = np.where(n_p > 0, (lam_sorted * take).sum(axis=1) / np.maximum(n_p, 1), 0.0)
    return np.clip(score, 0.0, 1.0).astype(np.float32)


def _top_pairs(flat: np.ndarray, n_r: int) -> np.ndarray:
    """Flat indices ``(S, n_r)`` of each row's ``n_r`` largest similarities, in index order.

    Ties at the cut go to the lowest flat index (probe cylinder, then candidate cylinder), so the
    pairs chosen do not depend on how wide the padded batch is: ``argpartition`` picked among
    tied similarities by the array's layout, and a candidate scored in a batch could then
    relax other pairs, and score differently, than scored alone."""
    s_count, width = flat.shape
    if n_r >= width:
        return np.tile(np.arange(width), (s_count, 1))
    kth = -np.partition(-flat, n_r - 1, axis=1)[:, n_r - 1 : n_r]  # the n_r-th largest value
    above = flat > kth
    tied = flat == kth
    need = n_r - above.sum(axis=1, keepdims=True)
    chosen = above | (tied & (np.cumsum(tied, axis=1) <= need))
    return np.nonzero(chosen)[1].reshape(s_count, n_r)


def _abs_wrapped(angle: np.ndarray) -> np.ndarray:
    """|wrap(angle)| for angles in [-2 pi, 2 pi] (in place)."""
    np.abs(angle, out=angle)
    return np.minimum(angle, np.float32(_TWO_PI) - angle, out=angle)


def _compatibility(pa: np.ndarray, pb: np.ndarray) -> np.ndarray:
    """rho(t, k) of LSS-R: agreement of the pair geometry in the probe and the candidate.

    Differences of the two pairs' distance, relative direction and radial angle. With
    ``delta = theta_a - theta_b`` per pair, the relative-direction difference is
    ``delta_k - delta_t`` and the radial-angle difference ``delta_t - angle(v_a, v_b)``, where
    ``v`` is the t -> k displacement (one arctan2 instead of two).
    """
    s = np.float32(params.MCC_ROTATION_SIGN)
    dxa = pa[:, None, :, 0] - pa[:, :, None, 0]  # (S, t, k): x_k - x_t
    dya = s * (pa[:, None, :, 1] - pa[:, :, None, 1])
    dxb = pb[:, None, :, 0] - pb[:, :, None, 0]
    dyb = s * (pb[:, None, :, 1] - pb[:, :, None, 1])
    d1 = np.abs(np.hypot(dxa, dya) - np.hypot(dxb, dyb))
    delta = pa[..., 2] - pb[..., 2]
    delta = (delta + np.float32(np.pi)) % np.float32(_TWO_PI) - np.float32(np.pi)  # (S, nR)
    d2 = _abs_wrapped(delta[:, None, :] - delta[:, :, None])
    turn = np.arctan2(dxb * dya - dyb * dxa, dxb * dxa + dyb * dya)  # angle(v_b -> v_a)
    d3 = _abs_wrapped(delta[:, :, None] - turn)
    with np.errstate(over="ignore"):
        return _rho(d1, d2, d3)


def _rho(d1: np.ndarray, d2: np.ndarray, d3: np.ndarray) -> np.ndarray:
    """Product of the three LSS-R sigmoids, as one reciprocal of the product of 1 + exp."""
    f = np.float32
    e = np.exp(f(-params.MCC_RHO_TAU_DIST) * (d1 - f(params.MCC_RHO_MU_DIST)))
    e += 1.0
    tau_a, mu_a = f(-params.MCC_RHO_TAU_ANGLE), f(params.MCC_RHO_MU_ANGLE)
    e *= np.exp(tau_a * (d2 - mu_a)) + 1.0
    e *= np.exp(tau_a * (d3 - mu_a)) + 1.0
    return np.reciprocal(e, out=e)


def pad(batch: list[Cylinders]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack cylinders of several templates into padded arrays (bits, valid, xyt, counts)."""
    counts = np.array([len(c) for c in batch], dtype=np.int64)
    width = max(1, int(counts.max(initial=0)))
    s = len(batch)
    bits = np.zeros((s, width, WORDS), np.uint64)
    valid = np.zeros((s, width, WORDS), np.uint64)
    xyt = np.full((s, width, 3), np.nan, np.float32)
    for i, cyl in enumerate(batch):
        bits[i, : len(cyl)] = cyl.bits
        valid[i, : len(cyl)] = cyl.valid
        xyt[i, : len(cyl)] = cyl.minutiae
    return bits, valid, xyt, counts


def score_padded(
    probe: Cylinders, bits: np.ndarray, valid: np.ndarray, xyt: np.ndarray, counts: np.ndarray
) -> np.ndarray:
    """Scores of one probe against a padded batch of candidates, float32 ``(S,)``."""
    if len(probe) == 0 or len(counts) == 0:
        return np.zeros(len(counts), dtype=np.float32)
    sim = local_similarity(probe, bits, valid, xyt[..., 2])
    return consolidate(sim, probe, np.nan_to_num(xyt), counts)


def score_many(probe: Cylinders, gallery: list[Cylinders]) -> np.ndarray:
    """Scores of one probe against each gallery template, float32 ``(len(gallery),)``."""
    return score_padded(probe, *pad(gallery))


def compare(a: np.ndarray, b: np.ndarray) -> float:
    """1:1 score of two minutiae sets (x, y, theta rad, quality), in [0, 1]."""
    return float(score_many(cylinders(a), [cylinders(b)])[0])


def unpack(words: np.ndarray) -> np.ndarray:
    """Packed cylinders ``(c, WORDS)`` -> float32 0/1 ``(c, cells x sections)``."""
    raw = np.ascontiguousarray(words, dtype=np.uint64).view(np.uint8).reshape(len(words), -1)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :_N_BITS].astype(np.float32)
