"""MCC descriptors and LSS-R scoring: invariance, degenerate inputs, discrimination."""

from __future__ import annotations

import numpy as np
import pytest

from matchers import mcc, synthetic


def _rigid(m: np.ndarray, angle: float, shift: tuple[float, float]) -> np.ndarray:
    """Rotate the minutiae (and their directions) by ``angle`` about (150, 150), then shift.

    Uses the image-coordinate convention of MCC_ROTATION_SIGN (y down, ISO angles)."""
    from matchers import params

    s = params.MCC_ROTATION_SIGN
    c, sn = np.cos(angle), np.sin(angle) * s
    x, y = m[:, 0] - 150, m[:, 1] - 150
    out = m.copy()
    out[:, 0] = c * x - sn * y + 150 + shift[0]
    out[:, 1] = sn * x + c * y + 150 + shift[1]
    out[:, 2] = (m[:, 2] + angle) % (2 * np.pi)
    return out


@pytest.mark.parametrize("n", [0, 1, 2, 3])
def test_degenerate_templates_give_no_cylinders_and_score_zero(n: int) -> None:
    m = synthetic.minutiae(np.random.default_rng(0))[:n]
    assert len(mcc.cylinders(m)) == 0
    full = synthetic.minutiae(np.random.default_rng(1))
    assert mcc.compare(m, full) == 0.0
    assert mcc.compare(full, m) == 0.0


def test_nan_and_malformed_minutiae_are_ignored() -> None:
    m = synthetic.minutiae(np.random.default_rng(2))
    bad = m.copy()
    bad[:5, 0] = np.nan
    assert len(mcc.cylinders(bad)) > 0
    assert len(mcc.cylinders(np.zeros((0,), np.float32))) == 0
    assert 0.0 <= mcc.compare(bad, m) <= 1.0


def test_same_finger_moved_scores_far_above_other_fingers() -> None:
    rng = np.random.default_rng(3)
    m = synthetic.minutiae(rng)
    moved = _rigid(m, 0.5, (20.0, -15.0))
    others = [synthetic.minutiae(rng) for _ in range(30)]
    genuine = mcc.compare(m, moved)
    impostors = mcc.score_many(mcc.cylinders(m), [mcc.cylinders(o) for o in others])
    assert genuine > 0.5
    assert impostors.max() < 0.1
    assert mcc.compare(m, m) > 0.99


def test_score_many_equals_one_to_one() -> None:
    rng = np.random.default_rng(4)
    p = synthetic.minutiae(rng)
    gallery = [synthetic.minutiae(rng) for _ in range(5)] + [_rigid(p, -0.3, (5, 5))]
    batch = mcc.score_many(mcc.cylinders(p), [mcc.cylinders(g) for g in gallery])
    single = [mcc.compare(p, g) for g in gallery]
    assert np.allclose(batch, single, atol=1e-6)
    assert int(np.argmax(batch)) == len(gallery) - 1
