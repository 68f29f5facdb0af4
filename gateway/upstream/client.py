"""The central side: one contract (``CentralClient``), an HTTP client, and an in-memory fake.

Every method returns central's parsed, validated answer or raises a ``CentralError``:

    CentralError
    ├── CentralUnavailable   transient: refused/closed connection, timeout, 5xx, 408, 429.
    │                        The delivery is retried later (same idempotency key).
    ├── CentralProtocolError central answered, but not with a usable result: malformed JSON,
    │                        a missing field, a result for another check. Retried; never applied.
    └── CentralRejected      central refused the request itself (4xx): it can never succeed,
                             so the queue item goes to the dead-letter list at once.

The central HTTP API is described in docs/UPSTREAM.md; ``gateway.upstream.stub`` serves it.
"""

from __future__ import annotations

import logging
import random
import ssl
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import httpx

from matchers.calibration import Decision

log = logging.getLogger(__name__)

# What central may answer (it never asks for a recapture: it searches what it was sent).
DECISIONS = (Decision.HIT, Decision.POSSIBLE, Decision.NO_HIT)
DOCUMENT_STATUSES = ("clear", "stolen", "lost")


class CentralError(Exception):
    """Base of every central-link failure; ``reason`` is what the dead-letter list shows."""

    def __init__(self, reason: str, *, status: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class CentralUnavailable(CentralError):
    pass


class CentralProtocolError(CentralError):
    pass


class CentralRejected(CentralError):
    pass


class CentralClient(ABC):
    """The contract with the central databases. Implementations must be thread-safe.

    ``search`` is the one queued call: it carries a check's biometrics, document and nominal data
    under an idempotency key, and central must act on a key once (a repeated key returns the
    first answer). The other calls are read-only.
    """

    @abstractmethod
    def search(self, request: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        """Biometric (and document, nominal) search; returns central's result for the check."""

    @abstractmethod
    def check_document(self, document: dict[str, Any]) -> dict[str, Any]:
        """MRZ fields against the stolen/lost travel document list: {"status": ...}."""

    @abstractmethod
    def nominal_search(
        self, *, surname: str, given_names: str | None = None, birth_date: str | None = None
    ) -> dict[str, Any]:
        """Name and date of birth against the international watchlist: {"candidates": [...]}."""

    @abstractmethod
    def changes(self, *, since: int, limit: int = 1000) -> dict[str, Any]:
        """Change feed of notices and stolen/lost documents after version ``since``."""

    @abstractmethod
    def health(self) -> bool:
        """Is central reachable and answering?"""

    def close(self) -> None:  # noqa: B027 - optional hook, most fakes hold nothing
        """Release connections."""


def validate_search_result(result: Any, *, check_id: str) -> dict[str, Any]:
    """Refuse a result that is not central's answer for ``check_id`` (it is never applied)."""
    if not isinstance(result, dict):
        raise CentralProtocolError("central's answer is not a JSON object")
    if result.get("check_id") != check_id:
        raise CentralProtocolError(
            f"central answered for check {result.get('check_id')!r}, not {check_id!r}"
        )
    if result.get("decision") not in DECISIONS:
        raise CentralProtocolError(f"central's decision {result.get('decision')!r} is unknown")
    candidates = result.get("candidates")
    if not isinstance(candidates, list) or not all(
        isinstance(c, dict) and isinstance(c.get("subject_id"), str) for c in candidates
    ):
        raise CentralProtocolError("central's candidates are not a list of subjects")
    document = result.get("document")
    if document is not None and (
        not isinstance(document, dict) or document.get("status") not in DOCUMENT_STATUSES
    ):
        raise CentralProtocolError("central's document result is malformed")
    return result


def _tls_context(*, cert: tuple[str, str] | None, verify: str | bool) -> ssl.SSLContext | bool:
    """The TLS settings as one SSLContext: httpx 0.28 no longer takes ``cert=`` (it warned and
    the client certificate was never sent), so the client certificate goes into the context."""
    if cert is None and verify is True:
        return True
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else None)
    if cert is not None:
        context.load_cert_chain(certfile=cert[0], keyfile=cert[1])
    return context


class HttpCentralClient(CentralClient):
    """httpx client: timeouts, in-call retries with exponential backoff and full jitter, bearer
    token, optional mutual TLS. The circuit breaker lives in the worker, above this client."""

    def __init__(
        self, base_url: str, *, token: str | None = None, connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0, retries: int = 2, backoff_s: float = 0.2,
        cert: tuple[str, str] | None = None, verify: str | bool = True,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        headers = {"User-Agent": "fieldcheck-gateway"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        timeout = httpx.Timeout(read_timeout_s, connect=connect_timeout_s)
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"), headers=headers, timeout=timeout,
            verify=_tls_context(cert=cert, verify=verify), transport=transport,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )
        self.retries = retries
        self.backoff_s = backoff_s
        self._stop = threading.Event()
        self._sleep = sleep or self._stop.wait

    # -- plumbing -------------------------------------------------------------------------

    def _once(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.TimeoutException as exc:
            raise CentralUnavailable(f"central timed out ({type(exc).__name__})") from exc
        except (httpx.TransportError, RuntimeError) as exc:
            # RuntimeError: the client was closed under us during shutdown.
            raise CentralUnavailable(f"central unreachable: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if status >= 500 or status in (408, 429):
            raise CentralUnavailable(f"central answered {status}", status=status)
        if status >= 400:
            raise CentralRejected(f"central rejected the request ({status}): "
                                  + _reason(response), status=status)
        try:
            return response.json()
        except ValueError as exc:
            raise CentralProtocolError(f"central's answer is not JSON (HTTP {status})") from exc

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        attempt = 0
        while True:
            try:
                return self._once(method, path, **kwargs)
            except (CentralUnavailable, CentralProtocolError):
                if attempt >= self.retries or self._stop.is_set():
                    raise
                # Full jitter: spreads retries of many gateways coming back at once.
                self._sleep(random.uniform(0, self.backoff_s * 2**attempt))
                attempt += 1

    # -- the contract -----------------------------------------------------------------------

    def search(self, request: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        result = self._call(
            "POST", "/v1/searches", json=request, headers={"Idempotency-Key": idempotency_key}
        )
        return validate_search_result(result, check_id=request["check_id"])

    def check_document(self, document: dict[str, Any]) -> dict[str, Any]:
        result = self._call("POST", "/v1/documents/check", json=document)
        if not isinstance(result, dict) or result.get("status") not in DOCUMENT_STATUSES:
            raise CentralProtocolError("central's document answer is malformed")
        return result

    def nominal_search(
        self, *, surname: str, given_names: str | None = None, birth_date: str | None = None
    ) -> dict[str, Any]:
        body = {"surname": surname, "given_names": given_names, "birth_date": birth_date}
        result = self._call("POST", "/v1/nominal", json=body)
        if not isinstance(result, dict) or not isinstance(result.get("candidates"), list):
            raise CentralProtocolError("central's nominal answer is malformed")
        return result

    def changes(self, *, since: int, limit: int = 1000) -> dict[str, Any]:
        result = self._call("GET", "/v1/changes", params={"since": since, "limit": limit})
        if (
            not isinstance(result, dict)
            or not isinstance(result.get("changes"), list)
            or not isinstance(result.get("version"), int)
        ):
            raise CentralProtocolError("central's change feed answer is malformed")
        return result

    def health(self) -> bool:
        try:
            self._once("GET", "/healthz")
            return True
        except CentralError:
            return False

    def close(self) -> None:
        self._stop.set()
        self._client.close()


def _reason(response: httpx.Response) -> str:
    """Central's own words for a refusal (problem+json detail, or the start of the body)."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:300]
    return str(body)[:300]


class FakeCentralClient(CentralClient):
    """In-memory central for tests: answers from a table, counts calls per idempotency key, and
    fails on demand (``fail_next`` errors are raised first, in order)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.results: dict[str, dict[str, Any]] = {}  # check_id -> result template
        self.calls: dict[str, int] = {}  # idempotency key -> times seen
        self.answers: dict[str, dict[str, Any]] = {}  # idempotency key -> first answer
        self.fail_next: list[CentralError] = []
        self.down = False
        self.documents: dict[str, str] = {}  # document number -> stolen | lost
        self.feed: list[dict[str, Any]] = []

    def search(self, request: dict[str, Any], *, idempotency_key: str) -> dict[str, Any]:
        with self.lock:
            if self.down:
                raise CentralUnavailable("central unreachable (fake outage)")
            if self.fail_next:
                raise self.fail_next.pop(0)
            self.calls[idempotency_key] = self.calls.get(idempotency_key, 0) + 1
            if idempotency_key not in self.answers:
                base = self.results.get(request["check_id"], {"decision": "no_hit"})
                self.answers[idempotency_key] = {
                    "check_id": request["check_id"], "candidates": [], "document": None, **base,
                }
            return validate_search_result(
                dict(self.answers[idempotency_key]), check_id=request["check_id"]
            )

    def check_document(self, document: dict[str, Any]) -> dict[str, Any]:
        status = self.documents.get(str(document.get("document_number")), "clear")
        return {"status": status, "hit": status != "clear"}

    def nominal_search(
        self, *, surname: str, given_names: str | None = None, birth_date: str | None = None
    ) -> dict[str, Any]:
        return {"candidates": []}

    def changes(self, *, since: int, limit: int = 1000) -> dict[str, Any]:
        with self.lock:
            if self.down:
                raise CentralUnavailable("central unreachable (fake outage)")
            newer = [c for c in self.feed if c["version"] > since][:limit]
            version = newer[-1]["version"] if newer else since
            more = any(c["version"] > version for c in self.feed)
            return {"version": version, "changes": newer, "more": more}

    def health(self) -> bool:
        return not self.down
