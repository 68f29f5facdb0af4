"""FaceIndex: top-k, several photos per subject, bad inputs, batch = single, persistence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matchers import calibration, synthetic
from matchers.errors import TemplateError
from matchers.index import FaceIndex


@pytest.fixture()
def index() -> tuple[FaceIndex, np.ndarray]:
    rng = np.random.default_rng(1)
    emb = synthetic.face_embeddings(rng, 3000)
    idx = FaceIndex()
    idx.add_many([f"t{i}" for i in range(3000)], [f"s{i // 3}" for i in range(3000)], emb)
    return idx, emb


def test_top_k_one_per_subject(index) -> None:
    idx, emb = index
    found = idx.search(emb[10], 5)
    assert found[0].template_id == "t10" and found[0].subject_id == "s3"
    assert found[0].score == pytest.approx(1.0, abs=1e-5)
    assert len({m.subject_id for m in found}) == 5
    assert [m.score for m in found] == sorted((m.score for m in found), reverse=True)
    exact = np.sort(emb @ emb[10])[::-1]
    assert found[0].score == pytest.approx(exact[0], abs=1e-5)


def test_batch_equals_single(index) -> None:
    idx, emb = index
    probes = emb[[0, 500, 2999]] + 0.01
    batch = idx.search_batch(probes, 4)
    single = [idx.search(p, 4) for p in probes]
    assert [[m.template_id for m in r] for r in batch] == [
        [m.template_id for m in r] for r in single
    ]
    assert np.allclose(
        [[m.score for m in r] for r in batch], [[m.score for m in r] for r in single], atol=1e-5
    )


@pytest.mark.parametrize("bad", [np.full(128, np.nan), np.zeros(128), np.ones(127), np.ones(300)])
def test_bad_probe_gives_empty_answer(index, bad: np.ndarray) -> None:
    idx, _ = index
    assert idx.search(bad, 3) == []
    results = idx.search_batch(np.stack([np.full(128, np.nan), np.ones(128)]), 3)
    assert results[0] == [] and len(results[1]) == 3
    with pytest.raises(TemplateError):
        idx.add("bad", "x", bad)


def test_remove_and_multi_photo(index) -> None:
    idx, emb = index
    assert idx.remove("t10")
    assert idx.search(emb[10], 1)[0].template_id != "t10"
    assert idx.search(emb[11], 1)[0].subject_id == "s3"
    assert idx.remove_subject("s3") == 2
    assert all(m.subject_id != "s3" for m in idx.search(emb[11], 10))
    assert FaceIndex().search(emb[0], 3) == []


def test_persistence_round_trip(index, tmp_path: Path) -> None:
    idx, emb = index
    idx.remove("t7")
    idx.save(tmp_path)
    loaded = FaceIndex.load(tmp_path, mmap=True)
    assert len(loaded) == len(idx) == 2999
    for p in emb[[1, 7, 2500]]:
        assert loaded.search(p, 5) == idx.search(p, 5)
    loaded.add("new", "s-new", emb[7])
    assert loaded.search(emb[7], 1)[0].template_id == "new"


def test_calibration_monotone_and_inverse() -> None:
    for cal in (calibration.FACE, calibration.FINGER):
        scores = [s for s, _ in cal.points]
        ev = [cal.evidence(s) for s in np.linspace(scores[0] - 0.1, scores[-1] + 0.1, 50)]
        assert all(b >= a - 1e-9 for a, b in zip(ev, ev[1:], strict=False))
        # The inverse holds inside the table and on the extrapolated tail beyond its last point.
        for fmr in (1e-3, cal.points[-1][1] / 20, 1e-8):
            assert cal.fmr(cal.score_at(fmr)) == pytest.approx(fmr, rel=1e-3)
        assert cal.evidence(float("nan")) == 0.0
    assert calibration.decide([5.0, 3.0], 1000) == "hit"
    assert calibration.decide([4.0, 3.0], 1000) == "possible"  # Gamma(2) tail
    assert calibration.decide([1.0], 1000) == "no_hit"
