"""Plain thumbs and slaps (FGP 11-15): segmentation checked on built slaps and on NIST's card."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device_adapters.ansi_nist import AnsiNistAdapter, read_records, write_transaction
from device_adapters.capture import Capture, FingerImage
from device_adapters.slaps import SegmentationError, segment_slap
from tests.adapters.builders import ridge_image

OCTET = {"content-type": "application/octet-stream"}


def built_slap(offsets: list[tuple[int, int]], size: tuple[int, int] = (300, 420),
               canvas: tuple[int, int] = (1600, 1000)) -> np.ndarray:
    """Fingertips (ridge patterns) pasted on a blank platen at (x, y) offsets."""
    rng = np.random.default_rng(3)
    image = np.clip(rng.normal(235, 3, (canvas[1], canvas[0])), 0, 255).astype(np.uint8)
    for i, (x, y) in enumerate(offsets):
        tip = ridge_image(*size, seed=10 + i)
        region = image[y:y + size[1], x:x + size[0]]
        np.minimum(region, tip, out=region)
    return image


FOUR = [(80, 300), (450, 80), (820, 120), (1200, 380)]


@pytest.mark.parametrize(("fgp", "positions"), [(13, [2, 3, 4, 5]), (14, [10, 9, 8, 7])])
def test_four_finger_slap_positions_follow_the_hand(fgp: int, positions: list[int]) -> None:
    tips = segment_slap(built_slap(FOUR), fgp, 500)
    assert [t.position for t in tips] == positions
    for tip, (x, y) in zip(tips, FOUR, strict=True):
        x0, y0, x1, y1 = tip.box
        # Each crop is around its own fingertip (centre within 40 px) and only that one.
        assert abs((x0 + x1) / 2 - (x + 150)) < 40 and y0 <= y + 40
        assert x1 - x0 < 420 and tip.source == "segmented"


def test_two_thumb_slap_is_left_then_right() -> None:
    tips = segment_slap(built_slap([(200, 200), (1000, 220)], size=(380, 460)), 15, 500)
    assert [t.position for t in tips] == [6, 1]


def test_touching_fingers_are_refused_with_the_count() -> None:
    touching = [(80, 300), (370, 300), (820, 120), (1200, 380)]  # first two overlap
    with pytest.raises(SegmentationError) as info:
        segment_slap(built_slap(touching), 13, 500)
    assert "3 separable fingertip region(s) where it holds 4" in str(info.value)


def test_a_missing_finger_is_refused() -> None:
    with pytest.raises(SegmentationError, match="holds 4"):
        segment_slap(built_slap(FOUR[:3]), 14, 500)


def test_the_records_own_boxes_are_used_when_plausible() -> None:
    image = built_slap(FOUR)
    hints = [(2, 80, 380, 300, 720), (3, 450, 750, 80, 500), (4, 820, 1120, 120, 540),
             (5, 1200, 1500, 380, 800)]
    tips = segment_slap(image, 13, 500, hints)
    assert [(t.position, t.box, t.source) for t in tips] == [
        (2, (80, 300, 380, 720), "record"), (3, (450, 80, 750, 500), "record"),
        (4, (820, 120, 1120, 540), "record"), (5, (1200, 380, 1500, 800), "record")]
    degenerate = [(p, 31, 31, 31, 31) for p in (2, 3, 4, 5)]  # NIST's valid1.8 14.021
    assert {t.source for t in segment_slap(image, 13, 500, degenerate)} == {"segmented"}


def _slap_transaction(pixels: np.ndarray, fgp: int) -> bytes:
    return write_transaction(Capture(fingers=[FingerImage(position=fgp, pixels=pixels,
                                                          ppi=500)]))


def test_slap_record_becomes_four_fingers_through_the_adapter() -> None:
    capture = AnsiNistAdapter().parse(_slap_transaction(built_slap(FOUR), 13), OCTET)
    assert [f.position for f in capture.fingers] == [2, 3, 4, 5]
    assert all("right four-finger slap" in (f.origin or "") for f in capture.fingers)
    assert capture.skipped == []


def test_unsegmentable_slap_is_noted_with_record_and_reason() -> None:
    touching = [(80, 300), (370, 300), (820, 120), (1200, 380)]
    capture = AnsiNistAdapter().parse(_slap_transaction(built_slap(touching), 14), OCTET)
    assert capture.fingers == []
    (skipped,) = capture.skipped
    assert (skipped.field, skipped.reason) == ("Type-14[2]", "slap_not_segmented")
    assert "left four-finger slap" in skipped.detail and "holds 4" in skipped.detail


def test_plain_thumbs_are_single_fingers() -> None:
    thumbs = Capture(fingers=[FingerImage(position=11, pixels=ridge_image(seed=1), ppi=500),
                              FingerImage(position=12, pixels=ridge_image(seed=2), ppi=500)])
    capture = AnsiNistAdapter().parse(write_transaction(thumbs), OCTET)
    assert [f.position for f in capture.fingers] == [1, 6]


def test_card_slap_tips_match_their_own_rolled_prints(corpus: Path) -> None:
    """NIST's ten-print card (Type-3, 250 ppi): every fingertip cut from the slaps, and each
    plain thumb, is most similar to the rolled print of the finger it was assigned."""
    path = corpus / "ansi-nist" / "nbis_type_3_wvu.an2"
    if not path.is_file():
        pytest.skip(f"{path} not in this corpus")
    from matchers import fingerprint, mcc
    from matchers.errors import UnusableCapture

    try:
        fingerprint.extract(None, pixels=np.full((400, 400), 128, np.uint8), ppi=250)
    except UnusableCapture as exc:
        if "ppi" in exc.message:
            pytest.skip(f"the extractor refuses the card's 250 ppi ({exc.message})")
    records = read_records(path.read_bytes())
    rolled, flats = {}, []
    for record in records:
        if record.type != 3:
            continue
        body = record.body
        width, height = int.from_bytes(body[8:10], "big"), int.from_bytes(body[10:12], "big")
        pixels = np.frombuffer(body[13:], np.uint8).reshape(height, width)
        if body[1] <= 10:
            rolled[body[1]] = fingerprint.extract(None, pixels=pixels, ppi=250).minutiae
    capture = AnsiNistAdapter().parse(path.read_bytes(), OCTET)
    flats = [f for f in capture.fingers if f.origin]  # slap tips and plain thumbs
    assert len(flats) == 10
    wrong = []
    for finger in flats:
        minutiae = fingerprint.extract(None, pixels=finger.pixels, ppi=finger.ppi).minutiae
        hand = range(1, 6) if finger.position <= 5 else range(6, 11)
        if finger.position in (1, 6):
            hand = (1, 6)  # plain thumbs against both rolled thumbs
        scores = {p: mcc.compare(minutiae, rolled[p]) for p in hand}
        if max(scores, key=scores.__getitem__) != finger.position:
            wrong.append((finger.position, finger.origin, scores))
    assert wrong == []
