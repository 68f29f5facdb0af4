"""One finger quality rule for enrolment and checks, with one reason code per rule, and one key
per capture in both the check's quality and its candidates' scores (issue 15)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from device_adapters.capture import Capture, FingerImage, FingerTemplate
from gateway.checks import service
from gateway.extraction import ExtractionPool
from gateway.watchlist import service as watchlist_service
from matchers import fingerprint as finger_matcher
from matchers import iso19794, params
from matchers.errors import UnusableCapture
from matchers.templates import FingerprintTemplate


def _template(minutiae: int, nfiq2: int | None) -> FingerprintTemplate:
    rng = np.random.default_rng(minutiae)
    points = rng.uniform(0, 300, size=(minutiae, 4)).astype(np.float32)
    return FingerprintTemplate(minutiae=points, width=300, height=300, position=2, nfiq2=nfiq2,
                               capture_ppi=500, ppi_source="default")


@pytest.fixture()
def runtime():
    pool = ExtractionPool(0)
    yield SimpleNamespace(extraction=pool, settings=SimpleNamespace(extract_budget_s=30.0))
    pool.shutdown()


@pytest.mark.parametrize(("minutiae", "nfiq2", "reason"), [
    (params.FINGER_MIN_MINUTIAE - 3, 60, "too_few_minutiae"),
    (40, params.FINGER_MIN_NFIQ2_CHECK - 1, "low_quality"),
])
def test_a_check_refuses_a_print_with_the_reason_enrolment_gives(
    runtime, monkeypatch, minutiae: int, nfiq2: int, reason: str
) -> None:
    made = _template(minutiae, nfiq2)
    monkeypatch.setattr(finger_matcher, "extract", lambda *a, **k: made)
    probes = service.extract_probes(runtime, Capture(fingers=[FingerImage(2, image=b"x")]))
    assert probes.quality["finger_2"]["status"] == "unusable"
    assert probes.quality["finger_2"]["reason"] == reason
    assert probes.quality["finger_2"]["minutiae"] == minutiae
    assert not probes.fingers
    with pytest.raises(UnusableCapture) as refused:
        watchlist_service.extract_fingerprint(b"x", position=2, ppi=None)
    assert refused.value.reason == reason


def test_enrolment_is_stricter_than_a_check_on_nfiq2(runtime, monkeypatch) -> None:
    # Between the two minimums: searched in a check, refused as a watchlist reference.
    made = _template(40, params.FINGER_MIN_NFIQ2_ENROL - 1)
    monkeypatch.setattr(finger_matcher, "extract", lambda *a, **k: made)
    probes = service.extract_probes(runtime, Capture(fingers=[FingerImage(2, image=b"x")]))
    assert probes.quality["finger_2"]["status"] == "ok"
    with pytest.raises(UnusableCapture, match="needed to enrol"):
        watchlist_service.extract_fingerprint(b"x", position=2, ppi=None)


def test_quality_and_probes_share_capture_keys(runtime, monkeypatch) -> None:
    made = _template(40, 60)
    monkeypatch.setattr(finger_matcher, "extract", lambda *a, **k: made)
    capture = Capture(fingers=[FingerImage(2, image=b"a"), FingerImage(2, image=b"b"),
                               FingerImage(0, image=b"c")])
    probes = service.extract_probes(runtime, capture)
    assert list(probes.fingers) == ["finger_2", "finger_2_2", "finger_0"]
    assert set(probes.fingers) <= set(probes.quality)


def _iso_record(minutiae: int, quality_byte: int) -> bytes:
    rng = np.random.default_rng(minutiae)
    points = np.column_stack([rng.uniform(20, 280, minutiae), rng.uniform(20, 380, minutiae),
                              rng.uniform(0, 6.28, minutiae), np.full(minutiae, 0.6)])
    return iso19794.encode(points.astype(np.float32), width=300, height=400, position=2,
                           quality=quality_byte)


@pytest.mark.parametrize("quality_byte", [3, 5, 60])
def test_a_device_template_is_judged_on_its_minutiae_not_its_vendor_quality_byte(
    runtime, quality_byte: int
) -> None:
    # The record's quality byte is the vendor's own scale (NFIQ 1's 1-5 for some), not NFIQ 2:
    # a good template with byte 3 was refused "NFIQ 2 quality 3 is below 10" (review finding).
    record = _iso_record(35, quality_byte)
    probes = service.extract_probes(
        runtime, Capture(templates=[FingerTemplate(position=2, iso_19794_2=record)]))
    assert probes.quality["finger_2"] == {"status": "ok", "minutiae": 35,
                                          "source": "device_template"}
    assert list(probes.fingers) == ["finger_2"]
    template = FingerprintTemplate.from_iso(record)
    assert (template.nfiq2, template.device_quality) == (None, quality_byte)
    assert template.to_iso() == record  # the byte is kept, as the device wrote it

    few = _iso_record(params.FINGER_MIN_MINUTIAE - 3, quality_byte)
    probes = service.extract_probes(
        runtime, Capture(templates=[FingerTemplate(position=2, iso_19794_2=few)]))
    assert probes.quality["finger_2"]["reason"] == "too_few_minutiae"
    assert not probes.fingers
