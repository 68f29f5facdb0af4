"""Where a check stands with central (``Check.upstream_status``), the one vocabulary for it.

    not_forwarded   (the policy kept it local)
    queued ──(leased)──► pending ──► completed
      ▲                    ├──(retry)──► queued
                           ├──► failed   (central refused it)
                           └──► expired  (TTL passed)
"""

from __future__ import annotations

from enum import StrEnum


class UpstreamStatus(StrEnum):
    NOT_FORWARDED = "not_forwarded"  # the forwarding policy kept it local
    QUEUED = "queued"  # in the outbox, waiting for a delivery slot
    PENDING = "pending"  # sent, awaiting central's answer
    COMPLETED = "completed"  # central answered; its result is merged
    FAILED = "failed"  # dead-lettered: central refused it
    EXPIRED = "expired"  # dead-lettered: not delivered before the queue TTL

    @property
    def terminal(self) -> bool:
        """Nothing more will happen to it (unless an NCB admin requeues a dead letter)."""
        return self in _TERMINAL


_TERMINAL = frozenset({UpstreamStatus.COMPLETED, UpstreamStatus.FAILED, UpstreamStatus.EXPIRED,
                       UpstreamStatus.NOT_FORWARDED})
