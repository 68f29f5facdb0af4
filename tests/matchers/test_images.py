"""decode_image applies the EXIF orientation (faces and fingerprints alike)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from matchers.images import decode_image


def _tagged(pixels: np.ndarray, orientation: int | None, fmt: str) -> bytes:
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt, exif=exif.tobytes())
    return out.getvalue()


def _marked(height: int, width: int) -> np.ndarray:
    """Grey image with a white block in its top-left corner (survives JPEG)."""
    pixels = np.full((height, width), 40, np.uint8)
    pixels[: height // 4, : width // 4] = 255
    return pixels


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF", "PNG"])
def test_orientation_6_is_turned_upright(fmt: str) -> None:
    # Orientation 6: the stored pixels must be turned 90 degrees clockwise to be upright. Stored
    # pixels with the mark top-left come out 100 wide x 60 high with the mark top-right.
    decoded = decode_image(_tagged(_marked(60, 100), 6, fmt), mode="L")
    assert decoded.shape == (100, 60)
    assert decoded[:10, -10:].mean() > 200 and decoded[:10, :10].mean() < 100


def test_untagged_and_upright_images_are_left_as_stored() -> None:
    for orientation in (None, 1):
        decoded = decode_image(_tagged(_marked(60, 100), orientation, "PNG"), mode="RGB")
        assert decoded.shape == (60, 100, 3)
        assert decoded[:10, :10].mean() > 200
