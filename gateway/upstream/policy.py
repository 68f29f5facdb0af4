"""The forwarding policy (``FIELDCHECK_UPSTREAM_POLICY``), parsed once into a typed value.

``all`` forwards every check, ``hits`` only those the local watchlist (or a merge) called hit
or possible, ``purpose:a,b`` only checks made for one of the listed purposes.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from matchers.calibration import Decision

PURPOSE_PREFIX = "purpose:"


class ForwardMode(StrEnum):
    ALL = "all"
    HITS = "hits"
    PURPOSE = "purpose"


@dataclass(frozen=True)
class ForwardingPolicy:
    mode: ForwardMode
    purposes: tuple[str, ...] = ()  # as written, in order

    @classmethod
    def parse(cls, text: str) -> ForwardingPolicy:
        """``all`` | ``hits`` | ``purpose:<a,b,...>``; anything else is a ``ValueError``."""
        value = text.strip()
        if value in (ForwardMode.ALL, ForwardMode.HITS):
            return cls(ForwardMode(value))
        if value.startswith(PURPOSE_PREFIX):
            purposes = tuple(dict.fromkeys(
                p.strip() for p in value.removeprefix(PURPOSE_PREFIX).split(",") if p.strip()
            ))
            if purposes:
                return cls(ForwardMode.PURPOSE, purposes)
        raise ValueError(f"policy {value!r} must be 'all', 'hits' or 'purpose:<a,b,...>' "
                         "(purposes as in FIELDCHECK_CHECK_PURPOSES)")

    def __str__(self) -> str:
        if self.mode is ForwardMode.PURPOSE:
            return PURPOSE_PREFIX + ",".join(self.purposes)
        return str(self.mode)

    def forwards(self, *, decisions: tuple[Decision, ...], purpose: str | None) -> bool:
        """Whether a check with these decisions (local, merged) and purpose goes to central."""
        if self.mode is ForwardMode.ALL:
            return True
        if self.mode is ForwardMode.HITS:
            return any(Decision(d).needs_review for d in decisions)
        return (purpose or "") in self.purposes
