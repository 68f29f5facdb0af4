"""Extractors never crash on degenerate images: odd shapes give UnusableCapture, not cv2.error."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from matchers import face, fingerprint
from matchers.errors import UnusableCapture


def _png(height: int, width: int, channels: int) -> bytes:
    rng = np.random.default_rng(0)
    shape = (height, width, channels) if channels > 1 else (height, width)
    ok, data = cv2.imencode(".png", rng.integers(0, 256, shape, dtype=np.uint8))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(("height", "width"), [(2, 5000), (5000, 2)])
def test_face_extract_thin_image_is_unusable_not_a_crash(height: int, width: int) -> None:
    with pytest.raises(UnusableCapture) as err:
        face.extract(_png(height, width, 3))
    assert err.value.reason in {"no_face", "unreadable_image"}


@pytest.mark.parametrize(("height", "width"), [(2, 5000), (5000, 2)])
def test_detect_clamps_the_downscaled_size(height: int, width: int) -> None:
    assert face.detect(np.zeros((height, width, 3), np.uint8)) == []


@pytest.mark.parametrize(("height", "width"), [(2, 5000), (5000, 2)])
def test_fingerprint_extract_thin_image_is_unusable_not_a_crash(height: int, width: int) -> None:
    with pytest.raises(UnusableCapture) as err:
        fingerprint.extract(_png(height, width, 1))
    assert err.value.reason in {"image_too_small", "unreadable_image"}
    with pytest.raises(UnusableCapture):
        fingerprint.extract(_png(height, width, 1), ppi=100)


def _raise_cv2(*_args: object, **_kwargs: object) -> None:
    raise cv2.error("simulated OpenCV failure")


def test_unexpected_library_errors_become_unreadable_image(monkeypatch) -> None:
    photo, print_png = _png(1000, 1400, 3), _png(300, 300, 1)
    monkeypatch.setattr(face.cv2, "resize", _raise_cv2)
    with pytest.raises(UnusableCapture) as err:
        face.extract(photo)
    assert err.value.reason == "unreadable_image"
    assert isinstance(err.value.__cause__, cv2.error)
    monkeypatch.setattr(fingerprint.cv2, "imencode", _raise_cv2)
    with pytest.raises(UnusableCapture) as err:
        fingerprint.extract(print_png)
    assert err.value.reason == "unreadable_image"
    assert isinstance(err.value.__cause__, cv2.error)


def test_wrong_array_shapes_are_unreadable() -> None:
    with pytest.raises(UnusableCapture) as err:
        face.extract(rgb=np.zeros((10, 10), np.uint8))
    assert err.value.reason == "unreadable_image"
    with pytest.raises(UnusableCapture) as err:
        face.extract(rgb=np.zeros((100, 100, 3), np.float32))
    assert err.value.reason == "unreadable_image"
    with pytest.raises(UnusableCapture) as err:
        fingerprint.extract(pixels=np.zeros((100, 100, 3), np.uint8))
    assert err.value.reason == "unreadable_image"
