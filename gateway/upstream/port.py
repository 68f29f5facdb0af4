"""``UpstreamPort``: the check pipeline's one door to the central databases.

    checks.service.run_check ──on_check(session, check, capture, probes)──► UpstreamPort
                             ──(caller commits)──► notify() ──► delivery worker ──► central

``UpstreamService`` is the implementation; the pipeline needs nothing else of it.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session

from device_adapters.capture import Capture, DocumentData
from gateway.checks.models import Check


@dataclass(frozen=True)
class FingerProbe:
    position: int  # ANSI/NIST finger position (0: unknown)
    iso_19794_2: bytes


@dataclass(frozen=True)
class ProbeTemplates:
    """The usable probe templates of one check, for central only: they go into the outbox
    payload, never into the check row or its answer, and are scrubbed when central answers."""

    faces: tuple[bytes, ...] = ()  # face embeddings (``FaceTemplate.to_bytes``)
    fingers: tuple[FingerProbe, ...] = field(default_factory=tuple)

    def __bool__(self) -> bool:
        return bool(self.faces or self.fingers)

    @classmethod
    def from_payload(cls, payload: dict[str, list[Any]]) -> ProbeTemplates:
        """The inverse of ``payload`` (tests, benchmarks)."""
        return cls(
            faces=tuple(base64.b64decode(f) for f in payload.get("faces") or []),
            fingers=tuple(FingerProbe(int(f["position"]), base64.b64decode(f["iso_19794_2"]))
                          for f in payload.get("fingers") or []),
        )

    def payload(self) -> dict[str, list[Any]]:
        """As the outbox (and central's API) carry them: base64 text."""
        return {
            "faces": [base64.b64encode(f).decode() for f in self.faces],
            "fingers": [{"position": f.position,
                         "iso_19794_2": base64.b64encode(f.iso_19794_2).decode()}
                        for f in self.fingers],
        }


class UpstreamPort(ABC):
    """The central link as the check pipeline sees it."""

    @abstractmethod
    def on_check(self, session: Session, check: Check, capture: Capture,
                 probes: ProbeTemplates) -> None:
        """Queue ``check`` for central, or decide not to (the forwarding policy).

        Transaction rule: called inside the check's transaction, after ``session.add(check)``
        and before the caller commits. It may add rows to ``session`` (the outbox item) and set
        ``check.upstream_status``; it must not commit, roll back or open another session, must
        not call central or wait for it (the officer's answer never waits for central), and
        must not raise because central is down. What it adds commits or rolls back with the
        check: a check is never stored without its outbox item, nor an item without its check.
        ``probes`` are used for the outbox payload only.
        """

    @abstractmethod
    def notify(self) -> None:
        """Called after the commit: wake the delivery worker (cheap, never blocks)."""

    @abstractmethod
    def check_document(self, session: Session, document: DocumentData) -> dict[str, Any] | None:
        """The document against the local copy of central's stolen/lost list and notices
        (read-only, inside the check's transaction); None when it has no number."""
