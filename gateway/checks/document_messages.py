"""The officer's message for a document-only check that found nothing, in his language.

The MRZ reader (``device_adapters.mrz``, which knows nothing of languages) names each failed
check in English (``"birth_date check digit"``); those names are catalogue entries too, so a
French officer reads which part of the MRZ failed in French.
"""

from __future__ import annotations

from gateway.i18n import N_, translate

# Every text ``device_adapters.mrz`` puts in ``DocumentData.errors`` (tests/console/test_i18n.py
# fails when the reader produces one that is not here).
MRZ_ERRORS = (
    N_("document_number check digit"),
    N_("birth_date check digit"),
    N_("expiry_date check digit"),
    N_("optional_data check digit"),
    N_("composite check digit"),
    N_("birth_date is not a date"),
    N_("expiry_date is not a date"),
)


def document_message(document: dict, language: str = "en") -> str:
    """What a document-only check with no hit established (and what it did not)."""
    if not document.get("valid", True):
        errors = ", ".join(translate(e, language) for e in document.get("errors") or [])
        return translate(N_("The MRZ fails its checks ({errors}): examine the document and read "
                            "it again; it may be damaged or forged."), language, errors=errors)
    if not document.get("check"):
        return translate(N_("The MRZ is valid. The stolen/lost document list could not be "
                            "consulted: check it again later."), language)
    return translate(N_("The travel document is not reported stolen or lost. Proceed normally."),
                     language)
