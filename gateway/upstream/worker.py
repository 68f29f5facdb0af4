"""The delivery worker: lease items, send them to central, reconcile or retry or dead-letter.

Failure handling (the worker never dies of a delivery; every path frees or finishes the item):

    answer valid for this check        -> complete + merge into the check (one transaction)
    CentralRejected (4xx)              -> dead-letter at once with central's reason
    CentralProtocolError               -> retry with backoff; dead-letter after max_attempts
    CentralUnavailable (down, timeout) -> retry with backoff until the item's TTL expires
    anything else (a bug)              -> logged with the stack, retried like a protocol error

A crash at any instant leaves the item pending under a lease that runs out; the next worker
sends it again under the same idempotency key and central answers without acting twice.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.client import (
    CentralClient,
    CentralProtocolError,
    CentralRejected,
    CentralUnavailable,
)
from gateway.upstream.queue import EXPIRE_BATCH, QueueItem, QueueStorage
from gateway.upstream.reconcile import apply_result, mark_dead, set_status
from gateway.upstream.settings import UpstreamSettings
from gateway.upstream.status import UpstreamStatus

log = logging.getLogger(__name__)


class RateLimiter:
    """Token bucket shared by the delivery threads: at most ``rate`` per second, small bursts."""

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate / 10)
        self._tokens = self.capacity
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a token; False if ``stop`` was set meanwhile."""
        while not stop.is_set():
            with self._lock:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
                self._last = now
                if self._tokens >= 1:
                    self._tokens -= 1
                    return True
                wait = (1 - self._tokens) / self.rate
            stop.wait(min(wait, 0.5))
        return False


@dataclass
class Failure:
    at: float
    check_id: str
    item_id: int
    reason: str
    outcome: str  # retry | dead


class DeliveryStats:
    """Counters for /v1/upstream/status and /metrics (this process only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.delivered = 0
        self.failed = 0
        self.dead = 0
        self.upgraded = 0
        self._recent_ok: deque[float] = deque(maxlen=20000)
        self.failures: deque[Failure] = deque(maxlen=20)
        self.last_success_at: float | None = None
        self.last_failure_at: float | None = None

    def ok(self, upgraded: bool) -> None:
        with self._lock:
            now = time.time()
            self.delivered += 1
            self.upgraded += int(upgraded)
            self._recent_ok.append(now)
            self.last_success_at = now

    def fail(self, failure: Failure) -> None:
        with self._lock:
            self.failed += 1
            self.dead += int(failure.outcome == "dead")
            self.failures.append(failure)
            self.last_failure_at = failure.at

    def rate(self, window_s: float = 60.0) -> float:
        with self._lock:
            now = time.time()
            recent = sum(1 for t in self._recent_ok if t >= now - window_s)
            return recent / window_s


class DeliveryWorker:
    def __init__(
        self, *, storage: QueueStorage, client: CentralClient, breaker: CircuitBreaker,
        settings: UpstreamSettings, on_change: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.client = client
        self.breaker = breaker
        self.settings = settings
        self.stats = DeliveryStats()
        self.limiter = RateLimiter(settings.drain_per_s)
        self.owner_prefix = f"{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._on_change = on_change or (lambda _check_id: None)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sweep_lock = threading.Lock()
        self._last_sweep = 0.0

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for n in range(self.settings.workers):
            owner = f"{self.owner_prefix}-{n}"
            thread = threading.Thread(target=self._run, args=(owner,), daemon=True,
                                      name=f"upstream-delivery-{n}")
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout_s: float = 1.5) -> None:
        self._stop.set()
        self._wake.set()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        # A thread still inside an HTTP call keeps its lease; the next start re-sends the item.

    def notify(self) -> None:
        self._wake.set()

    # -- the loop -------------------------------------------------------------------------------

    def _run(self, owner: str) -> None:
        while not self._stop.is_set():
            try:
                self._sweep()
                if not self.run_once(owner):
                    self._idle()
            except Exception:  # noqa: BLE001 - the worker must outlive any one failure
                log.exception("upstream worker %s: unexpected error; continuing", owner)
                self._stop.wait(1.0)

    def _idle(self) -> None:
        wait = self.settings.idle_poll_s
        if self.breaker.state == "open":
            wait = max(0.05, min(wait, self.breaker.seconds_until_trial()))
        self._wake.wait(wait)
        self._wake.clear()

    def _sweep(self) -> None:
        """Expire items past their TTL (one thread at a time, at most once a second)."""
        now = self._clock()
        with self._sweep_lock:
            if now - self._last_sweep < 1.0:
                return
            self._last_sweep = now
        # Small transactions (EXPIRE_BATCH items each), repeated until none is left: after a
        # long outage thousands may expire at once, and one transaction for all of them would
        # hold SQLite's write turn for seconds.
        while not self._stop.is_set():
            expired = self.storage.expire(now=now, limit=EXPIRE_BATCH, hook=lambda s, i: mark_dead(
                s, i, status=UpstreamStatus.EXPIRED, reason=i.dead_reason or "expired"))
            for item in expired:
                log.warning("central query for check %s expired after %d attempts",
                            item.check_id, item.attempts)
                self.stats.fail(Failure(now, item.check_id, item.id,
                                        item.dead_reason or "expired", "dead"))
                self._on_change(item.check_id)
            if len(expired) < EXPIRE_BATCH:
                break

    def run_once(self, owner: str) -> bool:
        """Claim a batch and deliver it; False when there was nothing to do."""
        if self.breaker.state == "open":
            return False
        items = self.storage.claim(
            owner=owner, limit=self.settings.batch, lease_s=self.settings.lease_s,
            now=self._clock(),
            hook=lambda s, i: set_status(s, i, UpstreamStatus.PENDING,
                                         only_from=(UpstreamStatus.QUEUED,)),
        )
        if not items:
            return False
        for n, item in enumerate(items):
            if self._stop.is_set() or not self.limiter.acquire(self._stop):
                self._release(items[n:], owner)
                break
            if not self.breaker.allow():
                self._release(items[n:], owner)
                break
            self.deliver(item, owner)
        return True

    def _release(self, items: list[QueueItem], owner: str) -> None:
        for item in items:
            self.storage.release(item, owner=owner, hook=lambda s, i: set_status(
                s, i, UpstreamStatus.QUEUED, only_from=(UpstreamStatus.PENDING,)))

    # -- one delivery ---------------------------------------------------------------------------

    def deliver(self, item: QueueItem, owner: str) -> None:
        request = item.payload.get("request", {})
        was_closed = self.breaker.state == "closed"
        try:
            result = self.client.search(request, idempotency_key=item.idempotency_key)
        except CentralRejected as exc:
            # Central answered: the link works, the request never will.
            self.breaker.record_success()
            self._dead(item, owner, f"rejected by central: {exc.reason}",
                       status=UpstreamStatus.FAILED)
        except CentralUnavailable as exc:
            self.breaker.record_failure()
            self._retry(item, owner, exc.reason, counts_toward_max=False)
        except CentralProtocolError as exc:
            self.breaker.record_failure()
            self._retry(item, owner, exc.reason, counts_toward_max=True)
        except Exception as exc:  # noqa: BLE001 - a bug must not lose the item or the thread
            log.exception("delivery of queue item %s failed unexpectedly", item.id)
            self.breaker.release()
            self._retry(item, owner, f"internal error: {type(exc).__name__}: {exc}",
                        counts_toward_max=True)
        else:
            self.breaker.record_success()
            if not was_closed:
                # The link is back: items that backed off while it was down go now, not later.
                self.storage.reset_backoff(now=self._clock())
            self._complete(item, owner, result)

    def _complete(self, item: QueueItem, owner: str, result: dict[str, Any]) -> None:
        upgraded: list[bool] = []
        done = self.storage.complete(
            item, owner=owner, now=self._clock(),
            hook=lambda s, i: upgraded.append(apply_result(s, i, result)),
        )
        if done:
            self.stats.ok(bool(upgraded and upgraded[0]))
            self._on_change(item.check_id)
        else:
            # Our lease ran out and another worker holds the item: it will send the same key
            # and get the same answer from central; nothing to do here.
            log.info("queue item %s: lease lost before acknowledging", item.id)

    def _retry(self, item: QueueItem, owner: str, reason: str, *, counts_toward_max: bool) -> None:
        now = self._clock()
        if counts_toward_max and item.attempts >= self.settings.max_attempts:
            self._dead(item, owner, f"gave up after {item.attempts} attempts: {reason}",
                       status=UpstreamStatus.FAILED)
            return
        delay = min(self.settings.backoff_max_s,
                    self.settings.backoff_base_s * 2 ** max(0, item.attempts - 1))
        delay *= random.uniform(0.5, 1.0)  # jitter: items that failed together spread out
        self.storage.retry(
            item, owner=owner, now=now, delay_s=delay, error=reason,
            hook=lambda s, i: set_status(s, i, UpstreamStatus.QUEUED,
                                         only_from=(UpstreamStatus.PENDING,)),
        )
        self.stats.fail(Failure(now, item.check_id, item.id, reason, "retry"))
        self._on_change(item.check_id)

    def _dead(self, item: QueueItem, owner: str, reason: str, *,
              status: UpstreamStatus) -> None:
        now = self._clock()
        if self.storage.dead_letter(
            item, owner=owner, now=now, reason=reason,
            hook=lambda s, i: mark_dead(s, i, status=status, reason=reason),
        ):
            log.warning("central query for check %s dead-lettered: %s", item.check_id, reason)
            self.stats.fail(Failure(now, item.check_id, item.id, reason, "dead"))
            self._on_change(item.check_id)
