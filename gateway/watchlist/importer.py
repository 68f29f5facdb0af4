"""Bulk import: a manifest of subjects with their image files, many records at a time.

Recipe: read the manifest (CSV or JSON, one row per subject) -> refuse rows that are malformed
or repeat an external reference -> skip rows whose external reference is already in the
watchlist (so a re-run resumes) -> extract every image in a few worker processes -> per
record, create the subject and its templates in one transaction.

A record is all or nothing: a crash mid-run leaves whole records only, and the re-run skips
them. A refused image (two faces, poor print, missing file) is listed and the record keeps its
other images; a record none of whose images is usable is rejected. Nothing stops the run but
an unreadable manifest.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import logging
import multiprocessing
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError
from sqlmodel import Session, col, select

from device_adapters.errors import AdapterError
from gateway.auth.service import Principal
from gateway.errors import DomainError, Invalid
from gateway.watchlist import service
from gateway.watchlist.models import Subject
from gateway.watchlist.positions import parse_position, parse_ppi
from gateway.watchlist.schemas import SubjectCreate
from matchers.errors import MatcherError, UnusableCapture

log = logging.getLogger(__name__)
MANIFEST_NAMES = ("manifest.csv", "manifest.json")
LIST_SEP = ";"
MAX_IMAGE_BYTES = 20 * 1024 * 1024


@dataclass
class ImageRef:
    """One image of a record; ``load`` reads it only when the worker gets to it."""

    name: str
    modality: str  # "face" | "finger"
    load: Callable[[], bytes]
    position: int = 0
    ppi: int = 500


@dataclass
class ManifestRow:
    row: int
    external_ref: str | None
    data: SubjectCreate | None = None
    images: list[ImageRef] = field(default_factory=list)
    error: str | None = None


@dataclass
class Extracted:
    row: ManifestRow
    templates: list[tuple[ImageRef, bytes, dict]] = field(default_factory=list)
    refused: list[dict[str, str]] = field(default_factory=list)


# --- reading manifests ----------------------------------------------------------------------


def _split(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, list):
        return [str(v).strip() for v in value if str(v).strip()]
    return [v.strip() for v in str(value).split(LIST_SEP) if v.strip()]


def _finger_specs(value: Any) -> list[dict[str, Any]]:
    """Fingers: ``[{"position": 2, "path": "...", "ppi": 500}]``, or CSV ``2:a.png;7:b.png``."""
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        return value
    specs = []
    for item in _split(value):
        position, sep, path = item.partition(":")
        if not sep:
            raise ValueError(f"fingerprint {item!r} needs the form position:path")
        specs.append({"position": position, "path": path})
    return specs


def _raw_rows(text: str, *, is_json: bool) -> list[dict[str, Any]]:
    if is_json:
        doc = json.loads(text)
        rows = doc.get("subjects") if isinstance(doc, dict) else doc
        if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
            raise Invalid(
                'a JSON manifest is a list of subjects or {"subjects": [...]}', field="manifest"
            )
        return rows
    return [dict(r) for r in csv.DictReader(io.StringIO(text))]


def parse_manifest(
    text: str,
    *,
    is_json: bool,
    opener: Callable[[str], Callable[[], bytes]],
) -> list[ManifestRow]:
    """Rows of a manifest; ``opener(path)`` returns a loader for an image path."""
    try:
        raw_rows = _raw_rows(text, is_json=is_json)
    except (ValueError, csv.Error) as exc:
        raise Invalid(f"the manifest cannot be read: {exc}", field="manifest") from exc
    rows: list[ManifestRow] = []
    seen_refs: dict[str, int] = {}
    for number, raw in enumerate(raw_rows, start=1):
        ref = str(raw.get("external_ref") or "").strip() or None
        row = ManifestRow(row=number, external_ref=ref)
        rows.append(row)
        if ref is None:
            row.error = "no external_ref: every imported record needs one so a re-run can skip it"
            continue
        if ref in seen_refs:
            row.error = f"duplicate external_ref {ref!r} (first on row {seen_refs[ref]})"
            continue
        seen_refs[ref] = number
        fields = {k: raw.get(k) for k in SubjectCreate.model_fields if raw.get(k) not in (None, "")}
        for key in ("aliases", "sharing"):
            if key in fields:
                fields[key] = _split(fields[key])
        try:
            row.data = SubjectCreate(**fields)
            for path in _split(raw.get("faces")):
                row.images.append(ImageRef(name=path, modality="face", load=opener(path)))
            for spec in _finger_specs(raw.get("fingerprints")):
                path = str(spec.get("path") or spec.get("file") or "")
                row.images.append(
                    ImageRef(
                        name=path,
                        modality="finger",
                        load=opener(path),
                        position=parse_position(spec.get("position"), field="fingerprints"),
                        ppi=parse_ppi(spec.get("ppi") or raw.get("ppi"), field="ppi"),
                    )
                )
            for path in _split(raw.get("nist")):
                row.images.extend(_nist_images(path, opener(path)))
        except ValidationError as exc:
            row.error = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'row'}: {e['msg']}" for e in exc.errors()
            )
        except DomainError as exc:
            row.error = f"{exc.field}: {exc.detail}" if exc.field else exc.detail
        except ValueError as exc:
            row.error = str(exc)
    return rows


def _nist_images(name: str, load: Callable[[], bytes]) -> list[ImageRef]:
    """The faces and fingers of an ANSI/NIST-ITL transaction, read lazily like any image."""
    import cv2
    import numpy as np

    from device_adapters.ansi_nist import parse_transaction
    from device_adapters.errors import AdapterError

    try:
        capture = parse_transaction(load())
    except AdapterError as exc:
        raise ValueError(f"{name}: not a usable ANSI/NIST transaction: {exc.message}") from exc
    except OSError as exc:
        raise ValueError(f"{name}: cannot be read ({exc.strerror or exc})") from exc
    refs = [
        ImageRef(name=f"{name}#face{i + 1}", modality="face", load=lambda d=f.image: d)
        for i, f in enumerate(capture.faces)
    ]
    for finger in capture.fingers:
        data = finger.image
        if data is None and finger.pixels is not None:
            ok, png = cv2.imencode(".png", np.asarray(finger.pixels))
            data = png.tobytes() if ok else None
        if data is not None:
            refs.append(
                ImageRef(
                    name=f"{name}#finger{finger.position}",
                    modality="finger",
                    load=lambda d=data: d,
                    position=finger.position or 0,
                    ppi=finger.ppi,
                )
            )
    return refs


def folder_opener(base: Path) -> Callable[[str], Callable[[], bytes]]:
    def opener(path: str) -> Callable[[], bytes]:
        target = (base / path).resolve()

        def load() -> bytes:
            if target.stat().st_size > MAX_IMAGE_BYTES:
                raise ValueError(f"larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
            return target.read_bytes()

        return load

    return opener


def read_folder(path: Path) -> list[ManifestRow]:
    """A folder holding manifest.csv / manifest.json, or the manifest file itself."""
    manifest = path
    if path.is_dir():
        found = [path / n for n in MANIFEST_NAMES if (path / n).is_file()]
        if not found:
            raise Invalid(
                f"no {' or '.join(MANIFEST_NAMES)} in {path}",
                field="path",
                fix="put a manifest (one row per subject with its image files) there",
            )
        manifest = found[0]
    if not manifest.is_file():
        raise Invalid(f"{path} does not exist", field="path")
    return parse_manifest(
        manifest.read_text(encoding="utf-8-sig"),
        is_json=manifest.suffix.lower() == ".json",
        opener=folder_opener(manifest.parent),
    )


def read_zip(blob: bytes) -> list[ManifestRow]:
    """A zip of the same folder layout (the API twin of ``fieldcheck watchlist import``)."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(blob))
    except zipfile.BadZipFile as exc:
        raise Invalid("the body is not a zip archive", field="body") from exc
    names = {i.filename: i for i in archive.infolist() if not i.is_dir()}
    manifests = [n for n in names if PurePosixPath(n).name in MANIFEST_NAMES]
    if not manifests:
        raise Invalid("the zip holds no manifest.csv or manifest.json", field="body")
    manifest = min(manifests, key=len)
    base = PurePosixPath(manifest).parent

    def opener(path: str) -> Callable[[], bytes]:
        member = str(base / path) if str(base) != "." else path

        def load() -> bytes:
            info = names.get(member)
            if info is None:
                raise FileNotFoundError(2, "not in the archive", path)
            if info.file_size > MAX_IMAGE_BYTES:  # declared size: no zip bomb gets inflated
                raise ValueError(f"larger than {MAX_IMAGE_BYTES // 1024 // 1024} MB")
            return archive.read(info)

        return load

    return parse_manifest(
        archive.read(names[manifest]).decode("utf-8-sig"),
        is_json=manifest.endswith(".json"),
        opener=opener,
    )


def read_json_records(doc: Any) -> list[ManifestRow]:
    """``{"subjects": [...]}`` with images inline as base64 (``faces``: [b64],
    ``fingerprints``: [{"position", "image": b64, "ppi"}])."""
    rows = doc.get("subjects") if isinstance(doc, dict) else None
    if not isinstance(rows, list):
        raise Invalid('the body needs {"subjects": [...]}', field="subjects")
    blobs: dict[str, str] = {}
    normalised = []
    for i, raw in enumerate(rows):
        if not isinstance(raw, dict):
            raise Invalid(f"subjects[{i}] is not an object", field="subjects")
        raw = dict(raw)
        faces = []
        for j, b64 in enumerate(raw.get("faces") or []):
            blobs[f"subjects[{i}].faces[{j}]"] = b64
            faces.append(f"subjects[{i}].faces[{j}]")
        fingers = []
        for j, spec in enumerate(raw.get("fingerprints") or []):
            key = f"subjects[{i}].fingerprints[{j}]"
            blobs[key] = (spec or {}).get("image", "")
            fingers.append({**(spec or {}), "path": key})
        raw["faces"], raw["fingerprints"] = faces, fingers
        normalised.append(raw)

    def opener(key: str) -> Callable[[], bytes]:
        def load() -> bytes:
            try:
                return base64.b64decode(blobs[key], validate=True)
            except (binascii.Error, TypeError):
                raise ValueError("not valid base64") from None

        return load

    return parse_manifest(json.dumps(normalised), is_json=True, opener=opener)


# --- running -------------------------------------------------------------------------------


def _extract_images(jobs: list[tuple[str, str, bytes, int, int]]) -> list[tuple[str, Any, Any]]:
    """Extract a record's images; runs in a worker *process*, so it returns plain tuples.

    Processes, not threads: dlib's networks keep per-call buffers inside the model objects, so
    two threads embedding faces at once corrupt each other's memory (seen as heap aborts).
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
            # Decoders (OpenCV, NBIS, dlib) raise their own types on odd input: refuse the
            # image, keep the stack in the log, and go on with the record's other images.
            log.exception("extracting %s (%s) failed", name, modality)
            out.append(("refused", name, f"unreadable: {type(exc).__name__}: {exc}"))
            continue
        out.append(("ok", name, (template, quality)))
    return out


def _load_images(
    row: ManifestRow,
) -> tuple[list[tuple[str, str, bytes, int, int]], list[dict[str, str]]]:
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
            out.templates.append((by_name[name], value[0], value[1]))
        else:
            out.refused.append({"file": name, "reason": value})
    return out


def extraction_pool(workers: int) -> ProcessPoolExecutor:
    """Worker processes for extraction; "spawn" so no gateway thread state is forked."""
    return ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn")
    )


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


def _commit_record(
    session: Session,
    extracted: Extracted,
    *,
    actor: Principal | None,
    country: str,
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
        for image, template, quality in extracted.templates:
            service.add_template(
                session,
                subject_id=subject.id,
                modality=image.modality,
                position=image.position if image.modality == "finger" else 0,
                data=template,
                quality=quality,
                actor=actor,
                country=country,
            )
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
    faces = sum(1 for i, _, _ in extracted.templates if i.modality == "face")
    return {
        **result,
        "status": "imported",
        "subject_id": subject.id,
        "faces": faces,
        "fingerprints": len(extracted.templates) - faces,
    }


def run_import(
    session: Session,
    rows: list[ManifestRow],
    *,
    actor: Principal | None,
    country: str,
    workers: int = 2,
    on_result: Callable[[dict[str, Any]], None] | None = None,
    pool: Executor | None = None,
) -> Iterator[dict[str, Any]]:
    """Import ``rows``, yielding one result per row in manifest order.

    ``on_result`` runs after each commit (e.g. a cache sync, so checks find the record at once).
    ``pool`` lets a caller reuse warm extraction workers; by default ``workers`` processes.
    """
    present = _existing_refs(
        session, [r.external_ref for r in rows if r.external_ref and not r.error]
    )
    own_pool = pool is None
    executor = pool or extraction_pool(workers)
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
                pending.append((row, refused, executor.submit(_extract_images, jobs)))

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
                    result = _commit_record(session, extracted, actor=actor, country=country)
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
