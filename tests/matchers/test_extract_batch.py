"""The fingers of one check in one LEADER call: ``fingerprint.submit_many``."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from matchers import fingerprint, leader
from matchers.errors import UnusableCapture


@pytest.fixture(scope="module")
def prints(shared_data: Path) -> list[bytes]:
    folder = shared_data / "fingerprints" / "fvc2002_db1_b"
    return [(folder / f"{n}_1.tif").read_bytes() for n in (101, 102)]


def test_one_leader_call_gives_each_finger_its_own_template(prints, monkeypatch) -> None:
    calls = []
    original = leader.typed_minutiae_batch

    def counting(batch, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(len(batch))
        return original(batch, **kwargs)

    monkeypatch.setattr(leader, "typed_minutiae_batch", counting)
    items = [(prints[0], None, 500, 2), (b"not an image", None, 500, 3), (prints[1], None, 500, 7)]
    with ThreadPoolExecutor(2) as pool:
        futures = fingerprint.submit_many(pool, items)
        first, bad, second = futures
        assert first.result(timeout=120).position == 2
        with pytest.raises(UnusableCapture) as refused:
            bad.result(timeout=120)
        assert refused.value.reason == "unreadable_image"
        assert second.result(timeout=120).position == 7
    assert calls == [2]  # the two usable prints went through LEADER together
    alone = fingerprint.extract(prints[1], ppi=500, position=7)
    np.testing.assert_allclose(second.result().minutiae, alone.minutiae, atol=1e-4)
    assert second.result().nfiq2 == alone.nfiq2


def test_cancelling_before_the_job_starts_cancels_every_finger(prints) -> None:
    gate = threading.Event()
    with ThreadPoolExecutor(1) as pool:
        pool.submit(gate.wait)  # the only worker is busy
        futures = fingerprint.submit_many(pool, [(prints[0], None, 500, 2)] * 2)
        assert futures[0].cancel()
        gate.set()
    assert all(f.cancelled() for f in futures)


def test_no_fingers_no_job() -> None:
    with ThreadPoolExecutor(1) as pool:
        assert fingerprint.submit_many(pool, []) == []
