"""The capture's real resolution: declared ppi in image headers, ISO records at other resolutions,
and the refusal of prints below what 500 ppi matching needs (issue 12)."""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from matchers import fingerprint, iso19794, mcc
from matchers.errors import UnusableCapture
from matchers.images import declared_ppi


def _encode(pixels: np.ndarray, fmt: str, **kw: object) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, fmt, **kw)
    return buf.getvalue()


@pytest.mark.parametrize("fmt", ["PNG", "TIFF", "JPEG"])
def test_declared_ppi_read_from_each_format(fmt: str) -> None:
    pixels = np.full((40, 40), 200, np.uint8)
    assert declared_ppi(_encode(pixels, fmt, dpi=(1000, 1000))) == 1000
    assert declared_ppi(_encode(pixels, fmt, dpi=(500, 500))) == 500
    assert declared_ppi(_encode(pixels, fmt)) is None


def test_declared_ppi_ignores_implausible_and_unknown_values(shared_data: Path) -> None:
    pixels = np.full((40, 40), 200, np.uint8)
    assert declared_ppi(_encode(pixels, "PNG", dpi=(72, 72))) is None  # editor default
    assert declared_ppi(_encode(pixels, "PNG", dpi=(1000, 500))) is None  # anisotropic
    assert declared_ppi(b"not an image") is None
    assert declared_ppi(b"") is None
    fvc = shared_data / "fingerprints" / "fvc2002_db1_b" / "101_1.tif"
    assert declared_ppi(fvc.read_bytes()) is None  # FVC TIFFs declare 1 x 1


def _fvc(shared_data: Path, name: str) -> np.ndarray:
    from matchers.images import decode_image

    return decode_image(
        (shared_data / "fingerprints" / "fvc2002_db1_b" / name).read_bytes(), mode="L"
    )


def test_png_header_resolution_is_used_when_the_request_gives_none(shared_data: Path) -> None:
    """A 1000 ppi PNG without a ppi field was matched as if 500 ppi (twice too large)."""
    px = _fvc(shared_data, "101_2.tif")
    double = cv2.resize(px, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC)
    png = _encode(double, "PNG", dpi=(1000, 1000))
    t = fingerprint.extract(png)
    assert (t.capture_ppi, t.ppi_source) == (1000, "image_header")
    assert (t.width, t.height) == (px.shape[1], px.shape[0])
    # The request's value wins over the header.
    assert fingerprint.extract(png, ppi=500).width == double.shape[1]
    # ...and matches the 500 ppi impression 1 like the original impression 2 does.
    ref = fingerprint.extract(pixels=_fvc(shared_data, "101_1.tif"))
    original = mcc.compare(ref.minutiae, fingerprint.extract(pixels=px).minutiae)
    assert mcc.compare(ref.minutiae, t.minutiae) > 0.5 * original


@pytest.mark.parametrize("source", ["header", "request"])
def test_resolution_below_350_ppi_is_refused_naming_it(shared_data: Path, source: str) -> None:
    px = cv2.resize(_fvc(shared_data, "101_1.tif"), None, fx=0.6, fy=0.6)
    if source == "header":
        image, ppi = _encode(px, "PNG", dpi=(300, 300)), None
    else:
        image, ppi = _encode(px, "PNG"), 300
    with pytest.raises(UnusableCapture) as err:
        fingerprint.extract(image, ppi=ppi)
    assert err.value.reason == "resolution_too_low"
    assert "300 ppi" in err.value.message and "recapture" not in err.value.message.lower()
    assert err.value.quality["ppi"] == 300


def test_iso_record_at_another_resolution_is_rescaled() -> None:
    rng = np.random.default_rng(3)
    m = np.column_stack(
        [rng.uniform(20, 280, 30), rng.uniform(20, 380, 30), rng.uniform(0, 6.2, 30),
         np.full(30, 0.6)]
    ).astype(np.float32)
    at_1000 = m.copy()
    at_1000[:, :2] *= 2
    record = iso19794.encode(at_1000, width=600, height=800, ppi=1000)
    parsed, header = iso19794.parse(record)
    # 1000 ppi is written as 394 px/cm (1000.76 ppi)
    assert abs(header["ppi"] - 1000) <= 1 and (header["width"], header["height"]) == (300, 400)
    np.testing.assert_allclose(parsed[:, :2], m[:, :2], atol=0.6)
    # Unscaled, a 1000 ppi record of the same finger scored like an impostor.
    assert mcc.compare(m, parsed) > 0.5
    # 500 ppi records are left exactly as written.
    same, header = iso19794.parse(iso19794.encode(m, width=300, height=400, ppi=500))
    assert header["scale"] == (1.0, 1.0)
    np.testing.assert_array_equal(same[:, :2], np.round(m[:, :2]))


def test_leader_model_file_is_the_recorded_one() -> None:
    import hashlib

    from matchers import leader

    digest = hashlib.sha256(leader.MODEL_PATH.read_bytes()).hexdigest()
    assert digest == leader.MODEL_SHA256
