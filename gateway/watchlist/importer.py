"""Bulk import: a manifest of subjects with their image files, many records at a time.

Recipe: read the manifest (``manifest.py``: CSV or JSON, one row per subject) -> refuse rows
that are malformed or repeat an external reference -> skip rows whose external reference is
already in the watchlist (so a re-run resumes) -> extract every image in a few worker processes
-> per record, create the subject, its templates and (``keep_images``) their sealed reference
images in one transaction, as single enrolment does (``gateway.privacy.service``), so imported
subjects can be re-extracted and shown to reviewers like enrolled ones.

A record is all or nothing: a crash mid-run leaves whole records only, and the re-run skips
them. A refused image (two faces, poor print, missing file) is listed and the record keeps its
other images; a record none of whose images is usable is rejected. Nothing stops the run but
an unreadable manifest.

The images are normalised (JPEG + thumbnail, WSQ) in the worker processes beside the
extraction; only the sealing happens in the importing process, so the key never leaves it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator
from concurrent.futures import Executor, Future
from dataclasses import dataclass, field
from typing import Any

from sqlmodel import Session, col, select

from device_adapters.errors import AdapterError
from gateway.auth.service import Principal
from gateway.errors import DomainError
from gateway.privacy.crypto import Keyring
from gateway.privacy.service import (
    ImageBounds,
    Prepared,
    prepare_face,
    prepare_finger,
    store_reference,
)
from gateway.settings import Settings
from gateway.watchlist import service
from gateway.watchlist.manifest import (  # re-exported: the routes, jobs and CLI read through here
    MANIFEST_NAMES,
    MAX_IMAGE_BYTES,
    ImageRef,
    ManifestRow,
    folder_opener,
    parse_manifest,
    read_folder,
    read_json_records,
    read_zip,
)
from gateway.watchlist.models import Subject
from gateway.workers import process_pool
from matchers.errors import MatcherError, UnusableCapture

log = logging.getLogger(__name__)
__all__ = [
    "MANIFEST_NAMES",
    "MAX_IMAGE_BYTES",
    "Extracted",
    "ImageRef",
    "KeepImages",
    "ManifestRow",
    "count_new",
    "folder_opener",
    "parse_manifest",
    "read_folder",
    "read_json_records",
    "read_zip",
    "run_import",
    "summarise",
]


@dataclass(frozen=True)
class KeepImages:
    """Keep each imported image sealed beside its template (the key and the size limits)."""

    keyring: Keyring
    bounds: ImageBounds

    @classmethod
    def from_settings(cls, keyring: Keyring | None, settings: Settings) -> KeepImages | None:
        return cls(keyring, ImageBounds.from_settings(settings)) if keyring is not None else None


@dataclass
class Extracted:
    row: ManifestRow
    # (image, template, quality, normalised images to seal or None)
    templates: list[tuple[ImageRef, bytes, dict, Prepared | None]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


# --- running -------------------------------------------------------------------------------


def _extract_images(
    jobs: list[tuple[str, str, bytes, int, int | None]], bounds: ImageBounds | None = None
) -> list[tuple[str, Any, Any]]:
    """Extract a record's images; runs in a worker *process*, so it returns plain tuples.

    With ``bounds``, each usable image is also normalised for storage (``Prepared``); one that
    extracts but cannot be normalised is refused, so no template is kept without its image.

    Processes, not threads: the face models keep per-call state (matchers/face.py borrows one
    model set per thread for that reason) and NBIS's decoders are not all thread-safe; a worker
    process also keeps a crashing decoder away from the import job.
    """
    out: list[tuple[str, Any, Any]] = []
    for name, modality, data, position, ppi in jobs:
        try:
            if modality == "face":
                template, quality = service.extract_face(data)
            else:
                template, quality = service.extract_fingerprint(data, position=position, ppi=ppi)
        except UnusableCapture as exc:
            out.append(("refused", name, f"{exc.reason}: {exc.message}"))
            continue
        except (MatcherError, ValueError) as exc:
            out.append(("refused", name, f"unreadable: {exc}"))
            continue
        except AdapterError as exc:  # e.g. MalformedPayload from a corrupt WSQ
            out.append(("refused", name, f"unreadable: {exc.message}"))
            continue
        except Exception as exc:  # noqa: BLE001 - one bad image must not stop the import
            # Decoders (OpenCV, NBIS, Pillow) raise their own types on odd input: refuse the
            # image, keep the stack in the log, and go on with the record's other images.
            log.exception("extracting %s (%s) failed", name, modality)
            out.append(("refused", name, f"unreadable: {type(exc).__name__}: {exc}"))
            continue
        prepared = None
        if bounds is not None:
            try:
                prepared = (prepare_face(data, bounds) if modality == "face"
                            else prepare_finger(data, position=position, ppi=ppi))
            except AdapterError as exc:
                out.append(("refused", name, f"unreadable for storage: {exc.message}"))
                continue
            except Exception as exc:  # noqa: BLE001 - as above: refuse this image, go on
                log.exception("normalising %s (%s) for storage failed", name, modality)
                out.append(("refused", name,
                            f"unreadable for storage: {type(exc).__name__}: {exc}"))
                continue
        out.append(("ok", name, (template, quality, prepared)))
    return out


def _load_images(
    row: ManifestRow,
) -> tuple[list[tuple[str, str, bytes, int, int | None]], list[dict[str, str]]]:
    """Read a record's image bytes (in the importing process); missing files are refused."""
    jobs, refused = [], []
    for image in row.images:
        try:
            data = image.load()
            if not data:
                raise ValueError("empty file")
        except FileNotFoundError:
            refused.append({"file": image.name, "reason": "missing: no such file"})
            continue
        except OSError as exc:
            refused.append({"file": image.name, "reason": f"unreadable: {exc.strerror or exc}"})
            continue
        except ValueError as exc:
            refused.append({"file": image.name, "reason": f"unreadable: {exc}"})
            continue
        except Exception as exc:  # noqa: BLE001 - e.g. zipfile.BadZipFile (bad CRC) for a member
            log.exception("reading %s failed", image.name)
            reason = f"unreadable: {type(exc).__name__}: {exc}"
            refused.append({"file": image.name, "reason": reason})
            continue
        jobs.append((image.name, image.modality, data, image.position, image.ppi))
    return jobs, refused


def _collect(
    row: ManifestRow, refused: list[dict[str, str]], results: list[tuple[str, Any, Any]]
) -> Extracted:
    by_name = {i.name: i for i in row.images}
    out = Extracted(row=row, refused=list(refused))
    for status, name, value in results:
        if status == "ok":
            out.templates.append((by_name[name], value[0], value[1], value[2]))
        else:
            out.refused.append({"file": name, "reason": value})
    return out


def _existing_refs(session: Session, refs: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(refs), 500):
        chunk = refs[start : start + 500]
        found.update(
            r
            for r in session.exec(
                select(Subject.external_ref).where(col(Subject.external_ref).in_(chunk))
            )
            if r
        )
    return found


def count_new(session: Session, rows: list[ManifestRow]) -> int:
    """Rows a run would extract: well-formed and not yet in the watchlist (a resumed run of a
    finished import has none, so its caller need not start extraction workers)."""
    refs = [r.external_ref for r in rows if r.external_ref and not r.error]
    present = _existing_refs(session, refs)
    return sum(1 for r in rows if not r.error and r.external_ref not in present)


def _commit_record(
    session: Session,
    extracted: Extracted,
    *,
    actor: Principal | None,
    country: str,
    keep_images: KeepImages | None = None,
) -> dict[str, Any]:
    row = extracted.row
    result: dict[str, Any] = {"row": row.row, "external_ref": row.external_ref}
    if extracted.refused:
        result["refused_images"] = extracted.refused
    if row.images and not extracted.templates:
        return {
            **result,
            "status": "rejected",
            "reason": "no usable image: "
            + "; ".join(f"{r['file']}: {r['reason']}" for r in extracted.refused),
        }
    assert row.data is not None
    try:
        subject = service.create_subject(session, data=row.data, actor=actor, country=country)
        kept = 0
        for image, template, quality, prepared in extracted.templates:
            tpl = service.add_template(
                session,
                subject_id=subject.id,
                modality=image.modality,
                position=image.position if image.modality == "finger" else 0,
                data=template,
                quality=quality,
                actor=actor,
                country=country,
            )
            if keep_images is not None and prepared is not None:
                session.flush()  # the template row first: its images refer to it
                kept += len(store_reference(session, keep_images.keyring, subject_id=subject.id,
                                            template_id=tpl.id, prepared=prepared))
        session.commit()
    except DomainError as exc:
        session.rollback()
        reason = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
        if exc.status == 409 and row.external_ref in _existing_refs(
            session, [row.external_ref or ""]
        ):
            return {**result, "status": "skipped", "reason": "already in the watchlist"}
        return {**result, "status": "rejected", "reason": reason}
    except Exception as exc:  # noqa: BLE001 - a database error on one record is that record's
        session.rollback()
        log.exception("importing row %s (%s) failed", row.row, row.external_ref)
        return {**result, "status": "rejected", "reason": f"{type(exc).__name__}: {exc}"[:500]}
    faces = sum(1 for t in extracted.templates if t[0].modality == "face")
    return {
        **result,
        "status": "imported",
        "subject_id": subject.id,
        "faces": faces,
        "fingerprints": len(extracted.templates) - faces,
        "reference_images": kept,
    }


def run_import(
    session: Session,
    rows: list[ManifestRow],
    *,
    actor: Principal | None,
    country: str,
    workers: int = 2,
    on_result: Callable[[dict[str, Any]], object] | None = None,
    pool: Executor | None = None,
    keep_images: KeepImages | None = None,
) -> Generator[dict[str, Any], None, None]:
    """Import ``rows``, yielding one result per row in manifest order.

    ``on_result`` runs after each commit (e.g. a cache sync, so checks find the record at once).
    ``pool`` lets a caller reuse warm extraction workers; by default ``workers`` processes.
    ``keep_images``: seal each image beside its template (None: templates only, as a gateway
    without an image key).
    """
    bounds = keep_images.bounds if keep_images is not None else None
    present = _existing_refs(
        session, [r.external_ref for r in rows if r.external_ref and not r.error]
    )
    own_pool = pool is None
    executor = pool or process_pool(workers)
    try:
        # A bounded window keeps memory flat on huge manifests while every worker stays busy.
        window = max(4, workers * 4)
        pending: list[tuple[ManifestRow, list[dict[str, str]], Future | None]] = []
        todo = iter(rows)

        def fill() -> None:
            while len(pending) < window:
                row = next(todo, None)
                if row is None:
                    return
                if row.error or row.external_ref in present:
                    pending.append((row, [], None))
                    continue
                jobs, refused = _load_images(row)
                pending.append((row, refused, executor.submit(_extract_images, jobs, bounds)))

        fill()
        while pending:
            row, refused, future = pending.pop(0)
            if row.error:
                result = {
                    "row": row.row,
                    "external_ref": row.external_ref,
                    "status": "rejected",
                    "reason": row.error,
                }
            elif future is None:
                result = {
                    "row": row.row,
                    "external_ref": row.external_ref,
                    "status": "skipped",
                    "reason": "already in the watchlist",
                }
            else:
                try:
                    outcome = future.result()
                except Exception as exc:  # noqa: BLE001 - e.g. a worker process that died
                    log.exception("extraction of row %s (%s) failed", row.row, row.external_ref)
                    result = {
                        "row": row.row,
                        "external_ref": row.external_ref,
                        "status": "rejected",
                        "reason": f"extraction failed: {type(exc).__name__}: {exc}"[:500],
                    }
                else:
                    extracted = _collect(row, refused, outcome)
                    result = _commit_record(session, extracted, actor=actor, country=country,
                                            keep_images=keep_images)
                    if on_result is not None and result["status"] == "imported":
                        on_result(result)
            fill()
            yield result
    finally:
        if own_pool:
            executor.shutdown(wait=True, cancel_futures=True)


def summarise(results: list[dict[str, Any]]) -> dict[str, Any]:
    counts = {
        s: sum(1 for r in results if r["status"] == s) for s in ("imported", "skipped", "rejected")
    }
    refused = [
        {"row": r["row"], "external_ref": r["external_ref"], **img}
        for r in results
        for img in r.get("refused_images", [])
    ]
    return {
        "total": len(results),
        **counts,
        "rejected_records": [r for r in results if r["status"] == "rejected"],
        "refused_images": refused,
    }
