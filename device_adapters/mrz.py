"""ICAO 9303 machine-readable zones: TD1 (ID cards, 3 x 30) and TD3 (passports, 2 x 44).

``parse_mrz`` checks every check digit (document number, birth date, expiry date, optional data
on TD3, composite) and reports failures in ``DocumentData.errors`` with ``valid=False``: a bad
check digit is an answer for the officer, not a malformed request. Only text that cannot be an
MRZ at all (wrong line count or lengths, characters outside ``A-Z 0-9 <``) raises
``MalformedPayload``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from device_adapters.capture import DocumentData
from device_adapters.errors import MalformedPayload

_MRZ_CHARS = re.compile(r"^[A-Z0-9<]+$")
_WEIGHTS = (7, 3, 1)


def check_digit(text: str) -> str:
    """The ICAO 9303 check digit of ``text`` (weights 7-3-1; A=10..Z=35; '<'=0)."""
    total = 0
    for i, char in enumerate(text):
        if char.isdigit():
            value = int(char)
        elif "A" <= char <= "Z":
            value = ord(char) - 55
        else:
            value = 0
        total += value * _WEIGHTS[i % 3]
    return str(total % 10)


def parse_mrz(lines: Sequence[str] | str, *, field: str = "mrz") -> DocumentData:
    """Parse TD1 or TD3 MRZ lines into ``DocumentData`` (dates as ISO 8601)."""
    if isinstance(lines, str):
        lines = lines.splitlines()
    if not isinstance(lines, (list, tuple)) or not all(isinstance(x, str) for x in lines):
        raise MalformedPayload(f"{field} must be a list of MRZ lines (strings)", field=field)
    clean = [line.strip().upper().replace(" ", "<") for line in lines if line.strip()]
    for i, line in enumerate(clean):
        if not _MRZ_CHARS.match(line):
            raise MalformedPayload(
                f"{field}[{i}] has characters outside A-Z, 0-9 and '<'", field=f"{field}[{i}]",
                fix="send the MRZ lines exactly as read (OCR-B characters only)",
            )
    shape = [len(line) for line in clean]
    if shape == [44, 44]:
        return _parse_td3(clean)
    if shape == [30, 30, 30]:
        return _parse_td1(clean)
    raise MalformedPayload(
        f"{field}: {len(clean)} lines of lengths {shape} are neither TD3 (2 x 44) nor TD1 "
        "(3 x 30)", field=field, fix="send all MRZ lines of the document, one string per line",
    )


def _names(text: str) -> tuple[str | None, str | None]:
    surname, _, given = text.strip("<").partition("<<")
    return (surname.replace("<", " ").strip() or None,
            given.replace("<", " ").strip() or None)


def _date(yymmdd: str, *, expiry: bool) -> str | None:
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    if expiry:
        year = 2000 + yy  # documents are valid at most ten years: all live expiries are 20xx
    else:
        # A birth year cannot be in the future: two digits above this year mean the 1900s.
        year = 2000 + yy if yy <= date.today().year % 100 else 1900 + yy
    try:
        return date(year, mm, dd).isoformat()
    except ValueError:
        return None


def _sex(char: str) -> str:
    return char if char in ("M", "F") else "X"


def _check(errors: list[str], name: str, data: str, digit: str) -> None:
    # '<' as a check digit is allowed only over an all-filler field (optional data left empty).
    if digit == "<" and set(data) <= {"<"}:
        return
    if check_digit(data) != digit:
        errors.append(f"{name} check digit")


def _finish(doc: DocumentData, errors: list[str], birth: str, expiry: str) -> DocumentData:
    doc.birth_date = _date(birth, expiry=False)
    doc.expiry_date = _date(expiry, expiry=True)
    if doc.birth_date is None:
        errors.append("birth_date is not a date")
    if doc.expiry_date is None:
        errors.append("expiry_date is not a date")
    doc.errors = errors
    doc.valid = not errors
    return doc


def _parse_td3(lines: list[str]) -> DocumentData:
    l1, l2 = lines
    surname, given = _names(l1[5:44])
    errors: list[str] = []
    _check(errors, "document_number", l2[0:9], l2[9])
    _check(errors, "birth_date", l2[13:19], l2[19])
    _check(errors, "expiry_date", l2[21:27], l2[27])
    _check(errors, "optional_data", l2[28:42], l2[42])
    _check(errors, "composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43])
    doc = DocumentData(
        mrz_lines=list(lines),
        document_type=l1[0:2].strip("<") or None,
        issuing_state=l1[2:5].strip("<") or None,
        document_number=l2[0:9].strip("<") or None,
        nationality=l2[10:13].strip("<") or None,
        surname=surname,
        given_names=given,
        sex=_sex(l2[20]),
    )
    return _finish(doc, errors, l2[13:19], l2[21:27])


def _parse_td1(lines: list[str]) -> DocumentData:
    l1, l2, l3 = lines
    errors: list[str] = []
    number, digit = l1[5:14], l1[14]
    if digit == "<" and l1[15] != "<":
        # Long document numbers (ICAO 9303-5 §4.2.2): the rest sits in the optional data,
        # ending with its own check digit before the first filler.
        rest = l1[15:30].split("<", 1)[0]
        number, digit = number + rest[:-1], rest[-1:] or "<"
    _check(errors, "document_number", number, digit)
    _check(errors, "birth_date", l2[0:6], l2[6])
    _check(errors, "expiry_date", l2[8:14], l2[14])
    _check(errors, "composite", l1[5:30] + l2[0:7] + l2[8:15] + l2[18:29], l2[29])
    surname, given = _names(l3)
    doc = DocumentData(
        mrz_lines=list(lines),
        document_type=l1[0:2].strip("<") or None,
        issuing_state=l1[2:5].strip("<") or None,
        document_number=number.strip("<") or None,
        nationality=l2[15:18].strip("<") or None,
        surname=surname,
        given_names=given,
        sex=_sex(l2[7]),
    )
    return _finish(doc, errors, l2[0:6], l2[8:14])
