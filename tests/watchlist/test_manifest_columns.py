"""Manifests: a misspelt column or a record without any biometric is an error naming the row and
the column, never a subject imported silently without biometrics."""

from __future__ import annotations

import json

import pytest

from gateway.errors import Invalid
from gateway.watchlist.manifest import parse_manifest


def _opener(path: str):  # type: ignore[no-untyped-def]
    return lambda: b""


def _csv(text: str, **kw):  # type: ignore[no-untyped-def]
    return parse_manifest(text, is_json=False, opener=_opener, **kw)


def test_misspelt_column_refuses_the_manifest_naming_it() -> None:
    text = "external_ref,name,category,photos\nA-1,Ann,red,a.jpg\nA-2,Bob,red,b.jpg\n"
    with pytest.raises(Invalid) as caught:
        _csv(text)
    err = caught.value
    assert err.field == "manifest"
    assert "'photos'" in err.detail and "row 1" in err.detail
    assert "did you mean 'faces'" in err.detail
    assert "faces" in (err.fix or "") and err.extra["columns"] == ["photos"]


def test_unknown_key_in_a_json_record_names_its_row() -> None:
    doc = [{"external_ref": "J-1", "name": "Ann", "category": "red", "faces": ["a.jpg"]},
           {"external_ref": "J-2", "name": "Bob", "category": "red", "fingerprint": "2:b.png"}]
    with pytest.raises(Invalid) as caught:
        parse_manifest(json.dumps(doc), is_json=True, opener=_opener)
    assert "'fingerprint'" in caught.value.detail and "row 2" in caught.value.detail
    assert "did you mean 'fingerprints'" in caught.value.detail


def test_extra_cells_beyond_the_header_are_an_error() -> None:
    with pytest.raises(Invalid, match="row 1 has more cells"):
        _csv("external_ref,name,category,faces\nA-1,Ann,red,a.jpg,oops\n")


def test_record_without_biometrics_is_rejected_unless_allowed() -> None:
    text = ("external_ref,name,category,faces,fingerprints\n"
            "B-1,With Face,red,a.jpg,\nB-2,Name Only,red,,\nB-3,With Print,red,,2:p.png\n")
    rows = _csv(text)
    assert [r.error for r in rows][0] is None and rows[2].error is None
    assert rows[1].error is not None and rows[1].data is None
    assert "row 2" in rows[1].error and "faces" in rows[1].error
    assert "--allow-empty" in rows[1].error
    allowed = _csv(text, allow_empty=True)
    assert all(r.error is None for r in allowed) and allowed[1].data is not None


def test_known_optional_columns_still_pass() -> None:
    text = ("external_ref,name,category,aliases,nationality,faces,ppi,nist,sharing\n"
            "C-1,Ann,red,A;B,KE,a.jpg,500,,\n")
    assert _csv(text)[0].error is None
