"""Extraction in worker processes (gateway.extraction): same templates as in the gateway's own
threads, refusals that keep their reason, a dead worker that costs no check, and a gateway whose
checks run on the workers and leave none behind when it stops."""

from __future__ import annotations

import os
import signal
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import numpy as np
import pytest

from gateway.extraction import ExtractionPool
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from matchers.errors import UnusableCapture
from tests.conftest import LiveGateway

FVC = "fvc2002_db1_b"


@pytest.fixture(scope="module")
def pool():
    p = ExtractionPool(2)
    p.start()
    yield p
    p.shutdown(wait=True)


@pytest.fixture(scope="module")
def prints(shared_data: Path) -> list[Path]:
    root = shared_data / "fingerprints" / FVC
    if not root.is_dir():
        pytest.skip(f"{FVC} not in shared data")
    return sorted(root.glob("*.tif"))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped) counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_workers_are_separate_processes_started_before_the_first_task(pool) -> None:
    pids = pool.worker_pids()
    assert pool.uses_processes and len(pids) == 2
    assert os.getpid() not in pids and all(_alive(p) for p in pids)


def test_a_print_extracted_in_a_worker_equals_the_one_extracted_here(pool, prints) -> None:
    image = prints[0].read_bytes()
    here = finger_matcher.extract(image, position=2)
    there = pool.submit(finger_matcher.extract, image, position=2).result(timeout=60)
    assert there.position == 2 and there.nfiq2 == here.nfiq2
    np.testing.assert_allclose(there.minutiae, here.minutiae, atol=1e-4)
    assert len(there.minutiae) >= 12


def test_a_refusal_in_a_worker_arrives_with_its_reason_and_measurements(pool) -> None:
    with pytest.raises(UnusableCapture) as refused:
        pool.submit(finger_matcher.extract, b"not an image", position=2).result(timeout=60)
    assert refused.value.reason == "unreadable_image"
    tiny = np.full((40, 40), 128, np.uint8)
    with pytest.raises(UnusableCapture) as small:
        pool.submit(finger_matcher.extract, pixels=tiny, ppi=500, position=1).result(timeout=60)
    assert small.value.reason == "image_too_small"
    assert small.value.quality == {"width": 40, "height": 40}
    with pytest.raises(UnusableCapture) as blank:
        pool.submit(face_matcher.extract, b"\x89PNG nothing").result(timeout=60)
    assert blank.value.reason == "unreadable_image"


def test_a_task_on_a_killed_worker_is_run_again_on_new_workers(pool, prints) -> None:
    image = prints[1].read_bytes()
    before = pool.replaced
    futures = [pool.submit(finger_matcher.extract, image, position=3) for _ in range(2)]
    time.sleep(0.3)  # both running
    os.kill(pool.worker_pids()[0], signal.SIGKILL)
    templates = [f.result(timeout=120) for f in futures]
    assert all(len(t.minutiae) >= 12 for t in templates)
    assert pool.replaced == before + 1
    assert len(pool.worker_pids()) == 2


def test_a_task_that_kills_its_worker_twice_fails_and_the_pool_goes_on(pool, prints) -> None:
    crashing = pool.submit(os._exit, 3)  # what a native crash on a hostile image looks like
    with pytest.raises(BrokenProcessPool):
        crashing.result(timeout=120)
    template = pool.submit(finger_matcher.extract, prints[2].read_bytes(), position=2)
    assert len(template.result(timeout=120).minutiae) >= 12


def test_a_gateway_checks_on_its_workers_and_stops_them(tmp_path: Path, shared_data: Path,
                                                         prints) -> None:
    lfw = shared_data / "faces" / "lfw"
    if not lfw.is_dir():
        pytest.skip("LFW not in shared data")
    person = next(p for p in sorted(lfw.iterdir()) if len(list(p.glob("*.jpg"))) >= 2)
    photos = sorted(person.glob("*.jpg"))
    finger = {n: [p for p in prints if p.name.startswith(f"{n}_")] for n in ("101", "102")}
    with LiveGateway(tmp_path, extract_processes=2) as gw:
        runtime = gw.runtime
        assert runtime.extraction.uses_processes
        pids = runtime.extraction.worker_pids()
        assert len(pids) == 2
        with gw.client() as admin:
            sid = admin.post("/v1/subjects", json={"name": person.name, "category": "red"}).json()["id"]
            assert admin.post(f"/v1/subjects/{sid}/faces",
                              files={"image": ("a.jpg", photos[0].read_bytes())}).status_code == 201
            for position, name in ((2, "101"), (3, "102")):
                r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": str(position)},
                               files={"image": ("p.tif", finger[name][0].read_bytes())})
                assert r.status_code == 201, r.text
        with gw.client(gw.token("device", "SEEK-POOL")) as dev:
            r = dev.post("/v1/checks", data={"purpose": "port entry"}, files={
                "face": ("b.jpg", photos[1].read_bytes()),
                "finger_2": ("p.tif", finger["101"][1].read_bytes()),
                "finger_3": ("p.tif", finger["102"][1].read_bytes()),
            })
            assert r.status_code == 200, r.text
            body = r.json()
            assert body["decision"] == "hit"
            assert body["candidates"][0]["subject_id"] == sid
            assert {k: v["status"] for k, v in body["quality"].items()} == {
                "face": "ok", "finger_2": "ok", "finger_3": "ok"}
            with gw.client() as admin:
                metrics = admin.get("/metrics").text
            # two prints enrolled and two checked, all timed from the workers
            assert 'fieldcheck_extraction_duration_seconds_count{modality="finger"} 4.0' in metrics
            assert 'fieldcheck_extraction_duration_seconds_count{modality="face"} 2.0' in metrics
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in pids), "extraction workers outlived their gateway"


def test_abandoning_a_running_task_stops_its_worker_and_spares_the_others(pool, prints) -> None:
    before = set(pool.worker_pids())
    hostile = pool.submit(time.sleep, 60)  # an image that would hold a worker for a minute
    honest = pool.submit(finger_matcher.extract, prints[3].read_bytes(), position=2)
    time.sleep(0.5)
    started = time.monotonic()
    pool.abandon([hostile])
    assert hostile.cancelled()
    assert len(honest.result(timeout=120).minutiae) >= 12  # run again on new workers
    assert time.monotonic() - started < 30
    deadline = time.monotonic() + 10
    while any(_alive(p) for p in before) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(_alive(p) for p in before), "the worker running the abandoned task lives on"
    assert set(pool.worker_pids()).isdisjoint(before)


def test_a_check_over_budget_stops_the_extraction_in_its_worker(tmp_path: Path) -> None:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (120, 120), (0, 0, 0)).save(buffer, "PNG")
    with LiveGateway(tmp_path, extract_processes=1, extract_budget_s=0.001) as gw:
        pids = gw.runtime.extraction.worker_pids()
        with gw.client(gw.token("device")) as c:
            r = c.post("/v1/checks", data={"purpose": "port entry"},
                       files={"face": ("f.png", buffer.getvalue(), "image/png")})
        assert r.status_code == 422 and r.json()["reason"] == "extraction_budget"
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)


def test_enrolment_extracts_on_the_workers_too(tmp_path: Path, prints) -> None:
    with LiveGateway(tmp_path, extract_processes=1) as gw:
        with gw.client() as admin:
            sid = admin.post("/v1/subjects", json={"name": "Enrolled", "category": "red"}).json()["id"]
            r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                           files={"image": ("p.tif", prints[0].read_bytes())})
            assert r.status_code == 201, r.text
            refused = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                                 files={"image": ("p.png", b"not a print")})
            assert refused.status_code == 422 and refused.json()["reason"] == "unreadable_image"
            metrics = admin.get("/metrics").text
    # the enrolled print and the refused one, both timed on the worker
    assert 'fieldcheck_extraction_duration_seconds_count{modality="finger"} 2.0' in metrics


def test_a_refused_capture_is_timed_and_keeps_the_workers_traceback() -> None:
    from gateway.observability.metrics import GatewayMetrics

    metrics = GatewayMetrics(lambda: None)
    timed = ExtractionPool(1, histogram=metrics.extraction_seconds)
    try:
        with pytest.raises(UnusableCapture) as refused:
            timed.submit(face_matcher.extract, b"\\x89PNG nothing").result(timeout=120)
        assert "Traceback" in str(refused.value.__cause__)
        rendered = metrics.render().decode()
        assert 'fieldcheck_extraction_duration_seconds_count{modality="face"} 1.0' in rendered
    finally:
        timed.shutdown(wait=True)


def test_abandoning_a_queued_task_kills_nothing_and_a_later_crash_loses_no_task(prints) -> None:
    """Queued tasks wait in the pool's own queue: abandoning one must not stop the worker
    running another check's task, and a worker dying afterwards must not strand the tasks
    queued behind the abandoned one (CPython 3.11's executor breaks on a cancelled item it
    holds when a worker dies, and the tasks after it never finish)."""
    one = ExtractionPool(1)
    one.start()
    try:
        worker = one.worker_pids()
        running = one.submit(time.sleep, 1.5)
        queued = one.submit(finger_matcher.extract, prints[4].read_bytes(), position=2)
        behind = one.submit(finger_matcher.extract, prints[5].read_bytes(), position=2)
        one.abandon([queued])
        assert queued.cancelled()
        assert one.killed == 0 and one.worker_pids() == worker  # nothing of it was running
        time.sleep(0.5)
        os.kill(worker[0], signal.SIGKILL)  # the worker dies with the other tasks queued
        assert running.result(timeout=120) is None  # run again on the new worker
        assert len(behind.result(timeout=120).minutiae) >= 12
        assert one.replaced == 1
        assert not _alive(worker[0]) and len(one.worker_pids()) == 1
    finally:
        one.shutdown(wait=True)


def test_run_turns_budget_crash_and_shutdown_into_answers_not_hangs(pool) -> None:
    from gateway.errors import Unavailable

    killed = pool.killed
    with pytest.raises(UnusableCapture) as over:
        pool.run(time.sleep, 30, budget_s=0.5)
    assert over.value.reason == "extraction_budget" and pool.killed == killed + 1
    with pytest.raises(UnusableCapture) as crashed:
        pool.run(os._exit, 3, budget_s=120)  # stops its worker, and again when rerun
    assert crashed.value.reason == "unreadable_image"
    closing = ExtractionPool(1)
    closing.start()
    busy = closing.submit(time.sleep, 2)  # the one worker is busy: the next task is queued
    outcome: dict = {}

    def enrol() -> None:
        try:
            closing.run(time.sleep, 0, budget_s=60)
        except Exception as exc:  # noqa: BLE001 - what run raised is the point
            outcome["error"] = exc

    caller = threading.Thread(target=enrol)
    caller.start()
    _until(lambda: len(closing._queue) == 1, timeout=10)
    closing.shutdown(wait=True)  # the gateway stops with the enrolment still queued
    caller.join(30)
    assert isinstance(outcome.get("error"), Unavailable), outcome
    assert busy.done()


def _until(condition, timeout: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.05)


def test_an_enrolment_over_budget_is_refused_422_and_its_worker_stopped(tmp_path: Path,
                                                                        prints) -> None:
    with LiveGateway(tmp_path, extract_processes=1, extract_budget_s=0.001) as gw:
        pids = gw.runtime.extraction.worker_pids()
        with gw.client() as admin:
            sid = admin.post("/v1/subjects", json={"name": "Slow", "category": "red"}).json()["id"]
            r = admin.post(f"/v1/subjects/{sid}/fingerprints", data={"position": "2"},
                           files={"image": ("p.tif", prints[0].read_bytes())})
        assert r.status_code == 422, r.text
        assert r.json()["reason"] == "extraction_budget" and r.json()["field"] == "image"
        deadline = time.monotonic() + 10
        while any(_alive(p) for p in pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in pids)
