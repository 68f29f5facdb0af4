"""Admission control for checks: a bounded number in progress, a bounded short wait, then 503.

Without it a saturated gateway answers every check, but late: under 20 parallel devices the
median was 8 s. A device cannot tell "slow" from "lost", and an officer waiting 50 s is worse
served than one told at once to try again. So:

- at most ``in_flight`` checks run their extraction and search at a time (the CPU-bound part);
- up to ``waiting`` more wait for a slot, at most ``max_wait_s``; priority checks (carrying a
  travel document, or from a device named urgent) are served first and may wait even when the
  normal waiting room is full (up to ``waiting`` extra);
- anything beyond is refused at once with 503 + ``Retry-After``: devices keep the capture in
  their outbox and send it again, so nothing is lost;
- with an answer-time target (``target_s``), a normal check may wait only as long as the target
  leaves after the recent mean service time (each sample capped at the target, so one check
  held to its extraction budget does not close the door for the next dozen), and one whose
  predicted wait (the queue ahead of it at the recent service rate) is already longer is
  refused at once rather than after waiting in vain: the p95 of admitted checks stays near the
  target however many devices send, and the refused device hears it at once. Priority checks
  keep the full ``max_wait_s``.

``Retry-After`` is the expected time until a slot frees for the caller: the recent mean service
time times the queue ahead of it divided by the slots, rounded up to whole seconds (at least 1).

Thread-safe: ``admit`` is called from the request's worker thread (never the event loop, since
it may wait).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass

from gateway.errors import Unavailable


AT_CAPACITY = "the gateway is at capacity"  # how every refusal's detail begins


def refused_at_capacity(status: int, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether an answer is admission's refusal (503 + Retry-After, "at capacity"): the check
    was not run and the device should send it again after Retry-After. Other 503s (database
    busy or failing, the gateway stopping) are not back-pressure; load tools count them as
    errors."""
    if status != 503 or "retry-after" not in {k.lower() for k in headers}:
        return False
    try:
        problem = json.loads(body)
    except ValueError:
        return False
    return (isinstance(problem, dict)
            and str(problem.get("type", "")).endswith("/unavailable")
            and str(problem.get("detail", "")).startswith(AT_CAPACITY))


def default_in_flight(workers: int) -> int:
    """Checks in flight when ``FIELDCHECK_CHECKS_IN_FLIGHT`` is unset: half the extraction
    workers, at least one. A face + two fingers check already keeps two workers busy, so on two
    cores a second check in flight only shares them: both answers come later, and the answer
    target (which predicts from the mean service time) lets the admitted p95 drift past it
    (measured 3.3-3.5 s at 2-3 checks/s with two, 2.2-2.9 s with one: docs/DEPLOYMENT.md)."""
    return max(1, workers // 2)


@dataclass(frozen=True)
class AdmissionStats:
    in_flight: int
    waiting: int
    admitted: int
    rejected: int
    mean_service_s: float


class AdmissionController:
    """Bounded checks in progress; see the module docstring for the rule."""

    def __init__(self, *, in_flight: int, waiting: int, max_wait_s: float,
                 target_s: float = 0.0, service_s: float = 0.5) -> None:
        if in_flight < 1:
            raise ValueError("in_flight must be at least 1")
        self.slots = in_flight
        self.waiting_limit = max(0, waiting)
        self.max_wait_s = max(0.0, max_wait_s)
        self.target_s = max(0.0, target_s)  # 0: no answer-time target, max_wait_s alone
        self._lock = threading.Lock()
        self._running = 0
        # heap of (priority rank, arrival number, event): rank 0 = priority, 1 = normal
        self._queue: list[tuple[int, int, threading.Event]] = []
        self._arrivals = itertools.count()
        self._service_s = service_s  # EWMA of service time, seeded with a plausible value
        self.admitted = 0
        self.rejected = 0

    def stats(self) -> AdmissionStats:
        with self._lock:
            return AdmissionStats(self._running, len(self._queue), self.admitted, self.rejected,
                                  round(self._service_s, 3))

    def _wait_allowed_locked(self) -> float:
        """How long a check may wait for a slot: ``max_wait_s``, shortened by an answer-time
        target to what the target leaves after the recent mean service time."""
        if not self.target_s:
            return self.max_wait_s
        return min(self.max_wait_s, self.target_s - self._service_s)

    def retry_after_s(self, ahead: int | None = None) -> int:
        with self._lock:
            return self._retry_after_locked(len(self._queue) if ahead is None else ahead)

    def _retry_after_locked(self, ahead: int) -> int:
        return max(1, math.ceil(self._service_s * (ahead + 1) / self.slots))

    def _refuse(self, reason: str) -> Unavailable:
        self.rejected += 1
        wait = self._retry_after_locked(len(self._queue))
        return Unavailable(
            f"{AT_CAPACITY} ({reason}); the check was not run",
            fix=f"keep the capture and send it again after {wait} s (Retry-After)",
            retry_after_s=wait,
        )

    @contextmanager
    def admit(self, *, priority: bool = False) -> Iterator[None]:
        """Hold a slot for the duration of the block, or raise ``Unavailable`` (503)."""
        event: threading.Event | None = None
        with self._lock:
            if self._running < self.slots and not self._queue:
                self._running += 1
            else:
                normal_waiting = sum(1 for rank, _, _ in self._queue if rank == 1)
                limit = self.waiting_limit * (2 if priority else 1)
                queued = len(self._queue) if priority else normal_waiting
                if queued >= limit or self.max_wait_s == 0:
                    raise self._refuse(f"{len(self._queue)} checks already waiting")
                # Priority checks (a travel document, an urgent device) keep the full wait.
                wait_s = self.max_wait_s if priority else self._wait_allowed_locked()
                predicted = self._service_s * (len(self._queue) + 1) / self.slots
                if not priority and self.target_s and wait_s <= 0:
                    raise self._refuse(
                        f"checks take about {self._service_s:.1f} s each now, which leaves no "
                        f"time to wait within the {self.target_s:g} s answer target")
                if not priority and self.target_s and predicted > wait_s:
                    raise self._refuse(
                        f"the checks ahead would take about {predicted:.1f} s, beyond the "
                        f"{self.target_s:g} s answer target")
                event = threading.Event()
                entry = (0 if priority else 1, next(self._arrivals), event)
                heapq.heappush(self._queue, entry)
        if event is not None and not event.wait(wait_s):
            with self._lock:
                if not event.is_set():  # not handed a slot in time: leave the queue
                    self._queue.remove(entry)
                    heapq.heapify(self._queue)
                    raise self._refuse(f"no slot freed within {wait_s:.1f} s")
            # handed a slot just as the wait ran out: use it
        started = time.perf_counter()
        with self._lock:
            self.admitted += 1
        try:
            yield
        finally:
            elapsed = time.perf_counter() - started
            if self.target_s:
                # One check held to its extraction budget (60 s) must not make every later one
                # look unservable for the next dozen answers.
                elapsed = min(elapsed, self.target_s)
            with self._lock:
                self._service_s = 0.8 * self._service_s + 0.2 * elapsed
                if self._queue:
                    # the slot passes straight to the first waiter: _running stays the same
                    _, _, nxt = heapq.heappop(self._queue)
                    nxt.set()
                else:
                    self._running -= 1
