"""A check's purpose: required, one of the configured list (``FIELDCHECK_CHECK_PURPOSES``).

Checking a person's biometrics needs a stated reason; the purpose is stored with the check,
sent to central, and the forwarding policy may depend on it.
"""

from __future__ import annotations

import re

from gateway.errors import Invalid


def normalise_purpose(value: str) -> str:
    """The form two spellings of one purpose share (case, spaces, ``_`` and ``-`` ignored)."""
    return re.sub(r"[\s_\-]+", " ", value).strip().casefold()


def parse_purpose(value: str | None, allowed: list[str]) -> str:
    """The configured spelling of ``value``, or Invalid (422) naming the field and the list."""
    listed = ", ".join(allowed)
    if value is None or not value.strip():
        raise Invalid(
            "a check needs a purpose", field="purpose",
            fix=f"send 'purpose' (form field, device payload, or ?purpose=) as one of: {listed}",
        )
    wanted = normalise_purpose(value)
    for purpose in allowed:
        if normalise_purpose(purpose) == wanted:
            return purpose
    raise Invalid(f"unknown purpose {value[:80]!r}", field="purpose",
                  fix=f"use one of: {listed} (FIELDCHECK_CHECK_PURPOSES)")
