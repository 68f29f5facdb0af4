"""`fieldcheck evaluate faces --open-set` on a small real LFW folder (mated + non-mated)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app


@pytest.fixture(scope="module")
def small_open_set(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    lfw = shared_data / "faces" / "lfw"
    if not lfw.is_dir():
        pytest.skip("lfw not in the shared data")
    people = sorted(p for p in lfw.iterdir() if p.is_dir())
    root = tmp_path_factory.mktemp("open_set")
    # 8 identities with 3 photos (enrolled, 2 mated searches each) and 12 with one photo (6
    # distractors in the gallery, 6 strangers searched), linked, never copied.
    for i, person in enumerate(people[:20]):
        folder = root / person.name
        folder.mkdir()
        for photo in sorted(person.glob("*.jpg"))[: 3 if i < 8 else 1]:
            (folder / photo.name).symlink_to(photo)
    return root


def test_open_set_report_counts_and_decisions(small_open_set: Path, tmp_path: Path) -> None:
    det = tmp_path / "det.png"
    cache = tmp_path / "emb.npz"
    args = ["evaluate", "faces", str(small_open_set), "--open-set", "--json", "--det", str(det),
            "--cache", str(cache)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["gallery_subjects"] == 8 + 6
    assert report["mated_searches"] == 16 and report["non_mated_searches"] == 6
    assert set(report["fnir_at_fpir"]) == {"0.1", "0.01", "0.001"}
    mated, non_mated = report["gateway_mated"], report["gateway_non_mated"]
    # Same-person LFW photos are found; no stranger is reported as a hit.
    assert mated["hit_or_possible"] >= 0.8 and mated["hit_wrong_subject"] == 0
    assert non_mated["hit"] == 0
    assert report["rank1_mated"] >= 0.9
    assert det.stat().st_size > 1000
    # A second run reads the cached embeddings and gives the same report.
    again = CliRunner().invoke(app, args)
    assert json.loads(again.output.strip().splitlines()[-1]) == report


def test_split_half_fits_on_one_half_and_searches_the_other(small_open_set: Path) -> None:
    from matchers import evaluation

    cache = small_open_set.parent / "split.npz"
    whole = evaluation.evaluate_faces_open_set(small_open_set, cache=cache)
    split = evaluation.evaluate_faces_open_set(small_open_set, cache=cache, split_half=True)
    fitted = split["split_half_calibration"]
    # The two halves partition the identities: none fitted on is enrolled or searched.
    assert fitted["identities"] + split["gallery_subjects"] + split["non_mated_searches"] == 20
    assert split["gallery_subjects"] < whole["gallery_subjects"]
    assert fitted["impostor_pairs"] > 0 and "0.1" in fitted["points"]
