"""Fusion counts only independent evidence; capture keys are the same in quality and scores."""

from __future__ import annotations

from matchers.fusion import Match, capture_key, independent


def _kept(found: list[tuple[str, str, float, float]]) -> dict[str, tuple[float, float]]:
    return {k: (m.score, m.evidence) for k, m in independent(Match(*f) for f in found).items()}


def test_same_print_sent_twice_counts_once() -> None:
    # finger_0 (unknown position) and finger_2 carry the same print: both match the subject's
    # enrolled right index (gallery key finger_2).
    found = [("finger_0", "finger_2", 0.05, 5.0), ("finger_2", "finger_2", 0.05, 5.0)]
    kept = _kept(found)
    assert len(kept) == 1 and sum(ev for _, ev in kept.values()) == 5.0


def test_two_impressions_of_one_enrolled_finger_count_once() -> None:
    # One probe finger matched two enrolled impressions (same gallery finger): one piece of
    # evidence; a second, different probe finger matching another gallery finger adds up.
    found = [("finger_2", "finger_2", 0.06, 6.0), ("finger_7", "finger_7", 0.04, 4.0),
             ("face", "face", 0.95, 4.5), ("finger_2", "finger_2", 0.05, 5.0)]
    kept = _kept(found)
    assert kept == {"finger_2": (0.06, 6.0), "face": (0.95, 4.5), "finger_7": (0.04, 4.0)}


def test_each_capture_used_once_strongest_first() -> None:
    found = [("finger_0", "tpl_a", 0.03, 3.0), ("finger_0", "tpl_b", 0.05, 5.0),
             ("finger_0_2", "tpl_b", 0.04, 4.0)]
    kept = _kept(found)
    # finger_0 takes tpl_b (strongest); finger_0_2 may not reuse tpl_b.
    assert kept == {"finger_0": (0.05, 5.0)}


def test_two_captures_of_one_position_are_two_captures() -> None:
    # Two prints sent for position 2 are two captures (finger_2, finger_2_2): each may bring
    # evidence for a different enrolled impression of unknown position.
    keys: list[str] = []
    for position in (2, 2, 0, 0):
        keys.append(capture_key("finger", position, keys))
    assert keys == ["finger_2", "finger_2_2", "finger_0", "finger_0_2"]
    found = [("finger_2", "tpl_a", 0.05, 5.0), ("finger_2_2", "tpl_b", 0.04, 4.0)]
    assert _kept(found) == {"finger_2": (0.05, 5.0), "finger_2_2": (0.04, 4.0)}
