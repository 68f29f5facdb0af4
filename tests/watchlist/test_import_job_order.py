"""A job's stored results are served in the order the importer wrote them (the typed answer
must not reorder the bytes clients and audit diffs already see)."""

from __future__ import annotations

from gateway.watchlist import importer
from gateway.watchlist.schemas import ImportRecordResult, ImportSummary


def _rows() -> list[dict]:
    refused = [{"file": "a.jpg", "reason": "no_face"}]
    return [
        {"row": 1, "external_ref": "NCB-1", "refused_images": refused, "status": "rejected",
         "reason": "no usable image: a.jpg: no_face"},
        {"row": 2, "external_ref": "NCB-2", "refused_images": refused, "status": "imported",
         "subject_id": "sub_1", "faces": 1, "fingerprints": 0, "reference_images": 1},
        {"row": 3, "external_ref": None, "status": "skipped", "reason": "already in the watchlist"},
    ]


def test_record_results_keep_the_importers_key_order() -> None:
    for stored in _rows():
        served = ImportRecordResult.model_validate(stored).model_dump(exclude_unset=True)
        assert list(served) == list(stored)


def test_the_summary_keeps_the_importers_key_order() -> None:
    summary = importer.summarise(_rows())
    served = ImportSummary.model_validate(summary).model_dump(exclude_unset=True)
    assert list(served["refused_images"][0]) == list(summary["refused_images"][0])
    assert list(served["rejected_records"][0]) == list(summary["rejected_records"][0])
