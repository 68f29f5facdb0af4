"""The fused false-match rate of summed evidences (the decision's statistics)."""

from __future__ import annotations

import numpy as np

from matchers import calibration


def test_fused_fmr_matches_simulated_impostors() -> None:
    # An impostor's per-capture FMR is uniform: simulate sums of k evidences and compare tails.
    rng = np.random.default_rng(0)
    for k in (1, 2, 3):
        sums = (-np.log10(rng.uniform(size=(400_000, k)))).sum(axis=1)
        for t in (1.0, 2.5, 4.0):
            empirical = float((sums >= t).mean())
            predicted = calibration.fused_fmr(t, k)
            assert abs(empirical - predicted) <= 0.05 * predicted + 2e-5, (k, t)


def test_one_capture_is_the_plain_fmr() -> None:
    assert abs(calibration.fused_fmr(3.0, 1) - 1e-3) < 1e-12


def test_strangers_three_weak_captures_are_not_a_hit() -> None:
    # Evidence like the simulator's strangers: face 1.75, fingers 1.46 and 2.24 over 37 subjects.
    weak = calibration.decide([1.75, 1.46, 2.24], 37, captures=3)
    assert weak == "no_hit"
    # Summing as if 10^-sum were the fused FMR would have called it a hit.
    assert 37 * 10 ** -(1.75 + 1.46 + 2.24) <= 1e-3


def test_weak_evidence_does_not_add_up() -> None:
    # Three captures each at FMR ~3e-2 are what the best of a few dozen impostors scores.
    assert calibration.decide([1.5, 1.5, 1.5], 37, captures=3) == "no_hit"
    # Strong evidence from two fingers still decides.
    assert calibration.decide([6.0, 5.0, 1.0], 10_000, captures=3) == "hit"


def test_missing_captures_still_count_as_searched() -> None:
    alone = calibration.expected_fpir([5.0], 1000, captures=1)
    with_two_empty = calibration.expected_fpir([5.0], 1000, captures=3)
    assert with_two_empty > alone
