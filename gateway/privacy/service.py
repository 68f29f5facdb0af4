"""Images kept on purpose, sealed: watchlist reference images (enrolment) and a hit's probe
images (its review). Keyword-only, no HTTP here; callers commit.

Recipe at enrolment: the route extracts the template (as before), then ``prepare_face`` /
``prepare_finger`` (CPU, outside any transaction) and ``store_reference`` (in the enrolment's
transaction, so a template never exists without its image or the other way round).
At a check (``probe_keeping``): a hit/possible answer's probe images are normalised and sealed
for its reviewer; a check queued for central keeps its capture *held*, sealed as received (no
CPU on the officer's path), because central may answer a hit the local watchlist lacked and its
reviewer then needs the probe. Central's answer settles a held capture: no hit, it is deleted in
the same transaction (``drop_probe_images``, from ``upstream.reconcile``); a hit, the check goes
under review and ``settle_held`` normalises the capture when the evidence is first opened. A
no_hit that stays local keeps nothing.
"""

from __future__ import annotations

import base64
import json
import logging
import uuid
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from sqlmodel import Session, col, select

from device_adapters.capture import Capture
from gateway.checks.models import ReviewStatus
from gateway.privacy import images
from gateway.privacy.crypto import ImageKeyUnavailable, Keyring
from gateway.privacy.models import ProbeImage, ReferenceImage
from gateway.settings import Settings
from gateway.upstream.status import UpstreamStatus

if TYPE_CHECKING:
    from gateway.checks.models import Check

log = logging.getLogger(__name__)
# A capture held for central's answer, sealed as received: a JSON header line, then the bytes.
HELD_TYPE = "application/vnd.fieldcheck.held-capture"


def _id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


@dataclass(frozen=True)
class Prepared:
    """Normalised images of one enrolment, not yet sealed: (kind, encoded) pairs."""

    items: list[tuple[str, images.Encoded]]
    position: int = 0


@dataclass(frozen=True)
class ImageBounds:
    """The size limits of stored face images (plain ints: sent to import worker processes)."""

    face_max_px: int
    thumb_px: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ImageBounds:
        return cls(settings.reference_face_max_px, settings.thumbnail_px)


def prepare_face(data: bytes, settings: Settings | ImageBounds) -> Prepared:
    bounds = settings if isinstance(settings, ImageBounds) else ImageBounds.from_settings(settings)
    photo, thumb = images.face_photo(data, max_px=bounds.face_max_px, thumb_px=bounds.thumb_px)
    return Prepared([("face", photo), ("face_thumb", thumb)])


def prepare_finger(data: bytes, *, position: int, ppi: int | None) -> Prepared:
    return Prepared([("finger", images.finger_wsq(images.finger_pixels(data, None, ppi=ppi)))],
                    position=position)


def store_reference(session: Session, keyring: Keyring, *, subject_id: str, template_id: str,
                    prepared: Prepared) -> list[ReferenceImage]:
    rows = []
    for kind, enc in prepared.items:
        row_id = _id("img")
        sealed = keyring.seal(enc.data, aad=f"reference_image:{row_id}")
        rows.append(ReferenceImage(
            id=row_id, subject_id=subject_id, template_id=template_id, kind=kind,
            position=prepared.position, content_type=enc.content_type, width=enc.width,
            height=enc.height, ppi=500 if kind == "finger" else 0, key_id=sealed.key_id,
            blob=sealed.blob, size=len(enc.data),
        ))
    session.add_all(rows)
    return rows


def open_reference(keyring: Keyring, row: ReferenceImage) -> bytes:
    return keyring.open(row.key_id, row.blob, aad=f"reference_image:{row.id}")


def open_probe(keyring: Keyring, row: ProbeImage) -> bytes:
    return keyring.open(row.key_id, row.blob, aad=f"probe_image:{row.id}")


def references_of(session: Session, subject_id: str, *, kinds: tuple[str, ...] | None = None
                  ) -> list[ReferenceImage]:
    query = select(ReferenceImage).where(ReferenceImage.subject_id == subject_id)
    if kinds:
        query = query.where(col(ReferenceImage.kind).in_(kinds))
    return list(session.exec(query.order_by(col(ReferenceImage.created_at))))


def probes_of(session: Session, check_id: str) -> list[ProbeImage]:
    return list(session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id)
                             .order_by(col(ProbeImage.kind), col(ProbeImage.position))))


def probe_keeping(check: Check) -> str | None:
    """What a stored check keeps of its probe images: "evidence" (a hit/possible under review:
    normalised now), "held" (queued for central: sealed as received until central answers) or
    None (nothing: a no_hit or recapture that stays local). Call after ``UpstreamService.on_check``
    (it sets ``upstream_status``)."""
    if check.review_status == ReviewStatus.PENDING:
        return "evidence"
    if check.upstream_status == UpstreamStatus.QUEUED:
        return "held"
    return None


def _normalised(kind: str, position: int, data: bytes | None, pixels: object | None,
                ppi: int | None, bounds: ImageBounds) -> images.Encoded:
    """A probe image as the reviewer sees it: face JPEG (<= the reference bound), print PNG at
    500 ppi."""
    if kind == "face":
        assert data is not None
        return images.face_photo(data, max_px=bounds.face_max_px, thumb_px=bounds.thumb_px)[0]
    return images.finger_png(images.finger_pixels(data, pixels, ppi=ppi,
                                                  field=f"finger_{position}"))


def _seal_probe(keyring: Keyring, *, check_id: str, kind: str, position: int,
                enc: images.Encoded) -> ProbeImage:
    row_id = _id("prb")
    sealed = keyring.seal(enc.data, aad=f"probe_image:{row_id}")
    return ProbeImage(id=row_id, check_id=check_id, kind=kind, position=position,
                      content_type=enc.content_type, width=enc.width, height=enc.height,
                      key_id=sealed.key_id, blob=sealed.blob, size=len(enc.data))


def _held(header: dict[str, Any], data: bytes) -> images.Encoded:
    return images.Encoded(json.dumps(header).encode() + b"\n" + data, HELD_TYPE, 0, 0)


def store_probe_images(session: Session, keyring: Keyring, *, check_id: str, capture: Capture,
                       settings: Settings, held: bool = False) -> list[ProbeImage]:
    """Seal a check's probe images in the check's transaction: normalised for its reviewer, or
    (``held``) as received, for central's answer (``probe_keeping`` says which).

    A capture that cannot be normalised (the matcher already refused it) is left out: the
    evidence shows what the decision was made on.
    """
    bounds = ImageBounds.from_settings(settings)
    rows = []
    for face in capture.faces:
        if held:
            enc = _held({"kind": "face"}, face.image)
        else:
            try:
                enc = _normalised("face", 0, face.image, None, None, bounds)
            except Exception:  # noqa: BLE001 - evidence is best effort, the answer is not
                log.info("probe face of %s not kept: it does not decode", check_id)
                continue
        rows.append(_seal_probe(keyring, check_id=check_id, kind="face", position=0, enc=enc))
    for finger in capture.fingers:
        if held and finger.image is not None:
            # The bytes as received (WSQ, PNG...), not the decoded pixels the adapters also
            # set: a ten-print card's raw greyscale is several MB sealed under the write lock.
            enc = _held({"kind": "finger", "ppi": finger.ppi}, finger.image)
        elif held and finger.pixels is not None:
            # Pixels only (no encoded image): zlib at its fastest level, still a fraction of
            # width x height for a print's mostly flat background.
            pixels = np.ascontiguousarray(np.asarray(finger.pixels, dtype=np.uint8))
            enc = _held({"kind": "finger", "ppi": finger.ppi, "shape": list(pixels.shape),
                         "codec": "zlib"}, zlib.compress(pixels.tobytes(), 1))
        elif held:
            continue
        else:
            try:
                enc = _normalised("finger", finger.position, finger.image, finger.pixels,
                                  finger.ppi, bounds)
            except Exception:  # noqa: BLE001
                log.info("probe finger %s of %s not kept: it does not decode", finger.position,
                         check_id)
                continue
        rows.append(_seal_probe(keyring, check_id=check_id, kind="finger",
                                position=finger.position, enc=enc))
    session.add_all(rows)
    return rows


def held_as_image(keyring: Keyring, row: ProbeImage,
                  bounds: ImageBounds) -> images.Encoded | None:
    """The evidence image a held capture stands for; None when the capture does not decode
    (evidence is best effort, as at the check). A key that is missing or does not open the row
    raises ``ImageKeyUnavailable``: a deployment fault, not the capture's."""
    plain = open_probe(keyring, row)
    try:
        header_line, _, data = plain.partition(b"\n")
        header = json.loads(header_line)
        if "shape" in header:
            if header.get("codec") == "zlib":
                data = zlib.decompress(data)
            pixels = np.frombuffer(data, np.uint8).reshape(header["shape"])
            return _normalised(row.kind, row.position, None, pixels, header.get("ppi"), bounds)
        return _normalised(row.kind, row.position, data, None, header.get("ppi"), bounds)
    except Exception:  # noqa: BLE001
        log.info("held probe %s of %s does not decode", row.kind, row.check_id)
        return None


def settle_held(session: Session, keyring: Keyring, *, check_id: str,
                bounds: ImageBounds) -> int:
    """Normalise a check's held captures into evidence images, in place (same row ids); one
    that does not decode is deleted. Returns how many were settled. The caller commits."""
    done = 0
    held = list(session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id,
                                                      ProbeImage.content_type == HELD_TYPE)))
    for row in held:  # read first: rows are changed or deleted below
        enc = held_as_image(keyring, row, bounds)
        if enc is None:
            session.delete(row)
            continue
        sealed = keyring.seal(enc.data, aad=f"probe_image:{row.id}")
        row.content_type, row.width, row.height = enc.content_type, enc.width, enc.height
        row.key_id, row.blob, row.size = sealed.key_id, sealed.blob, len(enc.data)
        session.add(row)
        done += 1
    return done


def drop_probe_images(session: Session, check_id: str) -> int:
    """Delete a check's probe images (held for a central answer that found nothing); returns
    how many. In the caller's transaction."""
    rows = list(session.exec(select(ProbeImage).where(ProbeImage.check_id == check_id)))
    for row in rows:
        session.delete(row)
    return len(rows)


def thumbnails(session: Session, keyring: Keyring, subject_ids: list[str]
               ) -> dict[str, dict[str, Any]]:
    """The newest reference thumbnail of each subject, as an inline JPEG (base64)."""
    if not subject_ids:
        return {}
    rows = session.exec(
        select(ReferenceImage)
        .where(col(ReferenceImage.subject_id).in_(subject_ids), ReferenceImage.kind == "face_thumb")
        .order_by(col(ReferenceImage.created_at).desc())
    )
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        if row.subject_id in out:
            continue
        try:
            data = open_reference(keyring, row)
        except ImageKeyUnavailable as exc:
            # The officer's answer matters more than the picture: a thumbnail this gateway
            # cannot open (sealed by a gateway with other image keys on a shared database, or
            # a lost key) is left out, never a 503 for a check that has already run.
            log.warning("reference thumbnail %s of subject %s left out of the answer: %s",
                        row.id, row.subject_id, exc)
            continue
        out[row.subject_id] = {
            "content_type": row.content_type, "width": row.width, "height": row.height,
            "data_base64": base64.b64encode(data).decode(),
        }
    return out


def with_thumbnails(view: dict[str, Any], session: Session, keyring: Keyring | None,
                    settings: Settings) -> dict[str, Any]:
    """Add each hit/possible candidate's reference thumbnail to a check answer (not stored:
    the check row keeps no image), unless the category's thumbnails are turned off."""
    candidates = view.get("candidates") or []
    if keyring is None or not settings.answer_thumbnails or not candidates:
        return view
    wanted = [c["subject_id"] for c in candidates
              if c.get("category") not in settings.thumbnail_excluded]
    found = thumbnails(session, keyring, wanted)
    view["candidates"] = [
        {**c, "reference_thumbnail": found.get(c["subject_id"])} for c in candidates
    ]
    return view


def reference_images_public(session: Session, subject_id: str) -> list[dict[str, Any]]:
    """The subject's reference images (no bytes): each with the URL that serves it."""
    return [
        {"id": r.id, "kind": r.kind, "position": r.position, "template_id": r.template_id,
         "content_type": r.content_type, "width": r.width, "height": r.height, "size": r.size,
         "created_at": r.created_at.isoformat() if r.created_at else None,
         "url": f"/v1/subjects/{subject_id}/images/{r.id}"}
        for r in references_of(session, subject_id)
    ]


def reencrypt(session: Session, keyring: Keyring) -> int:
    """Re-seal every image sealed with an older key under the current one; returns the count
    (after it, older keys may be removed). The caller commits."""
    done = 0
    for ref in session.exec(select(ReferenceImage).where(
            ReferenceImage.key_id != keyring.current)):
        sealed = keyring.seal(open_reference(keyring, ref), aad=f"reference_image:{ref.id}")
        ref.key_id, ref.blob = sealed.key_id, sealed.blob
        session.add(ref)
        done += 1
    for probe in session.exec(select(ProbeImage).where(ProbeImage.key_id != keyring.current)):
        sealed = keyring.seal(open_probe(keyring, probe), aad=f"probe_image:{probe.id}")
        probe.key_id, probe.blob = sealed.key_id, sealed.blob
        session.add(probe)
        done += 1
    return done
