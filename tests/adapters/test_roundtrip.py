"""A capture written as ANSI/NIST-ITL and parsed back gives the same check inputs and result.

Uses real FVC prints from ../shared/data when present (synthetic ridges otherwise): the pixels,
positions, resolutions, device data and document must survive, and the minutiae NBIS extracts
(what the gateway's check compares) must be identical.
"""

from __future__ import annotations

import numpy as np
import pytest

from device_adapters._common import decode_checked
from device_adapters.ansi_nist import parse_transaction, write_transaction
from device_adapters.capture import FingerImage
from matchers import fingerprint
from tests.adapters import builders as b


def _pixels(finger: FingerImage) -> np.ndarray:
    if finger.pixels is not None:
        return np.asarray(finger.pixels)
    assert finger.image is not None
    return decode_checked(finger.image, field="test").pixels


@pytest.mark.parametrize("fmt", ["wsq", "png", "jpeg", "jp2"])
def test_roundtrip_keeps_pixels_and_metadata(fmt: str) -> None:
    original = b.sample_capture(fingers=2, fmt=fmt)
    parsed = parse_transaction(write_transaction(original))
    assert [f.position for f in parsed.fingers] == [f.position for f in original.fingers]
    for before, after in zip(original.fingers, parsed.fingers, strict=True):
        assert after.ppi == before.ppi and after.device_quality == before.device_quality
        assert np.array_equal(_pixels(before), _pixels(after))
    assert parsed.faces[0].image == original.faces[0].image
    assert parsed.document == original.document
    device, expected = parsed.device, original.device
    assert (device.serial, device.model, device.firmware, device.operator_id) == (
        expected.serial, expected.model, expected.firmware, expected.operator_id)
    assert (device.latitude, device.longitude) == (expected.latitude, expected.longitude)
    assert parsed.purpose == original.purpose


def test_roundtrip_gives_the_same_check_result() -> None:
    if b.fvc_print(101) is None:
        pytest.skip("real prints not found in ../shared/data (FIELDCHECK_SHARED_DATA_DIR)")
    original = b.sample_capture(fingers=2, fmt="wsq")
    parsed = parse_transaction(write_transaction(original))
    for before, after in zip(original.fingers, parsed.fingers, strict=True):
        a = fingerprint.extract(pixels=_pixels(before), ppi=before.ppi, position=before.position)
        z = fingerprint.extract(pixels=_pixels(after), ppi=after.ppi, position=after.position)
        assert np.array_equal(a.minutiae, z.minutiae) and a.nfiq2 == z.nfiq2


def test_reencoding_as_wsq_for_int_i() -> None:
    original = b.sample_capture(fingers=2, fmt="png", face=False, mrz=None)
    data = write_transaction(original, finger_compression="wsq")
    assert b"14.011:WSQ20" in data
    parsed = parse_transaction(data)
    assert [f.source_format for f in parsed.fingers] == ["wsq", "wsq"]


def test_type4_records_are_read() -> None:
    pixels = b.finger_pixels(3)
    for compression in (1, 0):
        capture = parse_transaction(b.type4_transaction(pixels, position=3,
                                                        compression=compression))
        assert [f.position for f in capture.fingers] == [3]
        if compression == 0:
            assert np.array_equal(capture.fingers[0].pixels, pixels)
