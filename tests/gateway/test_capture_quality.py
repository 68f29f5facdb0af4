"""One finger quality rule for enrolment and checks, with one reason code per rule, and one key
per capture in both the check's quality and its candidates' scores (issue 15)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest

from device_adapters.capture import Capture, FingerImage
from gateway.checks import service
from gateway.watchlist import service as watchlist_service
from matchers import fingerprint as finger_matcher
from matchers import params
from matchers.errors import UnusableCapture
from matchers.templates import FingerprintTemplate


def _template(minutiae: int, nfiq2: int | None) -> FingerprintTemplate:
    rng = np.random.default_rng(minutiae)
    points = rng.uniform(0, 300, size=(minutiae, 4)).astype(np.float32)
    return FingerprintTemplate(minutiae=points, width=300, height=300, position=2, nfiq2=nfiq2,
                               capture_ppi=500, ppi_source="default")


@pytest.fixture()
def runtime():
    pool = ThreadPoolExecutor(max_workers=1)
    yield SimpleNamespace(extractor_pool=pool, settings=SimpleNamespace(extract_budget_s=30.0))
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
