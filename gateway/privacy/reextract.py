"""Re-extract watchlist templates from their sealed reference images when a matcher changes.

A template whose ``model`` differs from the current ``matchers.face.MODEL_ID`` /
``matchers.fingerprint.EXTRACTOR_ID`` is replaced by a new template extracted from its
reference image: a new row (new id) is added, the images are moved onto it, the old row goes,
and the subject's change is logged, so running gateways reload the subject (adding the new
template before dropping the old, as for any update). One subject per transaction.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field

from sqlmodel import Session, col, select

from gateway.audit.service import record
from gateway.privacy.crypto import Keyring
from gateway.privacy.models import ReferenceImage
from gateway.privacy.service import open_reference
from gateway.watchlist.models import BiometricTemplate, current_model
from gateway.watchlist.service import bump
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher
from matchers.errors import UnusableCapture

log = logging.getLogger(__name__)


@dataclass
class ReextractReport:
    outdated: int = 0
    reextracted: int = 0
    without_image: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def _extract(modality: str, position: int, image: bytes) -> tuple[bytes, dict]:
    if modality == "face":
        template = face_matcher.extract(image, refuse_ambiguous=True)
        return template.to_bytes(), dict(template.quality)
    from device_adapters.wsq_sandbox import pixels_if_wsq

    pixels = pixels_if_wsq(image, field="image")
    tpl = finger_matcher.extract(None if pixels is not None else image, pixels=pixels, ppi=500,
                                 position=position)
    return tpl.to_iso(), {"nfiq2": tpl.nfiq2, "minutiae": len(tpl.minutiae), "ppi": 500}


def outdated(session: Session) -> list[BiometricTemplate]:
    rows = session.exec(select(BiometricTemplate).order_by(col(BiometricTemplate.subject_id)))
    return [t for t in rows if t.model != current_model(t.modality)]


def reextract(session: Session, keyring: Keyring, *, dry_run: bool = False) -> ReextractReport:
    report = ReextractReport()
    todo = outdated(session)
    report.outdated = len(todo)
    for tpl in todo:
        kind = "face" if tpl.modality == "face" else "finger"
        image = session.exec(select(ReferenceImage).where(
            ReferenceImage.template_id == tpl.id, ReferenceImage.kind == kind)).first()
        if image is None:
            report.without_image.append(tpl.id)
            continue
        if dry_run:
            continue
        try:
            data, quality = _extract(tpl.modality, tpl.position, open_reference(keyring, image))
        except UnusableCapture as exc:
            report.failed[tpl.id] = f"{exc.reason}: {exc.message}"
            continue
        new = BiometricTemplate(
            id=f"tpl_{uuid.uuid4().hex[:20]}", subject_id=tpl.subject_id, modality=tpl.modality,
            position=tpl.position, data=data, quality=quality, model=current_model(tpl.modality),
            created_at=tpl.created_at,
        )
        session.add(new)
        session.flush()
        for ref in session.exec(select(ReferenceImage).where(
                ReferenceImage.template_id == tpl.id)):
            ref.template_id = new.id
            session.add(ref)
        session.flush()
        old_model = tpl.model
        session.delete(tpl)
        bump(session, tpl.subject_id)
        record(session, actor=None, action=f"biometric.{tpl.modality}.reextract",
               target_type="subject", target_id=tpl.subject_id,
               before={"template_id": tpl.id, "model": old_model},
               after={"template_id": new.id, "model": new.model, **quality}, detail="via CLI")
        session.commit()
        report.reextracted += 1
    return report
