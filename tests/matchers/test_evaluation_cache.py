"""``fieldcheck evaluate fingerprints``: the minutiae cache and the folder-of-sets layout."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from matchers import evaluation, fingerprint
from matchers.errors import MatcherError


@pytest.fixture()
def tiny_set(shared_data: Path, tmp_path: Path) -> Path:
    src = shared_data / "fingerprints" / "fvc2002_db1_b"
    folder = tmp_path / "sets" / "tiny"
    folder.mkdir(parents=True)
    for name in ("101_1.tif", "101_2.tif", "102_1.tif"):
        shutil.copy(src / name, folder / name)
    return folder


def test_cached_minutiae_are_reused_until_a_file_changes(tiny_set: Path, tmp_path, monkeypatch):
    cache = tmp_path / "cache"
    first = evaluation.load_fvc(tiny_set, cache=cache)
    assert (cache / "tiny.leader.npz").exists()
    calls = []
    real_extract = fingerprint.extract

    def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        return real_extract(*args, **kwargs)

    monkeypatch.setattr(fingerprint, "extract", counting)
    again = evaluation.load_fvc(tiny_set, cache=cache)
    assert calls == []  # nothing re-extracted
    assert sorted(again) == sorted(first)
    for key in first:
        np.testing.assert_array_equal(again[key].minutiae, first[key].minutiae)
        assert (again[key].width, again[key].nfiq2) == (first[key].width, first[key].nfiq2)
        if first[key].minutia_types is None:
            assert again[key].minutia_types is None
        else:
            np.testing.assert_array_equal(again[key].minutia_types, first[key].minutia_types)
    # Another print under the same name: the cache no longer describes the files.
    shutil.copy(tiny_set / "102_1.tif", tiny_set / "101_2.tif")
    changed = evaluation.load_fvc(tiny_set, cache=cache)
    assert len(calls) == 3
    np.testing.assert_array_equal(changed[(101, 2)].minutiae, first[(102, 1)].minutiae)


def test_a_folder_of_sets_is_evaluated_set_by_set(tiny_set: Path, tmp_path: Path) -> None:
    assert evaluation.fvc_sets(tiny_set) == [tiny_set]
    assert evaluation.fvc_sets(tiny_set.parent) == [tiny_set]
    report = evaluation.evaluate_fingerprint_sets(tiny_set.parent, cache=tmp_path / "c")
    assert [r["set"] for r in report["sets"]] == ["tiny"]
    assert report["sets"][0]["genuine_pairs"] == 1 and report["sets"][0]["impostor_pairs"] == 1
    assert report["mean_eer"] == report["sets"][0]["eer"]
    with pytest.raises(MatcherError):
        evaluation.fvc_sets(tmp_path / "c")  # only .npz files: no prints anywhere
