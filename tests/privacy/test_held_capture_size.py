"""A capture held for central is sealed as received: the encoded bytes (WSQ, PNG...), not the
decoded pixels the adapters set beside them (review finding: a ten-print card sealed several MB
of raw greyscale in the officer's transaction, under SQLite's write lock)."""

from __future__ import annotations

import os
from types import SimpleNamespace

import numpy as np
import pytest

from device_adapters._common import encode_png
from device_adapters.capture import Capture, FingerImage
from gateway.privacy import images
from gateway.privacy.crypto import Keyring
from gateway.privacy.service import HELD_TYPE, ImageBounds, held_as_image, store_probe_images

BOUNDS = ImageBounds(face_max_px=640, thumb_px=96)


class _Rows:
    """Collects what the check's transaction would add."""

    def __init__(self) -> None:
        self.rows: list = []

    def add_all(self, rows: list) -> None:
        self.rows.extend(rows)


def _ridges(height: int = 480, width: int = 400) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    pattern = 128 + 100 * np.sin((x * 0.9 + y * 0.4) / 1.6)
    pixels = np.full((height, width), 255, np.uint8)  # background around the pad
    pad = (((x - width / 2) / (width * 0.4)) ** 2 + ((y - height / 2) / (height * 0.45)) ** 2) < 1
    pixels[pad] = pattern[pad].astype(np.uint8)
    return pixels


def _hold(finger: FingerImage) -> tuple[Keyring, list]:
    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    session = _Rows()
    store_probe_images(session, keyring, check_id="chk_test", capture=Capture(fingers=[finger]),  # type: ignore[arg-type]
                       settings=SimpleNamespace(reference_face_max_px=640, thumbnail_px=96),  # type: ignore[arg-type]
                       held=True)
    return keyring, session.rows


@pytest.mark.parametrize("fmt", ["wsq", "png"])
def test_a_held_finger_is_its_received_bytes_not_its_pixels(fmt: str) -> None:
    pixels = _ridges()
    received = images.finger_wsq(pixels).data if fmt == "wsq" else encode_png(pixels)
    assert len(received) < pixels.size / 2  # the premise: the encoding is much smaller
    keyring, rows = _hold(FingerImage(position=2, image=received, pixels=pixels, ppi=500))
    [row] = rows
    assert row.content_type == HELD_TYPE
    assert row.size < len(received) + 200  # the bytes as received plus a header line
    assert row.size < pixels.size / 2  # before: width x height of raw greyscale
    evidence = held_as_image(keyring, row, BOUNDS)
    assert evidence.width and evidence.height


def test_a_finger_given_as_pixels_only_is_held_compressed() -> None:
    pixels = _ridges()
    keyring, rows = _hold(FingerImage(position=3, pixels=pixels, ppi=500))
    [row] = rows
    assert row.size < pixels.size / 2
    evidence = held_as_image(keyring, row, BOUNDS)  # still opens as the evidence image
    assert (evidence.width, evidence.height) == (pixels.shape[1], pixels.shape[0])


def test_the_export_and_the_settling_read_a_held_capture_alike(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """One reading of a held capture (``held_as_image``) for the data subject's export and for
    the evidence: one that does not decode is left out of the export and deleted when settled;
    a missing key is a deployment fault for both, never a silent gap."""
    from sqlmodel import Session, select

    from gateway import db
    from gateway.checks.models import Check
    from gateway.privacy.crypto import ImageKeyUnavailable
    from gateway.privacy.models import ProbeImage
    from gateway.privacy.requests import export_check
    from gateway.privacy.service import settle_held
    from matchers.calibration import Decision

    engine = db.make_engine(f"sqlite:///{tmp_path / 'fieldcheck.db'}")
    db.upgrade(engine)
    keyring = Keyring({"k1": os.urandom(32)}, "k1")
    other = Keyring({"k2": os.urandom(32)}, "k2")
    capture = Capture(fingers=[FingerImage(position=2, image=encode_png(_ridges()), ppi=500),
                               FingerImage(position=3, image=b"not an image at all", ppi=500)])
    with Session(engine) as session:
        session.add(Check(id="chk_held", token_id="tok", local_decision=Decision.NO_HIT,
                          decision=Decision.NO_HIT))
        store_probe_images(session, keyring, check_id="chk_held", capture=capture,
                           settings=SimpleNamespace(reference_face_max_px=640, thumbnail_px=96),  # type: ignore[arg-type]
                           held=True)
        session.commit()
        doc = export_check(session, keyring, check_id="chk_held", bounds=BOUNDS)
        assert [(i["position"], i["content_type"]) for i in doc["images"]] == [(2, "image/png")]
        with pytest.raises(ImageKeyUnavailable):
            export_check(session, other, check_id="chk_held", bounds=BOUNDS)
        session.rollback()
        with pytest.raises(ImageKeyUnavailable):
            settle_held(session, other, check_id="chk_held", bounds=BOUNDS)
        session.rollback()
        assert settle_held(session, keyring, check_id="chk_held", bounds=BOUNDS) == 1
        session.commit()
        rows = list(session.exec(select(ProbeImage)))
    assert [(r.position, r.content_type) for r in rows] == [(2, "image/png")]
    engine.dispose()
