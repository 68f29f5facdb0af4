"""Validating finger positions and sensor resolutions (shared by the API and the importer)."""

from __future__ import annotations

from gateway.errors import Invalid


def parse_position(
    value: str | int | None, *, field: str = "position", allow_unknown: bool = False
) -> int:
    low = 0 if allow_unknown else 1
    try:
        position = int(str(value).strip())
    except (TypeError, ValueError):
        position = -1
    if not low <= position <= 10:
        raise Invalid(
            f"unknown finger position {value!r}",
            field=field,
            fix=f"use an ANSI/NIST finger position {low}-10 (1 right thumb ... 10 left little"
            + (", 0 unknown)" if allow_unknown else ")"),
        )
    return position


def parse_ppi(value: str | int | None, *, field: str = "ppi") -> int:
    if value is None or value == "":
        return 500
    try:
        ppi = int(str(value).strip())
    except ValueError:
        ppi = -1
    if not 250 <= ppi <= 2000:
        raise Invalid(
            f"resolution {value!r} is not usable",
            field=field,
            fix="send the sensor resolution in pixels per inch, 250-2000 (usually 500)",
        )
    return ppi
