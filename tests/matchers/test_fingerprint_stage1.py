"""Stage 1 of the fingerprint search (LSH of cylinder bits): the shortlist finds the mate.

A small version of ``fieldcheck bench fingerprint``: 2,000 distinct synthetic templates plus the
ten first impressions of FVC2002 DB1 B, searched with impressions 2-3 (20 probes; only the 30
prints used are extracted, ~20 s of LEADER). The shortlist is
cut to 20 candidates (1% of the gallery, as 300 is 0.3% of 100k), so a stage 1 that ranks the
mate no better than chance (1%) or than the bag of codewords it replaced fails.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from matchers import mcc, synthetic
from matchers.cylinder_hash import EMPTY, CylinderSketch, HashTables
from matchers.fingerprint_index import FingerprintIndex, hash_family


@pytest.fixture(scope="module")
def synthetic_cylinders() -> list[mcc.Cylinders]:
    rng = np.random.default_rng(41)
    return [mcc.cylinders(synthetic.minutiae(rng)) for _ in range(2000)]


@pytest.fixture(scope="module")
def fvc_first_three(shared_data: Path) -> dict:
    """Templates of impressions 1-3 of FVC2002 DB1 B's ten fingers (what the tests use)."""
    from matchers import fingerprint

    folder = shared_data / "fingerprints" / "fvc2002_db1_b"
    if not folder.exists():
        pytest.skip("fvc2002_db1_b not in the shared data")
    return {(finger, impression): fingerprint.extract(
                (folder / f"{finger}_{impression}.tif").read_bytes(), ppi=500)
            for finger in range(101, 111) for impression in (1, 2, 3)}


@pytest.fixture(scope="module")
def gallery(synthetic_cylinders, fvc_first_three: dict):
    index = FingerprintIndex()
    for i, cyl in enumerate(synthetic_cylinders):
        index.add_cylinders(f"synth-{i}", f"synth-{i}", cyl, 2 + 5 * (i % 2))
    probes = []
    for (finger, impression), t in sorted(fvc_first_three.items()):
        cyl = mcc.cylinders(t.minutiae)
        position = 2 + 5 * (finger % 2)
        if impression == 1:
            index.add_cylinders(f"{finger}_1", str(finger), cyl, position)
        else:
            probes.append((str(finger), cyl, position))
    return index, probes


def test_shortlist_finds_the_mate_among_the_best_one_percent(gallery) -> None:
    index, probes = gallery
    found = sum(
        f"{finger}_1" in index.shortlist(cyl, position, 20) for finger, cyl, position in probes
    )
    unknown = sum(f"{finger}_1" in index.shortlist(cyl, 0, 20) for finger, cyl, _ in probes)
    assert found / len(probes) >= 0.9
    assert unknown / len(probes) >= 0.9


def test_search_through_a_small_shortlist_identifies_real_probes(gallery) -> None:
    index, probes = gallery
    hits = sum(
        (r := index.search_cylinders(cyl, position, 1, shortlist=20)) != []
        and r[0].subject_id == finger
        for finger, cyl, position in probes
    )
    assert hits / len(probes) >= 0.9


def test_tail_and_sorted_tables_give_the_same_votes(synthetic_cylinders) -> None:
    family = CylinderSketch(3, 12, 8, 3)
    sample = synthetic_cylinders[:200]
    keys = [family.keys(c.bits) for c in sample]
    tail = HashTables(family)
    for row, k in enumerate(keys):
        tail.append(k, row)
    merged = HashTables(family)
    merged.build(np.concatenate(keys), np.repeat(np.arange(200), [len(k) for k in keys]))
    half = HashTables(family)  # half filed, half in the tail, then merged
    for row, k in enumerate(keys[:100]):
        half.append(k, row)
    half.merge_tail()
    for row, k in enumerate(keys[100:], start=100):
        half.append(k, row)
    for probe in keys[:5]:
        expected = merged.votes(probe, 200)
        assert expected.max() > 0
        np.testing.assert_allclose(tail.votes(probe, 200), expected, rtol=1e-5)
        np.testing.assert_allclose(half.votes(probe, 200), expected, rtol=1e-5)
    # A template collides with itself on every key.
    assert int(np.argmax(merged.votes(keys[7], 200))) == 7


def test_probe_keys_match_bulk_keys(synthetic_cylinders) -> None:
    family = hash_family()
    bits = np.concatenate([c.bits for c in synthetic_cylinders[:150]])
    bulk = family.keys(bits)
    np.testing.assert_array_equal(np.concatenate([family.keys(bits[:7]), family.keys(bits[7:])]),
                                  bulk)
    present = bulk != EMPTY
    assert present.mean() > 0.8  # nearly every cylinder has 3+ set bits
    assert len(np.unique(bulk[present])) > 0.5 * present.sum()  # keys are rarely shared


def test_saved_index_keeps_its_shortlist_after_removals(gallery, tmp_path: Path) -> None:
    index, probes = gallery
    finger, cyl, position = probes[0]
    before = index.shortlist(cyl, position, 50)
    index.save(tmp_path / "whole")
    assert FingerprintIndex.load(tmp_path / "whole").shortlist(cyl, position, 50) == before
    own = synthetic_cylinders_probe(index)
    assert index.shortlist(own, 0, 5)[0] == "synth-3"
    index.remove("synth-3")
    assert "synth-3" not in index.shortlist(own, 0, 50)
    index.save(tmp_path)
    loaded = FingerprintIndex.load(tmp_path, mmap=True)
    assert "synth-3" not in loaded.shortlist(own, 0, 50)
    assert loaded.search_cylinders(cyl, position, 1) == index.search_cylinders(cyl, position, 1)


def synthetic_cylinders_probe(index: FingerprintIndex) -> mcc.Cylinders:
    """Template synth-3's own cylinders (still stored, tombstoned)."""
    row = 3
    start, count = int(index._offsets[row]), int(index._counts[row])
    return mcc.Cylinders(
        index._bits[start : start + count],
        index._valid[start : start + count],
        index._xyt[start : start + count],
    )
