"""Admission control: bounded checks in progress, a short bounded wait, then 503 + Retry-After."""

from __future__ import annotations

import threading
import time

import cv2
import httpx
import numpy as np
import pytest

from gateway.checks.admission import AdmissionController, default_in_flight
from gateway.extraction import ExtractionPool
from gateway.errors import DatabaseBusy, Unavailable
from tests.conftest import LiveGateway
from tests.gateway.enrol_load import admission_refusal


def _hold(ctrl: AdmissionController, *, priority: bool = False):  # type: ignore[no-untyped-def]
    """Enter ``admit`` on a thread and keep the slot until the returned event is set."""
    entered, release, outcome = threading.Event(), threading.Event(), {}

    def run() -> None:
        try:
            with ctrl.admit(priority=priority):
                outcome["admitted_at"] = time.perf_counter()
                entered.set()
                release.wait(10)
        except Unavailable as exc:
            outcome["refused"] = exc
            entered.set()

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t, entered, release, outcome


def test_slots_are_bounded_and_the_overflow_is_refused_at_once() -> None:
    ctrl = AdmissionController(in_flight=1, waiting=0, max_wait_s=5)
    t, entered, release, _ = _hold(ctrl)
    assert entered.wait(5)
    started = time.perf_counter()
    with pytest.raises(Unavailable) as refused:
        with ctrl.admit():
            pass
    # refused at once, not after max_wait_s: the waiting room holds nobody
    assert time.perf_counter() - started < 1.0
    assert refused.value.status == 503 and refused.value.retry_after_s >= 1
    release.set()
    t.join(5)
    with ctrl.admit():  # the slot is free again
        assert ctrl.stats().in_flight == 1
    assert ctrl.stats().in_flight == 0 and ctrl.rejected == 1 and ctrl.admitted == 2


def test_a_waiter_gets_the_freed_slot_and_a_late_one_is_refused_after_max_wait() -> None:
    ctrl = AdmissionController(in_flight=1, waiting=1, max_wait_s=0.3)
    t1, e1, r1, _ = _hold(ctrl)
    assert e1.wait(5)
    # a waiter that is never served leaves after max_wait_s with 503
    with pytest.raises(Unavailable):
        with ctrl.admit():
            pass
    assert ctrl.stats().waiting == 0  # it left the queue
    ctrl.max_wait_s = 5
    t2, e2, r2, out2 = _hold(ctrl)
    time.sleep(0.1)
    assert not e2.is_set() and ctrl.stats().waiting == 1
    r1.set()
    assert e2.wait(5) and "admitted_at" in out2
    r2.set()
    t1.join(5)
    t2.join(5)
    assert ctrl.stats().in_flight == 0


def test_priority_checks_go_first_and_may_wait_when_the_normal_room_is_full() -> None:
    ctrl = AdmissionController(in_flight=1, waiting=1, max_wait_s=5)
    t0, e0, r0, _ = _hold(ctrl)
    assert e0.wait(5)
    tn, en, rn, out_n = _hold(ctrl)  # a normal check waits
    time.sleep(0.1)
    # the normal waiting room (1) is full: another normal check is refused ...
    with pytest.raises(Unavailable):
        with ctrl.admit():
            pass
    tp, ep, rp, out_p = _hold(ctrl, priority=True)  # ... a priority one still waits
    time.sleep(0.1)
    assert ctrl.stats().waiting == 2
    r0.set()  # one slot frees: the priority check, which came later, gets it first
    assert ep.wait(5) and "admitted_at" in out_p
    assert not en.is_set()
    rp.set()
    assert en.wait(5) and "admitted_at" in out_n
    rn.set()
    for t in (t0, tn, tp):
        t.join(5)


def _grey_jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((120, 120, 3), 128, np.uint8))
    assert ok
    return buf.tobytes()


def test_a_saturated_gateway_answers_503_with_retry_after_and_a_problem_body(tmp_path) -> None:  # type: ignore[no-untyped-def]
    with LiveGateway(tmp_path, checks_in_flight=1, checks_waiting=0) as gw:
        device = gw.client(gw.token("device", "SEEK-ADM-1"))
        form = {"purpose": "port entry"}
        files = {"face": ("f.jpg", _grey_jpeg(), "image/jpeg")}
        t, entered, release, _ = _hold(gw.runtime.admission)  # the one slot is taken
        assert entered.wait(5)
        r = device.post("/v1/checks", data=form, files=files)
        assert r.status_code == 503, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert int(r.headers["Retry-After"]) >= 1
        body = r.json()
        assert body["retry_after_s"] == int(r.headers["Retry-After"])
        assert "send it again" in body["fix"]
        assert admission_refusal(r)  # what the stress test's devices retry
        release.set()
        t.join(5)
        r = device.post("/v1/checks", data=form, files=files)  # the slot is free: it runs
        assert r.status_code == 200, r.text


def test_a_document_check_is_priority_at_the_gateway(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """With the normal waiting room full, a check carrying an MRZ still waits for the slot."""
    mrz = ("P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\n"
           "L898902C36UTO7408122F1204159ZE184226B<<<<<10")
    with LiveGateway(tmp_path, checks_in_flight=1, checks_waiting=1, checks_max_wait_s=10) as gw:
        device = gw.client(gw.token("device", "SEEK-ADM-2"))
        ctrl = gw.runtime.admission
        t0, e0, r0, _ = _hold(ctrl)
        assert e0.wait(5)
        tn, en, rn, _ = _hold(ctrl)  # fills the normal waiting room
        time.sleep(0.1)
        files = {"face": ("f.jpg", _grey_jpeg(), "image/jpeg")}
        refused = device.post("/v1/checks", data={"purpose": "port entry"}, files=files)
        assert refused.status_code == 503
        answer: dict = {}
        th = threading.Thread(target=lambda: answer.setdefault("r", device.post(
            "/v1/checks", data={"purpose": "port entry", "mrz": mrz}, files=files)))
        th.start()
        time.sleep(0.3)
        assert ctrl.stats().waiting == 2  # the document check waits, it was not refused
        r0.set()  # the freed slot goes to the document check, then the normal waiter
        th.join(20)
        assert answer["r"].status_code == 200, answer["r"].text
        rn.set()
        t0.join(5)
        tn.join(5)


def test_an_answer_target_shortens_the_wait_to_what_the_service_time_leaves() -> None:
    # two slots, mean service 1.0 s, a 1.8 s target: a check may wait 0.8 s, not max_wait_s
    # (its predicted wait, 0.5 s, is within that, so it does wait)
    ctrl = AdmissionController(in_flight=2, waiting=5, max_wait_s=5, target_s=1.8, service_s=1.0)
    held = [_hold(ctrl) for _ in range(2)]
    assert all(entered.wait(5) for _t, entered, _r, _o in held)
    started = time.perf_counter()
    with pytest.raises(Unavailable) as refused:
        with ctrl.admit():
            pass
    waited = time.perf_counter() - started
    assert 0.7 <= waited < 3.0, waited
    assert "no slot freed within 0.8 s" in refused.value.detail
    for t, _e, release, _o in held:
        release.set()
        t.join(5)


def test_a_check_whose_predicted_wait_exceeds_the_target_is_refused_at_once() -> None:
    # service 1.0 s, target 2.5 s: 1.5 s of waiting allowed; one running and one waiting predict
    # 1 s for the first waiter (accepted), 2 s for the next (refused without waiting)
    ctrl = AdmissionController(in_flight=1, waiting=10, max_wait_s=10, target_s=2.5,
                               service_s=1.0)
    t0, e0, r0, _ = _hold(ctrl)
    assert e0.wait(5)
    t1, e1, r1, out1 = _hold(ctrl)
    _until(lambda: ctrl.stats().waiting == 1)
    assert "refused" not in out1
    started = time.perf_counter()
    with pytest.raises(Unavailable) as refused:
        with ctrl.admit():
            pass
    assert time.perf_counter() - started < 0.5  # at once, not after waiting in vain
    assert "answer target" in refused.value.detail
    assert refused.value.retry_after_s >= 2
    # a priority check keeps the full wait, whatever the queue predicts
    tp, ep, rp, outp = _hold(ctrl, priority=True)
    _until(lambda: ctrl.stats().waiting == 2)
    assert "refused" not in outp
    for release in (r0, rp, r1):
        release.set()
    for t in (t0, t1, tp):
        t.join(5)
    assert "admitted_at" in outp and "admitted_at" in out1


def test_a_check_held_to_its_budget_counts_as_the_target_only(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    # a 60 s check (extraction budget) must not leave every later check refused: the sample is
    # capped at the 3 s target, so waiting is still allowed afterwards
    ctrl = AdmissionController(in_flight=1, waiting=10, max_wait_s=10, target_s=3.0,
                               service_s=1.0)
    from types import SimpleNamespace

    from gateway.checks import admission

    clock = iter([100.0, 160.0])  # the check's start and end: 60 s
    monkeypatch.setattr(admission, "time", SimpleNamespace(perf_counter=lambda: next(clock)))
    with ctrl.admit():
        pass
    monkeypatch.undo()
    assert ctrl.stats().mean_service_s == pytest.approx(0.8 * 1.0 + 0.2 * 3.0)
    t0, e0, r0, _ = _hold(ctrl)
    assert e0.wait(5)
    t1, e1, r1, out1 = _hold(ctrl)  # predicted 0.7 s: allowed to wait (1.6 s)
    _until(lambda: ctrl.stats().waiting == 1)
    assert "refused" not in out1
    r0.set()
    r1.set()
    for t in (t0, t1):
        t.join(5)
    assert "admitted_at" in out1


def test_with_no_time_left_to_wait_the_refusal_says_so() -> None:
    ctrl = AdmissionController(in_flight=1, waiting=10, max_wait_s=10, target_s=1.0,
                               service_s=1.0)
    t0, e0, r0, _ = _hold(ctrl)
    assert e0.wait(5)
    with pytest.raises(Unavailable) as refused:
        with ctrl.admit():
            pass
    assert "leaves no time to wait" in refused.value.detail
    tp, ep, rp, outp = _hold(ctrl, priority=True)  # a document check still waits
    _until(lambda: ctrl.stats().waiting == 1)
    r0.set()
    assert ep.wait(5) and "admitted_at" in outp
    rp.set()
    for t in (t0, tp):
        t.join(5)


def _until(condition, timeout: float = 10) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def test_without_a_target_the_wait_is_max_wait_alone() -> None:
    ctrl = AdmissionController(in_flight=1, waiting=10, max_wait_s=10, target_s=0, service_s=5.0)
    t0, e0, r0, _ = _hold(ctrl)
    assert e0.wait(5)
    waiters = [_hold(ctrl) for _ in range(3)]  # predicted 10-20 s: still allowed to wait
    _until(lambda: ctrl.stats().waiting == 3)
    r0.set()
    for _t, _e, release, _o in waiters:
        release.set()
    for t, e, _r, out in waiters:
        assert e.wait(5) and "admitted_at" in out
        t.join(5)
    t0.join(5)


def test_checks_in_flight_defaults_to_half_the_extraction_workers() -> None:
    # A face + two fingers check keeps two workers busy: on 2 cores a second check in flight
    # only shares them (admitted p95 3.3-3.5 s at 2-3 checks/s against 2.2-2.9 s with one).
    assert [default_in_flight(w) for w in (0, 1, 2, 3, 4, 8)] == [1, 1, 1, 1, 2, 4]


@pytest.mark.parametrize(("workers", "setting", "expected"),
                         [(0, None, 1), (6, None, 3), (6, 5, 5), (0, 3, 3)])
def test_the_gateway_admits_the_setting_or_half_its_workers(  # type: ignore[no-untyped-def]
        tmp_path, monkeypatch, workers, setting, expected) -> None:
    # workers 0: two extraction threads; 6: six worker processes (not spawned here: the
    # default is read from the pool's size, not from the machine's cores)
    monkeypatch.setattr(ExtractionPool, "start", lambda self: None)
    overrides: dict[str, object] = {"extract_processes": workers}
    if setting is not None:
        overrides["checks_in_flight"] = setting
    with LiveGateway(tmp_path, **overrides) as gw:
        assert gw.runtime.extraction.slots == (workers or 2)
        assert gw.runtime.admission.slots == expected


def test_only_admissions_refusal_counts_as_back_pressure_in_the_load_tests() -> None:
    # The stress test lets a check refused at capacity be sent again; every other 503 must stay
    # a server error (a busy SQLite write turn is exactly what that test exists to catch).
    def response(exc: Exception, *, retry_after: bool = True) -> httpx.Response:
        from gateway.errors import problem

        r = problem(503, "Service unavailable", str(exc), slug=exc.type_slug,  # type: ignore[attr-defined]
                    retry_after_s=1 if retry_after else None)
        return httpx.Response(503, headers=dict(r.headers), content=r.body)

    ctrl = AdmissionController(in_flight=1, waiting=0, max_wait_s=1)
    t, entered, release, _ = _hold(ctrl)
    assert entered.wait(5)
    with pytest.raises(Unavailable) as refused:
        with ctrl.admit():
            pass
    release.set()
    t.join(5)
    assert admission_refusal(response(refused.value))
    assert not admission_refusal(response(refused.value, retry_after=False))
    assert not admission_refusal(response(DatabaseBusy("the write turn was not free")))
    assert not admission_refusal(response(Unavailable("the gateway is stopping")))
