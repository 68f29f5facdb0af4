"""ICAO 9303 MRZ: TD3 and TD1 specimens, every check digit, structural errors."""

from __future__ import annotations

import pytest

from device_adapters.errors import MalformedPayload
from device_adapters.mrz import check_digit, parse_mrz
from tests.adapters.builders import TD1, TD3


def test_td3_specimen() -> None:
    doc = parse_mrz(TD3)
    assert doc.valid and doc.errors == []
    assert (doc.document_type, doc.issuing_state, doc.document_number) == ("P", "UTO", "L898902C3")
    assert (doc.surname, doc.given_names, doc.nationality) == ("ERIKSSON", "ANNA MARIA", "UTO")
    assert (doc.birth_date, doc.expiry_date, doc.sex) == ("1974-08-12", "2012-04-15", "F")


def test_td1_specimen() -> None:
    doc = parse_mrz("\n".join(TD1))
    assert doc.valid, doc.errors
    assert doc.document_number == "D23145890" and doc.surname == "ERIKSSON"
    assert doc.birth_date == "1974-08-12" and doc.nationality == "UTO"


@pytest.mark.parametrize(("line", "position", "error"), [
    (1, 9, "document_number check digit"),
    (1, 19, "birth_date check digit"),
    (1, 27, "expiry_date check digit"),
    (1, 42, "optional_data check digit"),
    (1, 43, "composite check digit"),
])
def test_td3_each_check_digit_is_reported(line: int, position: int, error: str) -> None:
    lines = list(TD3)
    wrong = str((int(lines[line][position]) + 1) % 10)
    lines[line] = lines[line][:position] + wrong + lines[line][position + 1:]
    doc = parse_mrz(lines)
    assert not doc.valid
    assert error in doc.errors
    assert doc.document_number  # the fields are still read for the officer


@pytest.mark.parametrize(("line", "position", "error"), [
    (0, 14, "document_number check digit"),
    (1, 6, "birth_date check digit"),
    (1, 14, "expiry_date check digit"),
    (1, 29, "composite check digit"),
])
def test_td1_each_check_digit_is_reported(line: int, position: int, error: str) -> None:
    lines = list(TD1)
    wrong = str((int(lines[line][position]) + 1) % 10)
    lines[line] = lines[line][:position] + wrong + lines[line][position + 1:]
    doc = parse_mrz(lines)
    assert not doc.valid and error in doc.errors


def test_impossible_date_is_reported() -> None:
    line2 = "L898902C36UTO7413122F1204159ZE184226B<<<<<1"
    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    lines = [TD3[0], line2[:19] + check_digit(line2[13:19]) + line2[20:]]
    doc = parse_mrz(lines)
    assert "birth_date is not a date" in doc.errors


@pytest.mark.parametrize("lines", [[], ["P<UTO"], TD3[:1], [TD3[0], TD3[1] + "<"],
                                   [TD3[0], TD3[1].replace("L", "é")], TD1[:2]])
def test_not_an_mrz_raises(lines: list[str]) -> None:
    with pytest.raises(MalformedPayload) as info:
        parse_mrz(lines, field="mrz")
    assert info.value.field is not None and info.value.field.startswith("mrz")


# --- issue 13: visas, long TD1 numbers, two-digit years ---------------------------------------

# ICAO 9303-7 visa specimens (the MRV-A one, read as a passport, failed its composite check).
MRV_A = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<", "L8988901C4XXX4009078F96121096ZE184226B<<<<<<"]
MRV_B = ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"]


@pytest.mark.parametrize(("lines", "fmt"), [(MRV_A, "MRV-A"), (MRV_B, "MRV-B")])
def test_visas_are_read_as_visas(lines: list[str], fmt: str) -> None:
    doc = parse_mrz(lines)
    assert doc.valid, doc.errors
    assert doc.mrz_format == fmt and doc.document_type == "V"
    assert (doc.document_number, doc.nationality, doc.surname) == ("L8988901C", "XXX", "ERIKSSON")
    assert (doc.birth_date, doc.expiry_date, doc.sex) == ("1940-09-07", "1996-12-10", "F")


def test_visa_check_digit_still_checked() -> None:
    lines = [MRV_A[0], MRV_A[1][:27] + "0" + MRV_A[1][28:]]
    assert "expiry_date check digit" in parse_mrz(lines).errors


def _td1_long(number: str, *, filler_checked: bool) -> list[str]:
    head, rest = number[:9], number[9:]
    digit = check_digit(head + ("<" if filler_checked else "") + rest)
    line1 = f"I<UTO{head}<{rest}{digit}".ljust(30, "<")
    line2 = "7408122F1204159UTO<<<<<<<<<<<"
    line2 += check_digit(line1[5:30] + line2[0:7] + line2[8:15] + line2[18:29])
    return [line1, line2, "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]


@pytest.mark.parametrize("filler_checked", [False, True])
def test_td1_long_document_number_both_conventions(filler_checked: bool) -> None:
    lines = _td1_long("D23145890AB12", filler_checked=filler_checked)
    assert check_digit("D23145890AB12") != check_digit("D23145890<AB12")  # the cases differ
    doc = parse_mrz(lines)
    assert doc.valid, doc.errors
    assert doc.document_number == "D23145890AB12" and doc.mrz_format == "TD1"


def test_td1_long_document_number_wrong_digit_refused() -> None:
    lines = _td1_long("D23145890AB12", filler_checked=False)
    digit_at = lines[0].index("AB12") + 4
    wrong = next(d for d in "0123456789" if d not in (
        check_digit("D23145890AB12"), check_digit("D23145890<AB12")))
    bad = lines[0][:digit_at] + wrong + lines[0][digit_at + 1:]
    doc = parse_mrz([bad, *lines[1:]])
    assert "document_number check digit" in doc.errors


def _td3_dates(birth: str, expiry: str) -> list[str]:
    line2 = f"L898902C36UTO{birth}{check_digit(birth)}F{expiry}{check_digit(expiry)}"
    line2 += "ZE184226B<<<<<1"
    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:43])
    return [TD3[0], line2]


def test_old_expiry_is_not_in_the_next_century() -> None:
    from datetime import date

    doc = parse_mrz(_td3_dates("740812", "950101"), today=date(2026, 12, 1))
    assert doc.valid, doc.errors
    assert doc.expiry_date == "1995-01-01"
    assert parse_mrz(_td3_dates("740812", "360101"), today=date(2026, 12, 1)).expiry_date == (
        "2036-01-01")


def test_birth_date_is_in_the_past_to_the_day() -> None:
    from datetime import date

    today = date(2026, 12, 1)
    assert parse_mrz(_td3_dates("261215", "300101"), today=today).birth_date == "1926-12-15"
    assert parse_mrz(_td3_dates("261115", "300101"), today=today).birth_date == "2026-11-15"


def test_td2_document() -> None:
    line2 = "D231458907UTO7408122F1204159<<<<<<<"
    line2 += check_digit(line2[0:10] + line2[13:20] + line2[21:35])
    doc = parse_mrz(["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", line2])
    assert doc.valid, doc.errors
    assert doc.mrz_format == "TD2" and doc.document_number == "D23145890"
