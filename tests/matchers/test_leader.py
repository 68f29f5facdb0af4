"""LEADER minutiae through onnxruntime: the model's interface, decoding checked against matching
(genuine pairs must match, the angle convention must be the one MCC uses), the foreground crop,
batching and concurrent use (issue 12)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from matchers import calibration, leader, mcc, params
from matchers.images import decode_image


def _print(shared_data: Path, name: str, folder: str = "fvc2002_db1_b") -> np.ndarray:
    path = shared_data / "fingerprints" / folder / name
    if not path.exists():
        pytest.skip(f"{folder} not in the shared data")
    return decode_image(path.read_bytes(), mode="L")


def _matched(a: np.ndarray, b: np.ndarray, tol: float = 2.0) -> float:
    """Fraction of a's minutiae with a minutia of b within ``tol`` px."""
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    d = np.hypot(a[:, None, 0] - b[None, :, 0], a[:, None, 1] - b[None, :, 1])
    return float(np.mean(d.min(axis=1) <= tol)) if len(b) else 0.0


def test_model_interface_is_what_the_decoder_assumes() -> None:
    sess = leader.session()
    (inp,) = sess.get_inputs()
    (out,) = sess.get_outputs()
    assert inp.name == "input" and inp.type == "tensor(float)" and inp.shape[-1] == 1
    assert len(inp.shape) == 4 and out.shape[-1] == 4
    result = sess.run(None, {"input": np.full((1, 64, 96, 1), 255.0, np.float32)})[0]
    assert result.shape == (1, 64, 96, 4)  # same spatial size: a per-pixel map


def test_minutiae_are_decoded_in_range(shared_data: Path) -> None:
    px = _print(shared_data, "101_1.tif")
    m = leader.minutiae(px)
    assert m.dtype == np.float32 and m.shape[1] == 4
    assert 15 <= len(m) <= params.LEADER_MAX_MINUTIAE
    assert np.all((m[:, 0] >= 0) & (m[:, 0] < px.shape[1]))
    assert np.all((m[:, 1] >= 0) & (m[:, 1] < px.shape[0]))
    assert np.all((m[:, 2] >= 0) & (m[:, 2] < 2 * np.pi))
    assert np.all(m[:, 3] >= params.LEADER_MIN_SCORE) and np.all(np.diff(m[:, 3]) <= 0)


def test_genuine_pairs_match_and_impostors_do_not(shared_data: Path) -> None:
    """Checks the decoding end to end: with the angle read as channel 1 (ISO convention, like
    nbis-py's), impressions of one finger score far above the 1e-4 FMR threshold and other
    fingers below; negating the angle (the other convention) breaks genuine matching."""
    a, b = leader.minutiae(_print(shared_data, "101_1.tif")), leader.minutiae(
        _print(shared_data, "101_2.tif")
    )
    other = leader.minutiae(_print(shared_data, "102_1.tif"))
    threshold = calibration.FINGER.score_at(1e-4)
    assert mcc.compare(a, b) > threshold
    assert mcc.compare(a, other) < threshold
    flipped = b.copy()
    flipped[:, 2] = np.mod(-flipped[:, 2], 2 * np.pi)
    assert mcc.compare(a, flipped) < 0.5 * mcc.compare(a, b)


def test_foreground_crop_keeps_the_minutiae(shared_data: Path) -> None:
    px = _print(shared_data, "103_1.tif")
    framed = np.full((px.shape[0] + 200, px.shape[1] + 160), 255, np.uint8)
    framed[100 : 100 + px.shape[0], 80 : 80 + px.shape[1]] = px
    top, bottom, left, right = leader.foreground_box(framed)
    assert (bottom - top) * (right - left) < 0.75 * framed.size  # the blank frame is cut
    cropped, full = leader.minutiae(framed), leader.minutiae(framed, crop=False)
    assert _matched(cropped, full) >= 0.9 and _matched(full, cropped) >= 0.9


def test_batch_gives_the_single_results(shared_data: Path) -> None:
    prints = [_print(shared_data, n) for n in ("101_1.tif", "104_3.tif")]
    batch = leader.minutiae_batch(prints)
    for p, found in zip(prints, batch, strict=True):
        single = leader.minutiae(p)
        assert _matched(single, found) >= 0.9 and _matched(found, single) >= 0.9


def test_concurrent_extraction_gives_the_sequential_results(shared_data: Path) -> None:
    prints = [_print(shared_data, f"10{i}_1.tif") for i in range(1, 5)]
    sequential = [leader.minutiae(p) for p in prints]
    with ThreadPoolExecutor(4) as pool:
        concurrent = list(pool.map(leader.minutiae, prints * 2))
    for i, found in enumerate(concurrent):
        np.testing.assert_array_equal(found, sequential[i % 4])


def test_a_faint_noisy_finger_keeps_enough_minutiae_to_match_itself(shared_data: Path) -> None:
    """fvc2000_db4_b finger 101 (SFinGe, faint dotted ridges): LEADER scores most of its true
    minutiae below 0.5. With the former cut (0.55) its impressions kept 4-20 minutiae and 18 of
    the 28 genuine pairs scored like impostors (10 above the FMR 1e-3 point), which made the
    set's EER 6.55%; the cut chosen by leaving one set out (0.1) keeps 18-24 and 24 pairs match."""
    folder = shared_data.parent / "datasets" / "fingerprints" / "fvc2000_db4_b_synthetic"
    if not folder.exists():
        pytest.skip("fvc2000_db4_b_synthetic not in the shared datasets")
    found = [
        leader.minutiae(decode_image((folder / f"101_{i}.tif").read_bytes(), mode="L"))
        for i in range(1, 9)
    ]
    assert min(len(m) for m in found) >= 15
    cylinders = [mcc.cylinders(m) for m in found]
    threshold = calibration.FINGER.score_at(1e-3)
    genuine = [
        mcc.score_many(cylinders[a], [cylinders[b]])[0]
        for a in range(8)
        for b in range(a + 1, 8)
    ]
    assert sum(s > threshold for s in genuine) >= 20
