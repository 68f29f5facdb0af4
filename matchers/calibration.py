"""Score calibration and fusion: raw scores -> false-match-rate equivalents -> decision.

Each matcher's raw score (face cosine similarity, MCC LSS-R similarity) means nothing next to
another matcher's. A ``Calibration`` maps a score to the false match rate measured at that score on
impostor pairs (the probability that a different person scores at least this much). Evidence is
``-log10(FMR)``: a face at FMR 1e-4 and two fingers at 1e-3 each give 4 + 3 + 3 = 10. Under
independence of modalities and fingers the chance that an impostor's three evidences sum that
high is the Gamma(3) tail, about 3e-8 (not 1e-10: many combinations reach the same sum).
Evidence under ``FUSION_MIN_EVIDENCE`` is left out of the sum.

Decision rule (documented in docs/CALIBRATION.md): a search over N subjects has an expected false
positive identification rate FPIR ~= N x fused FMR, where the fused FMR of k summed evidences is
the Gamma(k) tail (``fused_fmr``), not 10^-sum. The top candidate is a ``hit`` when that is at
most ``HIT_TARGET_FPIR``, ``possible`` when at most ``POSSIBLE_TARGET_FPIR``, else ``no_hit``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from matchers import params


@dataclass(frozen=True)
class Calibration:
    """Piecewise log-linear map score -> FMR; scores must increase and FMRs decrease."""

    name: str
    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        scores = [s for s, _ in self.points]
        fmrs = [f for _, f in self.points]
        if len(self.points) < 2 or scores != sorted(scores) or fmrs != sorted(fmrs, reverse=True):
            raise ValueError(f"calibration {self.name}: points must be increasing in score")

    def fmr(self, score: float) -> float:
        """False match rate at ``score`` (1.0 for scores below the first point)."""
        if not math.isfinite(score):
            return 1.0
        scores = np.array([s for s, _ in self.points])
        logs = np.log10([f for _, f in self.points])
        if score <= scores[0]:
            # Below the first measured point, rise linearly towards FMR 1.
            slope = (logs[1] - logs[0]) / (scores[1] - scores[0])
            return float(min(1.0, 10 ** (logs[0] + slope * (score - scores[0]))))
        if score >= scores[-1]:
            slope = (logs[-1] - logs[-2]) / (scores[-1] - scores[-2])
            value = logs[-1] + slope * (score - scores[-1])
        else:
            value = float(np.interp(score, scores, logs))
        return float(max(params.FMR_FLOOR, 10**value))

    def score_at(self, fmr: float) -> float:
        """The score whose FMR is ``fmr``: the inverse of ``fmr``, with the same straight lines
        beyond the first and the last measured points (a hit over a large gallery needs an FMR
        below the last point)."""
        scores = np.array([s for s, _ in self.points])
        logs = np.log10([f for _, f in self.points])
        target = math.log10(min(1.0, max(fmr, params.FMR_FLOOR)))
        if target < logs[-1]:
            slope = (scores[-1] - scores[-2]) / (logs[-1] - logs[-2])
            return float(scores[-1] + slope * (target - logs[-1]))
        if target > logs[0]:
            slope = (scores[1] - scores[0]) / (logs[1] - logs[0])
            return float(scores[0] + slope * (target - logs[0]))
        return float(np.interp(-target, -logs, scores))

    def evidence(self, score: float) -> float:
        """-log10(FMR): 0 means no evidence, 4 means one in ten thousand impostors score this."""
        return -math.log10(self.fmr(score))


FACE = Calibration("face-sface-cosine", params.FACE_SCORE_FMR)
FINGER = Calibration("finger-mcc-lssr", params.FINGER_SCORE_FMR)


class Decision(StrEnum):
    """What a check answers, the one vocabulary of the whole code (API, storage, metrics).

    ``hit``: act on it (expected FPIR <= ``HIT_TARGET_FPIR``); ``possible``: an NCB analyst
    reviews it (<= ``POSSIBLE_TARGET_FPIR``); ``no_hit``: nothing above the targets;
    ``recapture``: no capture was usable, so nothing was searched (never from ``decide``).
    """

    HIT = "hit"
    POSSIBLE = "possible"
    NO_HIT = "no_hit"
    RECAPTURE = "recapture"

    @property
    def rank(self) -> int:
        """How serious: a merge (central's result, a stolen document) only ever raises it."""
        return _RANK[self]

    @property
    def needs_review(self) -> bool:
        """Hit and possible go to the NCB's review queue (and to central first)."""
        return self in (Decision.HIT, Decision.POSSIBLE)

    def raised_to(self, other: Decision) -> Decision:
        """The more serious of the two (this one when they rank alike)."""
        return other if other.rank > self.rank else self


_RANK = {Decision.NO_HIT: 0, Decision.RECAPTURE: 0, Decision.POSSIBLE: 1, Decision.HIT: 2}


def fused_fmr(total_evidence: float, captures: int) -> float:
    """Chance that a different person's ``captures`` independent evidences sum to at least
    ``total_evidence``.

    Each capture's evidence is -log10(U) with U (its FMR) uniform for an impostor, so
    ln(10) x evidence is Exp(1) and the sum over k captures is Gamma(k, 1):
    P(sum >= s) = exp(-s) * sum_{i<k} s^i / i!. With one capture this is 10^-t; with three,
    reading 10^-t as the fused FMR would understate it about 90-fold at t = 5.
    """
    k = max(1, captures)
    s = max(0.0, total_evidence) * math.log(10)
    term, tail = 1.0, 1.0
    for i in range(1, k):
        term *= s / i
        tail += term
    return min(1.0, math.exp(-s) * tail)


def expected_fpir(
    evidences: Sequence[float], gallery_size: int, captures: int | None = None
) -> float:
    """Expected false positive identification rate of one candidate's evidences over a gallery
    of ``gallery_size`` subjects: N x the fused FMR of the evidences at or above
    ``FUSION_MIN_EVIDENCE``.

    ``captures``: how many independent captures were searched (a candidate may have evidence
    from fewer of them); defaults to ``len(evidences)``.
    """
    # Evidence weaker than the floor is what the best of many impostors scores anyway: it
    # would only add noise to the sum (the Gamma tail stays a conservative bound for it).
    total = sum(e for e in evidences if e >= params.FUSION_MIN_EVIDENCE)
    k = max(len(evidences), captures or 0)
    return min(1.0, max(1, gallery_size) * fused_fmr(total, k))


def decision_at(fpir: float) -> Decision:
    """``hit`` at most ``HIT_TARGET_FPIR``, ``possible`` at most ``POSSIBLE_TARGET_FPIR``."""
    if fpir <= params.HIT_TARGET_FPIR:
        return Decision.HIT
    if fpir <= params.POSSIBLE_TARGET_FPIR:
        return Decision.POSSIBLE
    return Decision.NO_HIT


def decide(
    evidences: Sequence[float], gallery_size: int, captures: int | None = None
) -> Decision:
    """Decide from one candidate's evidences over a gallery of ``gallery_size`` subjects
    (``expected_fpir`` then ``decision_at``)."""
    return decision_at(expected_fpir(evidences, gallery_size, captures))
