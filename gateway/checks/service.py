"""The field check: a capture in, a local decision out.

Recipe: extract every capture in parallel (face embedding, finger minutiae + NFIQ 2, device ISO
templates) -> drop unusable ones (reported in ``quality``) -> search the cached watchlist per
capture -> per candidate subject, turn each capture's best score into evidence (-log10 FMR,
``matchers.calibration``) and fuse by summing -> decide from the gallery size and the target
FPIRs -> store the check (and queue it for central) in one transaction -> answer.

Only hit/possible candidates are returned: listing below-threshold subjects to a handheld would
leak the watchlist.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

import numpy as np
from sqlmodel import Session

from device_adapters.capture import Capture
from gateway.audit.service import record
from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.checks.answer import (
    Candidate,
    CaptureQuality,
    CheckFacts,
    DocumentResult,
    answer_dict,
)
from gateway.checks.document_messages import document_message
from gateway.checks.models import Check, ReviewStatus
from gateway.errors import Invalid, NotFound
from gateway.i18n import N_, translate
from gateway.privacy.purpose import parse_purpose
from gateway.privacy.service import probe_keeping, store_probe_images
from gateway.runtime import Runtime
from gateway.upstream.port import FingerProbe, ProbeTemplates
from gateway.watchlist.categories import (
    HANDLING,
    NO_HIT_MESSAGE,
    POSSIBLE_MESSAGE,
    RECAPTURE_MESSAGE,
    Category,
    category_name,
)
from matchers import calibration, fusion, quality
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from matchers.calibration import Decision
from matchers.errors import MatcherError, UnusableCapture
from matchers.quality import Stage
from matchers.templates import FaceTemplate, FingerprintTemplate

log = logging.getLogger(__name__)
CANDIDATES_SHOWN = 5
SEARCH_K = 10
# Refused with a 4xx naming the field rather than answered "recapture": bytes that are no image,
# a capture whose resolution no recapture with the same sensor can raise, and an extraction
# over the request's time budget.
MALFORMED_REASONS = {"unreadable_image", "image_too_large", "resolution_too_low",
                     "extraction_budget"}


@dataclass
class Probes:
    """A check's usable templates by capture key (``matchers.fusion.capture_key``), and the
    quality of every capture under the same keys."""

    faces: dict[str, FaceTemplate] = field(default_factory=dict)
    fingers: dict[str, FingerprintTemplate] = field(default_factory=dict)
    quality: dict[str, Any] = field(default_factory=dict)


def extract_probes(runtime: Runtime, capture: Capture) -> Probes:
    """Extract every capture (in parallel); unusable ones are reported, not raised."""
    probes = Probes()
    jobs: list[tuple[str, str, str, Future[Any]]] = []
    keys: list[str] = []
    for face in capture.faces:
        key = fusion.capture_key("face", None, keys)
        keys.append(key)
        # Two people of similar size and neither framed centrally: ask for a recapture.
        fut: Future[Any] = runtime.extraction.submit(
            face_matcher.extract, face.image, refuse_ambiguous=True
        )
        jobs.append((key, "face", "face", fut))
    for finger in capture.fingers:
        key = fusion.capture_key("finger", finger.position, keys)
        keys.append(key)
        fut = runtime.extraction.submit(
            finger_matcher.extract, finger.image, pixels=cast(np.ndarray | None, finger.pixels),
            ppi=finger.ppi,
            position=finger.position,
        )
        jobs.append((key, "finger", f"finger_{finger.position}", fut))
    # One time budget for the whole request's extraction: a hostile image must not hold the
    # officer's answer (and the pool) for minutes. Work running in a worker process is stopped
    # (``ExtractionPool.abandon``); on threads it finishes in the background.
    deadline = time.monotonic() + runtime.settings.extract_budget_s
    for key, kind, form_field, fut in jobs:
        try:
            try:
                template: Any = fut.result(timeout=max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                runtime.extraction.abandon([pending for *_rest, pending in jobs])
                raise UnusableCapture(
                    "extraction_budget",
                    f"extracting the captures took longer than the budget of "
                    f"{runtime.settings.extract_budget_s:g} s (FIELDCHECK_EXTRACT_BUDGET_S); "
                    "send an ordinary photo or print",
                ) from None
            if kind == "face":
                probes.quality[key] = {"status": "ok", **quality.face_quality(template)}
                probes.faces[key] = template
            else:
                measured = quality.finger_quality(template, Stage.CHECK)
                del measured["ppi_source"]  # the check's quality has always shown ppi only
                probes.quality[key] = {"status": "ok", **measured}
                probes.fingers[key] = template
        except UnusableCapture as exc:
            if exc.reason in MALFORMED_REASONS:
                # Bytes that are no image at all are a device/software fault, not a poor
                # capture: refuse the request (4xx naming the field) instead of "recapture".
                exc.field = form_field  # type: ignore[attr-defined]
                raise
            measured = {k: v for k, v in exc.quality.items() if k != "ppi_source"}
            probes.quality[key] = {"status": "unusable", "reason": exc.reason,
                                   "detail": exc.message, **measured}
        except Exception:
            # A matcher bug on one capture must not cost the officer the whole answer: the
            # other captures are still searched, this one is reported.
            log.exception("extraction failed on %s", key)
            probes.quality[key] = {"status": "unusable", "reason": "extraction_failed",
                                   "detail": "this capture could not be processed; capture again"}
    for device_template in capture.templates:
        key = fusion.capture_key("finger", device_template.position, probes.quality)
        try:
            probe = FingerprintTemplate.from_iso(device_template.iso_19794_2)
        except MatcherError as exc:
            probes.quality[key] = {
                "status": "unusable", "reason": "bad_template", "detail": str(exc)
            }
            continue
        probe.position = device_template.position
        # nfiq2 is None here: the record's quality byte is the vendor's scale (device_quality),
        # so a device template is judged on its minutiae count only.
        try:
            quality.finger_quality(probe, Stage.CHECK)
        except UnusableCapture as exc:
            probes.quality[key] = {"status": "unusable", "reason": exc.reason,
                                   "detail": exc.message, "minutiae": len(probe.minutiae)}
            continue
        probes.fingers[key] = probe
        probes.quality[key] = {"status": "ok", "minutiae": len(probe.minutiae),
                               "source": "device_template"}
    return probes


def search(runtime: Runtime, probes: Probes) -> tuple[Decision, list[dict[str, Any]]]:
    """Search the cache per capture and fuse (``matchers.fusion``); returns (decision,
    candidates best first)."""
    cache = runtime.cache
    pool = runtime.search_pool
    # The face batch and each finger search run in parallel on the two cores.
    face_job = (
        pool.submit(cache.faces.search_batch,
                    np.stack([f.embedding for f in probes.faces.values()]), SEARCH_K)
        if probes.faces
        else None
    )
    finger_jobs = [(key, pool.submit(cache.fingers.search, probe, SEARCH_K))
                   for key, probe in probes.fingers.items()]
    found: dict[str, list[fusion.Match]] = {}
    for key, matches in zip(probes.faces, face_job.result() if face_job else [], strict=True):
        for m in matches:
            found.setdefault(m.subject_id, []).append(fusion.Match(
                key, fusion.face_gallery_key(), m.score, calibration.FACE.evidence(m.score)))
    for key, job in finger_jobs:
        for fm in job.result():
            found.setdefault(fm.subject_id, []).append(fusion.Match(
                key, fusion.finger_gallery_key(fm.position, fm.template_id), fm.score,
                calibration.FINGER.evidence(fm.score)))
    # Independent captures searched: one face (several photos are one face) plus each finger.
    captures = (1 if probes.faces else 0) + len(probes.fingers)
    now = datetime.now(UTC)
    candidates: list[dict[str, Any]] = []
    for fused in fusion.fuse(found, gallery_size=max(1, len(cache.subjects)),
                             captures=captures):
        card = cache.card(fused.subject_id)
        if not fused.decision.needs_review or card is None or card.expired(now):
            continue
        candidates.append({
            "subject_id": fused.subject_id,
            "name": card.name,
            "category": card.category,
            "decision": fused.decision,
            "scores": {
                k: {"score": round(m.score, 4), "evidence": round(m.evidence, 2)}
                for k, m in sorted(fused.scores.items())
            },
            "fused_score": round(fused.fused_score, 2),
            "expected_fpir": fused.expected_fpir,
            "handling_instructions": card.handling_instructions
            or HANDLING[Category(card.category)],
        })
        if len(candidates) == CANDIDATES_SHOWN:
            break
    decision = Decision(candidates[0]["decision"]) if candidates else Decision.NO_HIT
    return decision, candidates


def _message(
    decision: Decision, candidates: list[dict[str, Any]], document: dict | None,
    language: str = "en",
    *, document_only: bool = False,
) -> str:
    """The officer's message in ``language`` (the catalogues in ``gateway/locales``)."""
    if decision == Decision.HIT and candidates:
        top = candidates[0]
        # A default instruction is a catalogue entry; an NCB's own wording passes unchanged.
        return translate(
            N_("HIT: {name} ({category}). {instructions}"), language, name=top["name"],
            category=category_name(top["category"], language),
            instructions=translate(top["handling_instructions"], language),
        )
    doc_check = (document or {}).get("check") or {}
    if doc_check.get("hit"):
        return translate(N_("The travel document is reported stolen or lost: retain it and "
                            "contact the NCB."), language)
    if decision == Decision.POSSIBLE and not candidates and doc_check.get("notices"):
        return translate(N_("The document holder's name and birth date match an international "
                            "notice: an NCB analyst will review it. Do not act on this alone."),
                         language)
    if decision == Decision.POSSIBLE:
        return translate(POSSIBLE_MESSAGE, language)
    if decision == Decision.RECAPTURE:
        return translate(RECAPTURE_MESSAGE, language)
    if document_only:
        return document_message(document or {}, language)
    return translate(NO_HIT_MESSAGE, language)


def _localise(candidates: list[dict[str, Any]], language: str) -> None:
    """Candidates as the officer reads them: the category's name and instruction in his language."""
    for c in candidates:
        c["category_name"] = category_name(c["category"], language)
        c["handling_instructions"] = translate(c["handling_instructions"], language)


def _nothing_to_check(capture: Capture) -> Invalid:
    """The refusal of a capture with no biometric and no document, naming what was skipped."""
    if capture.skipped:
        first = capture.skipped[0]
        detail = "; ".join(f"{s.field}: {s.detail}" for s in capture.skipped)
        return Invalid(f"no usable biometric or travel document: {detail}", field=first.field,
                       fix="send single-finger records (or slaps that can be segmented), a face "
                           "photo or the document's MRZ")
    return Invalid(
        "a check needs at least one biometric or a travel document", field="face",
        fix="attach a face photo ('face'), fingerprints ('finger_1' ... 'finger_10') and/or "
            "the document's MRZ ('mrz')",
    )


# Text a device may send, and the most each may hold (the stored columns' sizes).
TEXT_LIMITS = {"purpose": 60, "device_id": 100, "operator_id": 100}


def _check_text_lengths(capture: Capture, device_id: str | None) -> None:
    values = {
        "purpose": capture.purpose,
        "device_id": device_id or capture.device.serial,
        "operator_id": capture.device.operator_id,
    }
    for name, value in values.items():
        if value is not None and len(value) > TEXT_LIMITS[name]:
            raise Invalid(
                f"{name} is {len(value)} characters long; at most {TEXT_LIMITS[name]} are kept",
                field=name, fix=f"send a {name} of at most {TEXT_LIMITS[name]} characters",
            )


def run_check(runtime: Runtime, session: Session, *, principal: Principal, capture: Capture,
              device_id: str | None = None, language: str = "en") -> Check:
    """Run one check end to end and store it; returns the stored check.

    ``language`` (en, fr, pt: ``gateway.i18n``) is the officer's: message and instructions."""
    started = time.perf_counter()
    _check_text_lengths(capture, device_id)
    # A travel document alone is a check (stolen/lost documents, notices): the commonest at a
    # port. Nothing at all is refused, naming any record the adapter had to skip.
    document_only = not capture.has_biometrics
    if document_only and capture.document is None:
        raise _nothing_to_check(capture)
    capture.purpose = parse_purpose(capture.purpose, runtime.settings.purposes)
    probes = extract_probes(runtime, capture)
    for skipped in capture.skipped:
        probes.quality[skipped.field] = {"status": "skipped", "reason": skipped.reason,
                                         "detail": skipped.detail}
    version = runtime.cache.version
    candidates: list[dict[str, Any]]
    if document_only:
        decision, candidates = Decision.NO_HIT, []  # the document's result below decides
    elif not probes.faces and not probes.fingers:
        decision, candidates = Decision.RECAPTURE, []
    else:
        decision, candidates = search(runtime, probes)
    document = None
    if capture.document is not None:
        document = capture.document.as_dict()
        if runtime.upstream is not None:
            doc_check = runtime.upstream.check_document(session, capture.document)
            if doc_check:
                document["check"] = doc_check
                if doc_check.get("hit"):
                    decision = decision.raised_to(Decision.HIT)
                elif doc_check.get("notices"):
                    # A name and birth date alone: for an analyst.
                    decision = decision.raised_to(Decision.POSSIBLE)
    check_id = "chk_" + uuid.uuid4().hex[:20]
    _localise(candidates, language)
    facts = CheckFacts(
        candidates=[Candidate.model_validate(c) for c in candidates],
        quality={k: CaptureQuality.model_validate(q) for k, q in probes.quality.items()},
        message=_message(decision, candidates, document, language, document_only=document_only),
        language=language,
        **({"document": DocumentResult.model_validate(document)} if document is not None else {}),
    )
    check = Check(
        id=check_id, token_id=principal.token_id,
        device_id=device_id or capture.device.serial, adapter=capture.adapter,
        purpose=capture.purpose, local_decision=decision, decision=decision,
        watchlist_version=version,
        review_status=ReviewStatus.PENDING if decision.needs_review else None,
    )
    facts.elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
    check.response = facts.stored()
    session.add(check)
    if runtime.upstream is not None:
        runtime.upstream.on_check(session, check, capture, _probe_templates(probes))
    keeping = probe_keeping(check)
    if keeping is not None and runtime.keyring is not None:
        # Sealed for the reviewer, or held for central's answer (a hit only central knows needs
        # them); a no_hit that stays local keeps no probe image at all.
        store_probe_images(session, runtime.keyring, check_id=check_id, capture=capture,
                           settings=runtime.settings, held=keeping == "held")
    record(
        session, actor=principal, action="check.create", target_type="check", target_id=check_id,
        # The device is who its token says (the name it was issued to); the serial in the
        # payload is only a claim, kept beside it so one device cannot write as another.
        device_id=principal.name,
        after={"decision": decision, "candidates": [c["subject_id"] for c in candidates],
               "claimed_device_id": check.device_id},
    )
    session.commit()
    if runtime.upstream is not None:
        runtime.upstream.notify()
    return check


def _probe_templates(probes: Probes) -> ProbeTemplates:
    return ProbeTemplates(
        faces=tuple(f.to_bytes() for f in probes.faces.values()),
        fingers=tuple(FingerProbe(f.position, f.to_iso()) for f in probes.fingers.values()),
    )


def check_view(check: Check) -> dict[str, Any]:
    """The answer for a stored check (``answer.render``), as JSON-ready data."""
    return answer_dict(check)


def get_check(session: Session, *, check_id: str, principal: Principal) -> Check:
    check = session.get(Check, check_id)
    # Devices see only their own checks; to them another device's check does not exist.
    if check is None or (principal.role == Role.device and check.token_id != principal.token_id):
        raise NotFound(f"no check with id {check_id!r}", field="check_id")
    return check
