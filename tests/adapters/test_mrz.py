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
