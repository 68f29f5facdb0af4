"""``UpstreamService``: what the rest of the gateway calls to reach the central databases.

The check route calls ``on_check`` inside the check's transaction (the outbox row commits with
the check), then ``notify`` after the commit. Nothing here ever makes the officer wait for
central: delivery happens on worker threads, and the document check reads the local copy.
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session

from device_adapters.capture import Capture, DocumentData
from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.checks.models import Check
from gateway.settings import Settings
from gateway.upstream.breaker import CircuitBreaker
from gateway.upstream.client import CentralClient, CentralError, HttpCentralClient
from gateway.upstream.documents import check_document_locally, list_version, sync_feed
from gateway.upstream.models import OUTBOX_VERSION
from gateway.upstream.policy import ForwardingPolicy
from gateway.upstream.port import ProbeTemplates, UpstreamPort
from gateway.upstream.queue import NewItem, QueueItem, QueueStorage, SqlQueueStorage
from gateway.upstream.reconcile import set_status
from gateway.upstream.settings import UpstreamSettings
from gateway.upstream.status import UpstreamStatus
from gateway.upstream.worker import DeliveryWorker
from matchers.calibration import Decision

log = logging.getLogger(__name__)

PRIORITY = {Decision.HIT: 20, Decision.POSSIBLE: 10}  # local hits reach central first
STUB_START_TIMEOUT_S = 600.0  # seeding a large stub population on a loaded machine


class UpstreamService(UpstreamPort):
    """The central link: outbox, delivery worker, change feed, the bundled stub."""

    def __init__(
        self, *, settings: Settings, upstream: UpstreamSettings, engine: Engine,
        storage: QueueStorage | None = None, client: CentralClient | None = None,
    ) -> None:
        self.settings = settings
        self.upstream = upstream
        self.engine = engine
        self.storage = storage or SqlQueueStorage(engine)
        self.client = client
        self.url = settings.upstream_url
        self.breaker = CircuitBreaker(
            failure_threshold=upstream.breaker_failures, reset_s=upstream.breaker_reset_s,
            max_reset_s=upstream.breaker_max_reset_s,
        )
        self.worker: DeliveryWorker | None = None
        self.stub: Any | None = None
        self._feed_stop = threading.Event()
        self._feed_thread: threading.Thread | None = None
        self._starter: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.feed_error: str | None = None
        self.feed_synced_at: float | None = None
        self.policy = ForwardingPolicy.parse(upstream.policy)

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine) -> UpstreamService:
        return cls(settings=settings, upstream=settings.upstream, engine=engine)

    # -- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        if self.client is None and self.url is None:
            from gateway.upstream.stub import StubServer

            folder = self.settings.stub_data_dir or (self.settings.data_dir / "central-stub")
            self.stub = StubServer(Path(folder), subjects=self.upstream.stub_subjects)
            self.stub.start()
            self.url = self.stub.url
            log.warning("no FIELDCHECK_UPSTREAM_URL: starting the bundled central stub at %s "
                        "(seeding happens once, in the background)", self.url)
            # The link starts when its own stub answers: until then it is "starting", not
            # "down", and nothing logs central as unreachable. Checks queue durably meanwhile.
            self._starter = threading.Thread(target=self._start_after_stub, name="upstream-start",
                                             daemon=True)
            self._starter.start()
            return
        self._start_link()

    def _start_after_stub(self) -> None:
        assert self.stub is not None
        started = time.monotonic()
        deadline = started + STUB_START_TIMEOUT_S
        while not self._feed_stop.is_set() and time.monotonic() < deadline:
            if self.stub.wait_ready(timeout_s=1.0):
                log.info("bundled central stub ready at %s after %.1f s", self.url,
                         time.monotonic() - started)
                break
        else:
            if self._feed_stop.is_set():
                return
            log.warning("the bundled central stub did not answer within %.0f s; starting the "
                        "central link anyway", STUB_START_TIMEOUT_S)
        with self._start_lock:
            if not self._feed_stop.is_set():
                self._start_link()

    def _start_link(self) -> None:
        if self.client is None:
            assert self.url is not None
            self.client = self._http_client(self.url)
        self.worker = DeliveryWorker(
            storage=self.storage, client=self.client, breaker=self.breaker,
            settings=self.upstream,
        )
        self.worker.start()
        self._feed_thread = threading.Thread(target=self._feed_loop, name="upstream-feed",
                                             daemon=True)
        self._feed_thread.start()
        log.info("central link to %s: policy %s, %d delivery threads, %.0f/s drain limit",
                 self.url, self.upstream.policy, self.upstream.workers, self.upstream.drain_per_s)

    def _http_client(self, url: str) -> HttpCentralClient:
        u = self.upstream
        cert = (str(u.client_cert), str(u.client_key)) if u.client_cert and u.client_key else None
        return HttpCentralClient(
            url, token=self.settings.upstream_token, connect_timeout_s=u.connect_timeout_s,
            read_timeout_s=u.read_timeout_s, retries=u.client_retries,
            backoff_s=u.client_backoff_s, cert=cert,
            verify=str(u.ca_bundle) if u.ca_bundle else True,
        )

    def stop(self) -> None:
        """Stop within about 1.5 s; leased items in flight are re-sent after their lease."""
        self._feed_stop.set()
        with self._start_lock:  # a link starting right now finishes first, then stops
            pass
        if self.worker is not None:
            self.worker._stop.set()
        if self.client is not None:
            self.client.close()  # aborts in-flight calls instead of waiting for their timeout
        if self.worker is not None:
            self.worker.stop(timeout_s=0.8)
        if self._feed_thread is not None:
            self._feed_thread.join(timeout=0.2)
        if self.stub is not None:
            self.stub.stop()

    def notify(self) -> None:
        if self.worker is not None:
            self.worker.notify()

    def _feed_loop(self) -> None:
        while not self._feed_stop.is_set():
            if self.breaker.state != "open" and self.client is not None:
                try:
                    sync_feed(self.engine, self.client)
                    self.feed_error, self.feed_synced_at = None, time.time()
                except CentralError as exc:
                    self.feed_error = exc.reason
                    log.info("central change feed unavailable: %s", exc.reason)
                except Exception as exc:  # noqa: BLE001 - keep the thread alive
                    self.feed_error = f"{type(exc).__name__}: {exc}"
                    log.exception("central change feed sync failed")
            # Quick retries until the first sync succeeds (e.g. the bundled stub still seeding).
            wait = self.upstream.feed_interval_s if self.feed_synced_at else min(
                2.0, self.upstream.feed_interval_s)
            self._feed_stop.wait(wait)

    # -- called by the check route --------------------------------------------------------------

    def forwards(self, check: Check, capture: Capture, probes: ProbeTemplates) -> bool:
        """The forwarding policy: all, hits only (hit or possible), or by purpose.

        A check with nothing central can search (every capture refused, no document) is never
        forwarded: central would only answer "nothing to search".
        """
        if not (probes or capture.document):
            return False
        return self.policy.forwards(decisions=(check.local_decision, check.decision),
                                    purpose=capture.purpose or check.purpose)

    def on_check(self, session: Session, check: Check, capture: Capture,
                 probes: ProbeTemplates) -> None:
        """``UpstreamPort.on_check``: an outbox item in the caller's transaction when the policy
        forwards the check; the worker drops the templates from the payload when central
        acknowledges (``queue.scrubbed``)."""
        if not self.forwards(check, capture, probes):
            return
        now = time.time()
        self.storage.add(session, NewItem(
            check_id=check.id, idempotency_key=f"{check.id}:search",
            payload=self._payload(check, capture, probes), ttl_s=self.upstream.ttl_s,
            priority=PRIORITY.get(Decision(check.decision), 0),
        ), now=now)
        check.upstream_status = UpstreamStatus.QUEUED

    def _payload(self, check: Check, capture: Capture, probes: ProbeTemplates
                 ) -> dict[str, Any]:
        document = _document(capture.document)
        request: dict[str, Any] = {
            "check_id": check.id,
            "country": self.settings.country,
            "purpose": check.purpose or capture.purpose,
            "local_decision": check.local_decision,
            **probes.payload(),
            "document": document,
            "nominal": {
                "surname": document["surname"], "given_names": document["given_names"],
                "birth_date": document["birth_date"],
            } if document and document.get("surname") else None,
        }
        if self.upstream.ansi_nist:
            request["ansi_nist"] = _ansi_nist(check, capture)
        return {"v": OUTBOX_VERSION, "request": request}

    def check_document(self, session: Session, document: DocumentData) -> dict[str, Any] | None:
        return check_document_locally(session, document)

    # -- NCB staff ------------------------------------------------------------------------------

    def dead_letters(self, *, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        return [dead_letter_view(i) for i in self.storage.dead_letters(limit=limit, offset=offset)]

    def requeue(self, item_id: int, *, actor: Principal | None) -> dict[str, Any]:
        def hook(session: Session | None, item: QueueItem) -> None:
            set_status(session, item, UpstreamStatus.QUEUED)
            if session is not None:
                record(session, actor=actor, action="upstream.requeue", target_type="check",
                       target_id=item.check_id, after={"queue_item": item.id})

        item = self.storage.requeue(item_id, now=time.time(), ttl_s=self.upstream.ttl_s,
                                    hook=hook)
        self.notify()
        return dead_letter_view(item)

    # -- observability --------------------------------------------------------------------------

    def link_state(self) -> str:
        if self.worker is None and self.stub is not None:
            return "starting"  # the bundled stub is still seeding
        circuit = self.breaker.state
        if circuit != "closed":
            return "down"
        stats = self.worker.stats if self.worker else None
        last_ok = max(filter(None, [stats.last_success_at if stats else None,
                                    self.feed_synced_at]), default=None)
        last_bad = stats.last_failure_at if stats else None
        if last_ok is None and last_bad is None:
            return "down" if self.feed_error else "unknown"
        if last_bad is not None and (last_ok is None or last_bad > last_ok):
            return "degraded"
        return "up"

    def status(self) -> dict[str, Any]:
        now = time.time()
        q = self.storage.stats(now=now)
        stats = self.worker.stats if self.worker else None
        with Session(self.engine) as session:
            version = list_version(session)
        return {
            "url": self.url,
            "bundled_stub": self.stub is not None,
            "link": self.link_state(),
            "circuit": self.breaker.state,
            "circuit_opened": self.breaker.opened_count,
            "policy": self.upstream.policy,
            "queue_depth": q.depth,
            "in_flight": q.in_flight,
            "oldest_item_age_s": round(q.oldest_age_s, 1),
            "dead_letters": q.dead,
            "delivered_total": stats.delivered if stats else 0,
            "delivery_rate_per_s": round(stats.rate(), 2) if stats else 0.0,
            "drain_limit_per_s": self.upstream.drain_per_s,
            "upgraded_total": stats.upgraded if stats else 0,
            "recent_failures": [
                {"at": f.at, "check_id": f.check_id, "queue_item": f.item_id,
                 "reason": f.reason, "outcome": f.outcome}
                for f in (list(stats.failures)[::-1] if stats else [])
            ],
            "document_list_version": version,
            "feed_synced_at": self.feed_synced_at,
            "feed_error": self.feed_error,
        }

    def metrics(self) -> dict[str, float]:
        now = time.time()
        q = self.storage.stats(now=now)
        stats = self.worker.stats if self.worker else None
        circuit = {"closed": 0.0, "half_open": 0.5, "open": 1.0}[self.breaker.state]
        return {
            "fieldcheck_upstream_link_up": 1.0 if self.link_state() == "up" else 0.0,
            "fieldcheck_upstream_circuit_open": circuit,
            "fieldcheck_upstream_circuit_opened_total": float(self.breaker.opened_count),
            "fieldcheck_upstream_queue_depth": float(q.depth),
            "fieldcheck_upstream_in_flight": float(q.in_flight),
            "fieldcheck_upstream_oldest_item_age_seconds": q.oldest_age_s,
            "fieldcheck_upstream_dead_letters": float(q.dead),
            "fieldcheck_upstream_delivered_total": float(stats.delivered if stats else 0),
            "fieldcheck_upstream_failures_total": float(stats.failed if stats else 0),
            "fieldcheck_upstream_delivery_rate_per_second": stats.rate() if stats else 0.0,
        }


def dead_letter_view(item: QueueItem) -> dict[str, Any]:
    return {
        "id": item.id, "check_id": item.check_id, "state": item.state, "attempts": item.attempts,
        "reason": item.dead_reason, "last_error": item.last_error,
        "created_at": item.created_at, "dead_at": item.finished_at if item.state == "dead"
        else None, "expires_at": item.expires_at, "priority": item.priority,
    }


def _document(document: DocumentData | None) -> dict[str, Any] | None:
    if document is None:
        return None
    view = document.as_dict()
    view["mrz_valid"] = view.pop("valid")
    view.pop("errors")
    return view


def _ansi_nist(check: Check, capture: Capture) -> str | None:
    """The capture as an ANSI/NIST-ITL transaction (base64), or None if it cannot be written."""
    try:
        from device_adapters.ansi_nist import write_transaction

        return base64.b64encode(write_transaction(capture, tcn=check.id)).decode()
    except Exception:  # noqa: BLE001 - an optional encoding must never fail the check
        log.warning("could not write the ANSI/NIST transaction for %s", check.id, exc_info=True)
        return None
