"""ICAO 9303 machine-readable zones: passports, ID cards and visas.

Formats (``DocumentData.mrz_format``): TD3 (passports, 2 x 44), TD1 (ID cards, 3 x 30),
TD2 (2 x 36), and the machine-readable visas MRV-A (2 x 44) and MRV-B (2 x 36), told from TD3
and TD2 by the document code 'V' (ICAO 9303-7). Visas have no composite check digit and no
check digit on their optional data: reading one as a passport called every visa invalid.

``parse_mrz`` checks every check digit (document number, birth date, expiry date, optional data
on TD3, composite) and reports failures in ``DocumentData.errors`` with ``valid=False``: a bad
check digit is an answer for the officer, not a malformed request. Only text that cannot be an
MRZ at all (wrong line count or lengths, characters outside ``A-Z 0-9 <``) raises
``MalformedPayload``.

Long document numbers (TD1/TD2, ICAO 9303-5 §4.2.2): the number's first nine characters, '<'
in the check digit's place, the rest in the optional data followed by the check digit. States
differ on whether that '<' is part of the checked text (PRADO specimens show both); either
check digit is accepted.

Two-digit years: a birth date is the latest date not in the future; an expiry date is taken
in the 2000s unless that would put it more than ``EXPIRY_YEARS_AHEAD`` years from today (no
document is valid that long), so an expired 1995 document reads as 1995, not 2095.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import date

from device_adapters.capture import DocumentData
from device_adapters.errors import MalformedPayload

_MRZ_CHARS = re.compile(r"^[A-Z0-9<]+$")
_WEIGHTS = (7, 3, 1)
EXPIRY_YEARS_AHEAD = 20  # passports are valid at most 10 years; 20 leaves room for oddities


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


def parse_mrz(lines: Sequence[str] | str, *, field: str = "mrz",
              today: date | None = None) -> DocumentData:
    """Parse TD1, TD2, TD3, MRV-A or MRV-B lines into ``DocumentData`` (dates as ISO 8601).

    ``today`` (default: the current date) anchors the century of two-digit years.
    """
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
    day = today or date.today()
    visa = bool(clean) and clean[0][:1] == "V"
    if shape == [44, 44]:
        return _parse_visa(clean, "MRV-A", day) if visa else _parse_td3(clean, day)
    if shape == [36, 36]:
        return _parse_visa(clean, "MRV-B", day) if visa else _parse_td2(clean, day)
    if shape == [30, 30, 30]:
        return _parse_td1(clean, day)
    raise MalformedPayload(
        f"{field}: {len(clean)} lines of lengths {shape} are none of TD3 or MRV-A (2 x 44), "
        "TD2 or MRV-B (2 x 36), TD1 (3 x 30)", field=field,
        fix="send all MRZ lines of the document, one string per line",
    )


def _names(text: str) -> tuple[str | None, str | None]:
    surname, _, given = text.strip("<").partition("<<")
    return (surname.replace("<", " ").strip() or None,
            given.replace("<", " ").strip() or None)


def _date(yymmdd: str, *, expiry: bool, today: date) -> str | None:
    if not yymmdd.isdigit():
        return None
    yy, mm, dd = int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    century = today.year // 100 * 100
    try:
        recent, earlier = date(century + yy, mm, dd), date(century - 100 + yy, mm, dd)
    except ValueError:
        return None
    if expiry:
        # Expired documents are presented too: the past century when this one is implausible.
        ahead = today.replace(year=today.year + EXPIRY_YEARS_AHEAD) if (
            today.month, today.day) != (2, 29) else date(today.year + EXPIRY_YEARS_AHEAD, 3, 1)
        return (recent if recent <= ahead else earlier).isoformat()
    # A birth date cannot be in the future.
    return (recent if recent <= today else earlier).isoformat()


def _sex(char: str) -> str:
    return char if char in ("M", "F") else "X"


def _check(errors: list[str], name: str, data: str, digit: str, *alternatives: str) -> None:
    """Record ``name`` as failed unless ``digit`` checks ``data`` (or one of ``alternatives``)."""
    # '<' as a check digit is allowed only over an all-filler field (optional data left empty).
    if digit == "<" and set(data) <= {"<"}:
        return
    if all(check_digit(text) != digit for text in (data, *alternatives)):
        errors.append(f"{name} check digit")


def _finish(doc: DocumentData, errors: list[str], birth: str, expiry: str,
            today: date) -> DocumentData:
    doc.birth_date = _date(birth, expiry=False, today=today)
    doc.expiry_date = _date(expiry, expiry=True, today=today)
    if doc.birth_date is None:
        errors.append("birth_date is not a date")
    if doc.expiry_date is None:
        errors.append("expiry_date is not a date")
    doc.errors = errors
    doc.valid = not errors
    return doc


def _parse_td3(lines: list[str], today: date) -> DocumentData:
    l1, l2 = lines
    errors: list[str] = []
    _check(errors, "document_number", l2[0:9], l2[9])
    _check(errors, "birth_date", l2[13:19], l2[19])
    _check(errors, "expiry_date", l2[21:27], l2[27])
    _check(errors, "optional_data", l2[28:42], l2[42])
    _check(errors, "composite", l2[0:10] + l2[13:20] + l2[21:43], l2[43])
    return _two_line(lines, l2[0:9], l1[5:44], "TD3", errors, today)


def _two_line(lines: list[str], number: str, names: str, mrz_format: str, errors: list[str],
              today: date) -> DocumentData:
    """The fields of a two-line MRZ (TD3, TD2, MRV-A/B: line 2 has the same layout up to the
    expiry date), checked dates and the errors found by the caller's check digits."""
    l1, l2 = lines
    surname, given = _names(names)
    doc = DocumentData(
        mrz_lines=list(lines),
        document_type=l1[0:2].strip("<") or None,
        issuing_state=l1[2:5].strip("<") or None,
        document_number=number.strip("<") or None,
        nationality=l2[10:13].strip("<") or None,
        surname=surname,
        given_names=given,
        sex=_sex(l2[20]),
        mrz_format=mrz_format,
    )
    return _finish(doc, errors, l2[13:19], l2[21:27], today)


def _document_number(errors: list[str], number: str, digit: str, optional: str) -> str:
    """Check a TD1/TD2 document number; returns it whole, long numbers included."""
    alternatives: tuple[str, ...] = ()
    if digit == "<" and optional[:1] not in ("", "<"):
        # Long number: the rest sits in the optional data, ending with the check digit before
        # the first filler. Some states check the '<' in the check digit's place with it,
        # some do not (both are in PRADO's specimens).
        rest = optional.split("<", 1)[0]
        number, digit, alternatives = number + rest[:-1], rest[-1:], (number + "<" + rest[:-1],)
    _check(errors, "document_number", number, digit, *alternatives)
    return number


def _parse_td2(lines: list[str], today: date) -> DocumentData:
    l1, l2 = lines
    errors: list[str] = []
    number = _document_number(errors, l2[0:9], l2[9], l2[28:35])
    _check(errors, "birth_date", l2[13:19], l2[19])
    _check(errors, "expiry_date", l2[21:27], l2[27])
    _check(errors, "composite", l2[0:10] + l2[13:20] + l2[21:35], l2[35])
    return _two_line(lines, number, l1[5:36], "TD2", errors, today)


def _parse_visa(lines: list[str], mrz_format: str, today: date) -> DocumentData:
    """MRV-A (2 x 44) or MRV-B (2 x 36): like TD3/TD2 but no composite or optional check."""
    l1, l2 = lines
    errors: list[str] = []
    _check(errors, "document_number", l2[0:9], l2[9])
    _check(errors, "birth_date", l2[13:19], l2[19])
    _check(errors, "expiry_date", l2[21:27], l2[27])
    return _two_line(lines, l2[0:9], l1[5:], mrz_format, errors, today)


def _parse_td1(lines: list[str], today: date) -> DocumentData:
    l1, l2, l3 = lines
    errors: list[str] = []
    number = _document_number(errors, l1[5:14], l1[14], l1[15:30])
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
        mrz_format="TD1",
    )
    return _finish(doc, errors, l2[0:6], l2[8:14], today)
