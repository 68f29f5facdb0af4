"""The one text policy at every boundary of the gateway (JSON bodies, forms, device payloads,
query strings, bulk imports, received snapshots).

Refused: lone surrogates (U+D800-U+DFFF: they cannot be encoded as UTF-8, so a stored one breaks
every later answer that contains it), NUL and the other C0/C1 control characters except TAB, LF
and CR (NUL truncates strings in C libraries and PostgreSQL refuses it; the others forge log
lines and spreadsheet cells), and the non-characters U+FFFE/U+FFFF. Everything else in Unicode
is a legitimate name in some language and is kept as sent.

This module sits in ``device_adapters`` because that is the lowest layer reading untrusted text;
the gateway imports it, so there is one definition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
FIX = ("send text as UTF-8 without control characters (other than tab and line breaks) and "
       "without lone UTF-16 surrogates")


def unsafe_char(value: str) -> str | None:
    """A description of the first refused character in ``value`` (None when it is clean)."""
    found = _UNSAFE.search(value)
    if found is None:
        return None
    char = found.group()
    kind = "a lone surrogate" if "\ud800" <= char <= "\udfff" else (
        "NUL" if char == "\x00" else "a control character")
    return f"{kind} (U+{ord(char):04X}) at position {found.start()}"


def walk_strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string (keys included) of a decoded JSON value with its dotted path, iteratively."""
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            for key, child in item.items():
                child_path = f"{where}.{key}" if where else str(key)
                if isinstance(key, str):
                    yield child_path, key
                stack.append((child_path, child))
        elif isinstance(item, list):
            stack.extend((f"{where}.{i}" if where else str(i), child)
                         for i, child in enumerate(item))


def first_unsafe(value: Any, path: str = "") -> tuple[str, str] | None:
    """``(field path, description)`` of the first refused string inside ``value``, or None."""
    for where, text in walk_strings(value, path):
        problem = unsafe_char(text)
        if problem:
            return where or "body", problem
    return None


def json_depth(value: Any) -> int:
    """Nesting depth of a decoded JSON value (a scalar is 0), computed without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
            deepest = max(deepest, depth + 1)
    return deepest


def capture_text_fields(capture: Any) -> Iterator[tuple[str, str | None]]:
    """The free-text fields of a canonical ``Capture``, by the name the payloads use."""
    device = capture.device
    if device is not None:
        for name in ("serial", "model", "firmware", "operator_id"):
            yield f"device.{name}", getattr(device, name, None)
    yield "purpose", capture.purpose
    document = capture.document
    if document is not None:
        for name in ("document_type", "issuing_state", "document_number", "nationality",
                     "surname", "given_names", "birth_date", "sex", "expiry_date"):
            yield f"document.{name}", getattr(document, name, None)


def check_capture_text(capture: Any) -> None:
    """Raise ``MalformedPayload`` naming the first text field of ``capture`` the policy refuses.

    Run on every adapter's output, so a format added later is covered without its own check.
    """
    from device_adapters.errors import MalformedPayload

    for name, value in capture_text_fields(capture):
        problem = unsafe_char(value) if value else None
        if problem:
            raise MalformedPayload(f"{name} contains {problem}", field=name, fix=FIX)
