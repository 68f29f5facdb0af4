"""Minutia types in ISO/IEC 19794-2 records: what the writer puts in the 2-bit type field, and
another vendor's records (ridge endings and bifurcations) read and forwarded with their types.

The vendor's templates are ``../shared/datasets/fingerprints/iso19794-2_templates`` (FVC2002
DB1-4 set B, 300x400 frames, written by another vendor's extractor); ``FIELDCHECK_ISO_TEMPLATES_DIR``
points elsewhere. The tests that need them skip when they are absent.
"""

from __future__ import annotations

import base64
import os
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from sqlmodel import Session, select

from device_adapters.iso_template import IsoTemplateAdapter
from matchers import iso19794
from matchers.errors import TemplateError
from matchers.templates import FingerprintTemplate
from tests.conftest import LiveGateway, free_port

ISO_MEDIA = {"content-type": "application/x-iso-19794-2"}


def vendor_dir() -> Path:
    env = os.environ.get("FIELDCHECK_ISO_TEMPLATES_DIR")
    if env:
        return Path(env)
    return (Path(__file__).resolve().parents[2].parent / "shared" / "datasets" / "fingerprints"
            / "iso19794-2_templates")


@pytest.fixture(scope="module")
def vendor_records() -> list[Path]:
    files = sorted(vendor_dir().rglob("*.iso"))
    if not files:
        pytest.skip(f"no vendor ISO 19794-2 templates at {vendor_dir()}")
    return files


def raw_minutiae(record: bytes) -> list[bytes]:
    """The 6-byte minutia entries of a single-view record, as written (type bits included)."""
    count = record[27]
    return [record[28 + 6 * i:34 + 6 * i] for i in range(count)]


def type_codes(record: bytes) -> list[int]:
    return [entry[0] >> 6 for entry in raw_minutiae(record)]


def test_writer_keeps_the_types_it_is_given() -> None:
    points = np.array([[10, 20, 0.5, 0.9], [30, 40, 1.0, 0.8], [50, 60, 2.0, 0.7]], np.float32)
    types = np.array([iso19794.RIDGE_ENDING, iso19794.BIFURCATION, iso19794.OTHER], np.uint8)
    record = iso19794.encode(points, width=100, height=100, types=types)
    assert type_codes(record) == [1, 2, 0]
    parsed, header = iso19794.parse(record)
    assert header["types"].tolist() == [1, 2, 0]
    assert np.allclose(parsed[:, :2], points[:, :2])


def test_minutiae_of_unknown_type_are_written_other_not_ridge_endings() -> None:
    """Minutiae whose type nobody determined (e.g. NBIS-baseline templates): 'other' (00),
    never a claimed ridge ending."""
    template = FingerprintTemplate(
        minutiae=np.array([[10, 20, 0.5, 0.9], [30, 40, 1.0, 0.8]], np.float32),
        width=100, height=100)
    assert type_codes(template.to_iso()) == [iso19794.OTHER, iso19794.OTHER]


def test_leader_types_are_written_and_agree_with_mindtct(shared_data: Path) -> None:
    """LEADER's channel 2 is the minutia type (ridge ending >= 0.5): its endings and
    bifurcations reach the record, and they agree with NBIS mindtct's on the same prints."""
    from matchers import fingerprint

    prints = sorted((shared_data / "fingerprints" / "fvc2002_db1_b").glob("*_1.tif"))[:4]
    if not prints:
        pytest.skip("FVC2002 DB1 B not in shared data")
    agree = paired = 0
    for path in prints:
        template = fingerprint.extract(path.read_bytes(), ppi=500)
        codes = type_codes(template.to_iso())
        assert len(codes) >= 10 and set(codes) == {iso19794.RIDGE_ENDING, iso19794.BIFURCATION}
        baseline = fingerprint.extract(path.read_bytes(), ppi=500, minutiae_from="mindtct")
        theirs = _mindtct_types(path)
        for (x, y, *_), code in zip(template.minutiae, codes, strict=True):
            d = np.hypot(baseline.minutiae[:, 0] - x, baseline.minutiae[:, 1] - y)
            j = int(np.argmin(d))
            if d[j] <= 6:
                paired += 1
                agree += code == theirs[j]
    assert paired >= 60 and agree / paired >= 0.8, (agree, paired)


def _mindtct_types(path: Path) -> list[int]:
    """mindtct's own type per minutia, in its order (as ``minutiae_from='mindtct'`` keeps)."""
    import cv2

    from matchers import fingerprint

    pixels = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_GRAYSCALE)
    ok, png = cv2.imencode(".png", pixels)
    found = fingerprint._extractor(nfiq2=False).extract_minutiae(png.tobytes())
    return [iso19794.RIDGE_ENDING if "ENDING" in str(m.kind()) else iso19794.BIFURCATION
            for m in found.get()]


@pytest.mark.parametrize(("types", "words"), [
    (np.array([1], np.uint8), "1 minutia types for 2 minutiae"),
    (np.array([1, 3], np.uint8), "ISO codes"),
])
def test_writer_refuses_types_that_do_not_fit(types: np.ndarray, words: str) -> None:
    points = np.array([[10, 20, 0.5, 0.9], [30, 40, 1.0, 0.8]], np.float32)
    with pytest.raises(TemplateError, match=words):
        iso19794.encode(points, width=100, height=100, types=types)


def test_reserved_type_is_read_as_other() -> None:
    record = bytearray(iso19794.encode(np.array([[10, 20, 0.5, 0.9]], np.float32), width=100,
                                       height=100, types=np.array([2], np.uint8)))
    record[28] |= 0xC0  # type bits 11: reserved
    _, header = iso19794.parse(bytes(record))
    assert header["types"].tolist() == [iso19794.OTHER]


def test_vendor_templates_are_read_and_their_types_survive_a_round_trip(
    vendor_records: list[Path],
) -> None:
    """Device record -> the adapter's single-view record -> the matcher's template -> the record
    the gateway forwards: every minutia entry comes back byte for byte (type, x, y, angle,
    quality), over every vendor file."""
    seen: Counter[int] = Counter()
    for path in vendor_records:
        original = path.read_bytes()
        [finger] = IsoTemplateAdapter().parse(original, ISO_MEDIA).templates
        template = FingerprintTemplate.from_iso(finger.iso_19794_2)
        assert len(template.minutiae) == original[27], path.name
        written = template.to_iso()
        assert raw_minutiae(written) == raw_minutiae(original), path.name
        seen.update(type_codes(written))
    # The vendor marks both kinds: a writer that tagged everything one way would fail above.
    assert seen[iso19794.RIDGE_ENDING] > 0 and seen[iso19794.BIFURCATION] > 0


def test_several_vendor_records_in_one_body_keep_their_types(vendor_records: list[Path]) -> None:
    chosen = vendor_records[:4]
    body = b"".join(p.read_bytes() for p in chosen)
    fingers = IsoTemplateAdapter().parse(body, ISO_MEDIA).templates
    assert len(fingers) == len(chosen)
    for finger, path in zip(fingers, chosen, strict=True):
        assert type_codes(FingerprintTemplate.from_iso(finger.iso_19794_2).to_iso()) == \
            type_codes(path.read_bytes())


def test_vendor_types_reach_the_record_queued_for_central(
    vendor_records: list[Path], tmp_path: Path
) -> None:
    """Over HTTP: a device sends the vendor's record; the record queued for central (the
    outbox payload, central unreachable so it stays there) carries the vendor's types."""
    from gateway.upstream.models import OutboxItem

    original = next(p.read_bytes() for p in vendor_records
                    if {1, 2} <= set(type_codes(p.read_bytes())))
    dead_central = f"http://127.0.0.1:{free_port()}"
    with LiveGateway(tmp_path, start_upstream=True, upstream_url=dead_central) as gw:
        with gw.client(gw.token("device", "ISO-TYPES-1")) as device:
            r = device.post("/v1/adapters/iso-template/checks", content=original,
                            headers=ISO_MEDIA, params={"purpose": "port entry"})
        assert r.status_code == 200, r.text
        check_id = r.json()["check_id"]
        deadline = time.monotonic() + 30
        item = None
        while item is None and time.monotonic() < deadline:
            with Session(gw.runtime.engine) as session:
                item = session.exec(select(OutboxItem).where(OutboxItem.check_id == check_id)
                                    ).first()
            time.sleep(0.1)
    assert item is not None, "the check was not queued for central"
    [finger] = item.payload["request"]["fingers"]
    forwarded = base64.b64decode(finger["iso_19794_2"])
    assert type_codes(forwarded) == type_codes(original)
    assert raw_minutiae(forwarded) == raw_minutiae(original)
