"""Synthetic fingerprints: determinism, format, and realism as NBIS sees it."""

from __future__ import annotations

import io
import itertools

import cv2
import nbis
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from simulator import params, synth
from simulator.cli import synth_app

FINGERS = 4
IMPRESSIONS = 3


@pytest.fixture(scope="module")
def small_set() -> dict[int, tuple[synth.MasterFingerprint, list[np.ndarray]]]:
    return {f: synth.generate_finger(7, f, IMPRESSIONS) for f in range(1, FINGERS + 1)}


@pytest.fixture(scope="module")
def templates(small_set: dict) -> dict[int, list]:
    ex = nbis.new_nbis_extractor(nbis.NbisExtractorSettings(
        min_quality=0.0, get_center=False, check_fingerprint=False, compute_nfiq2=False, ppi=None,
    ))
    return {
        f: [ex.extract_minutiae(synth.encode(img)) for img in images]
        for f, (_, images) in small_set.items()
    }


def test_same_seed_same_impressions(small_set: dict) -> None:
    _, again = synth.generate_finger(7, 1, IMPRESSIONS)
    for a, b in zip(small_set[1][1], again, strict=True):
        assert np.array_equal(a, b)


def test_different_fingers_differ(small_set: dict) -> None:
    assert not np.array_equal(small_set[1][0].ridges, small_set[2][0].ridges)


def test_impressions_are_500ppi_greyscale_sensor_images(small_set: dict) -> None:
    img = small_set[1][1][0]
    assert img.dtype == np.uint8
    assert img.shape == (params.IMPRESSION_HEIGHT, params.IMPRESSION_WIDTH)
    # A print on a background: dark ridges and a light background are both present.
    assert img.min() < 110 and img.max() > 180
    png = Image.open(io.BytesIO(synth.encode(img, "png")))
    assert png.mode == "L" and round(png.info["dpi"][0]) == params.SYNTH_PPI
    wsq = Image.open(io.BytesIO(synth.encode(img, "wsq")))
    assert wsq.size == (params.IMPRESSION_WIDTH, params.IMPRESSION_HEIGHT)


def test_encode_refuses_unknown_format(small_set: dict) -> None:
    with pytest.raises(ValueError, match="unknown image format"):
        synth.encode(small_set[1][1][0], "bmp")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("cls", "cores", "deltas"),
    [("arch", 0, 0), ("tented_arch", 1, 1), ("left_loop", 1, 1), ("right_loop", 1, 1),
     ("whorl", 2, 2)],
)
def test_class_singular_points(cls: synth.FingerprintClass, cores: int, deltas: int) -> None:
    rng = np.random.default_rng(3)
    sil, centre = synth._silhouette(rng, params.MASTER_HEIGHT, params.MASTER_WIDTH)
    c, d = synth._singular_points(cls, rng, centre)
    assert (len(c), len(d)) == (cores, deltas)
    if cls in ("left_loop", "right_loop"):
        # Henry: a left loop has its delta right of the core, a right loop left of it.
        assert (d[0][0] > c[0][0]) == (cls == "left_loop")


def test_orientation_field_turns_by_pi_around_a_core() -> None:
    """Poincare index +1/2 around a core, -1/2 around a delta (the zero-pole model's point)."""
    rng = np.random.default_rng(5)
    centre = (200.0, 240.0)
    cores, deltas = [(200.0, 200.0)], [(300.0, 320.0)]
    theta = synth._orientation_field("left_loop", cores, deltas, centre, rng, 480, 400)

    def index(x0: float, y0: float) -> float:
        angles = np.linspace(0, 2 * np.pi, 64, endpoint=False)
        pts = [(int(x0 + 20 * np.cos(a)), int(y0 + 20 * np.sin(a))) for a in angles]
        th = np.array([theta[y, x] for x, y in pts] + [theta[pts[0][1], pts[0][0]]])
        d = np.diff(th)
        d = (d + np.pi / 2) % np.pi - np.pi / 2  # orientation differences live in (-pi/2, pi/2]
        return float(d.sum() / (2 * np.pi))

    assert index(*cores[0]) == pytest.approx(0.5, abs=0.05)
    assert index(*deltas[0]) == pytest.approx(-0.5, abs=0.05)


def test_ridges_cover_the_canvas_with_realistic_period(small_set: dict) -> None:
    master = small_set[1][0]
    assert float((np.abs(master.ridges) < 0.1).mean()) < 0.05
    # Count ridge crossings along the middle row: ridge period of 7.5-11.25 px at 500 ppi.
    row = master.ridges[params.MASTER_HEIGHT // 2] > 0
    crossings = int(np.count_nonzero(row[1:] != row[:-1]))
    period = 2 * params.MASTER_WIDTH / max(crossings, 1)
    assert 6.0 < period < 16.0  # horizontal rows cut ridges obliquely, hence the wide band


def test_mindtct_finds_a_realistic_number_of_minutiae(templates: dict) -> None:
    counts = [len(t.get()) for ts in templates.values() for t in ts]
    assert 20 <= float(np.mean(counts)) <= 80


def test_bozorth3_separates_genuine_from_impostor(templates: dict) -> None:
    genuine = [a.compare(b) for ts in templates.values() for a, b in itertools.combinations(ts, 2)]
    firsts = [ts[0] for ts in templates.values()]
    impostor = [a.compare(b) for a, b in itertools.combinations(firsts, 2)]
    assert np.median(genuine) > 2 * np.median(impostor)
    assert np.median(genuine) > max(impostor)


def test_cli_writes_the_fvc_layout(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(synth_app, [
        "fingerprints", "--fingers", "1", "--impressions", "2", "--out", str(tmp_path),
        "--seed", "4", "--workers", "1",
    ])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["101_1.png", "101_2.png"]
    img = cv2.imread(str(tmp_path / "101_1.png"), cv2.IMREAD_UNCHANGED)
    assert img.ndim == 2


def test_cli_refuses_unknown_format(tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = CliRunner().invoke(synth_app, [
        "fingerprints", "--fingers", "1", "--out", str(tmp_path), "--format", "bmp",
    ])
    assert result.exit_code == 2
