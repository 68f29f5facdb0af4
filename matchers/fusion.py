"""Fusion: each capture's matches -> independent evidence per subject -> one decision each.

    captures ──search──► Match(capture, gallery, score, evidence)  per subject
             ──independent()──► each capture and each enrolled biometric used once
             ──fuse()──► Fused(decision, expected FPIR, fused score), most serious first

Evidence is ``-log10 FMR`` from ``matchers.calibration``; the decision rule (the Gamma tail of
the summed evidences times the gallery size against the target FPIRs) is
``calibration.expected_fpir`` / ``calibration.decision_at`` (docs/CALIBRATION.md).

Capture keys (``capture_key``) name each capture of a check the same way everywhere: in the
check's ``quality`` and in each candidate's ``scores``, so a device can join the two.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass

from matchers import calibration
from matchers.calibration import Decision

FACE = "face"


def capture_key(modality: str, position: int | None, taken: Collection[str]) -> str:
    """The key of a check's next capture: ``face``, ``face_2``...; ``finger_<position>``, and
    ``finger_<position>_2``... for a second capture of the same position (``finger_0``: position
    unknown). ``taken``: the keys already given in this check."""
    base = FACE if modality == FACE else f"finger_{position or 0}"
    key, n = base, 2
    while key in taken:
        key = f"{base}_{n}"
        n += 1
    return key


def face_gallery_key() -> str:
    """Every enrolled photo of a subject is one face: one piece of evidence."""
    return FACE


def finger_gallery_key(position: int | None, template_id: str) -> str:
    """An enrolled finger is one piece of evidence however many impressions it has; one of
    unknown position is only itself."""
    return f"finger_{position}" if position else template_id


@dataclass(frozen=True)
class Match:
    """One capture's best score against one enrolled biometric of a subject."""

    capture: str  # capture_key of the probe
    gallery: str  # which enrolled biometric (face_gallery_key / finger_gallery_key)
    score: float  # the matcher's raw score
    evidence: float  # -log10 FMR of the score (calibration)


@dataclass(frozen=True)
class Fused:
    subject_id: str
    decision: Decision
    expected_fpir: float
    scores: dict[str, Match]  # capture key -> the evidence kept for it

    @property
    def fused_score(self) -> float:
        """The summed evidence kept (before the ``FUSION_MIN_EVIDENCE`` floor of the rule)."""
        return sum(m.evidence for m in self.scores.values())


def independent(matches: Iterable[Match]) -> dict[str, Match]:
    """Keep evidence that is independent: each capture and each gallery biometric used once.

    Greedy, strongest first. Without it the same print sent as finger_0 and finger_2 (or one
    probe matching two impressions of the same enrolled finger) would count twice.
    """
    used_captures: set[str] = set()
    used_gallery: set[str] = set()
    kept: dict[str, Match] = {}
    for m in sorted(matches, key=lambda m: -m.evidence):
        if m.capture in used_captures or m.gallery in used_gallery:
            continue
        used_captures.add(m.capture)
        used_gallery.add(m.gallery)
        kept[m.capture] = m
    return kept


def fuse(
    matches: Mapping[str, Iterable[Match]], *, gallery_size: int, captures: int
) -> list[Fused]:
    """Every subject's decision, most serious first (then by fused score).

    ``captures``: independent captures searched (one face however many photos, plus each
    finger); a subject with evidence from fewer of them is judged over all of them.
    """
    fused = []
    for subject_id, found in matches.items():
        kept = independent(found)
        fpir = calibration.expected_fpir([m.evidence for m in kept.values()], gallery_size,
                                         captures=captures)
        fused.append(Fused(subject_id, calibration.decision_at(fpir), fpir, kept))
    fused.sort(key=lambda f: (-f.decision.rank, -f.fused_score))
    return fused
