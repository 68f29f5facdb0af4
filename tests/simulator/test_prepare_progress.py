"""The simulator reports its preparation (synthetic prints) step by step, not one long silence."""

from __future__ import annotations

from simulator.population import build_population


def test_build_population_reports_each_fingerprint() -> None:
    steps: list[tuple[str, int, int]] = []
    people = build_population(identities=3, enrolled_share=0.5, fingers_per_subject=1,
                              faces_dir=None, seed=3, workers=1,
                              on_step=lambda *step: steps.append(step))
    assert len(people) == 3
    assert steps[0] == ("synthetic fingerprints", 0, 3)
    assert [done for _, done, _ in steps] == [0, 1, 2, 3]
    assert all(total == 3 for _, _, total in steps)
