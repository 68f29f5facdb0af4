"""Reading bulk-import manifests: CSV or JSON rows of subjects with their image files.

A manifest comes from a folder (``fieldcheck watchlist import``), a zip of that folder, or a
JSON body with the images inline as base64 (``POST /v1/subjects:batch``). Rows are validated
here (fields, positions, repeated references); images are only *named* with a loader, read later
by ``importer.run_import`` when a worker gets to them, so a huge manifest costs no memory.
"""

from __future__ import annotations

import base64
import binascii
import csv
import difflib
import io
import json
import stat
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pydantic import ValidationError

from gateway.errors import DomainError, Invalid, TooLarge
from gateway.watchlist.categories import parse_category
from gateway.watchlist.countries import parse_country
from gateway.watchlist.positions import parse_position, parse_ppi
from gateway.watchlist.schemas import SubjectCreate

MANIFEST_NAMES = ("manifest.csv", "manifest.json")
LIST_SEP = ";"
MAX_IMAGE_BYTES = 20 * 1024 * 1024
# A CSV row is ~200 bytes: 256 MB is over a million subjects (split larger loads). A zip comes
# through the API (at most FIELDCHECK_MAX_UPLOAD_MB compressed), so its manifest is held lower.
MAX_MANIFEST_BYTES = 256 * 1024 * 1024
MAX_ZIP_MANIFEST_BYTES = 32 * 1024 * 1024


@dataclass
class ImageRef:
    """One image of a record; ``load`` reads it only when the worker gets to it."""

    name: str
    modality: str  # "face" | "finger"
    load: Callable[[], bytes]
    position: int = 0
    ppi: int | None = None  # None: the image's own declared resolution, else 500


@dataclass
class ManifestRow:
    row: int
    external_ref: str | None
    data: SubjectCreate | None = None
    images: list[ImageRef] = field(default_factory=list)
    error: str | None = None


def _constant(data: bytes) -> Callable[[], bytes]:
    """A loader for bytes already in memory (bound now, not when the loop has moved on)."""
    return lambda: data


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


BIOMETRIC_COLUMNS = ("faces", "fingerprints", "nist")
COLUMNS = frozenset({"external_ref", "ppi", *BIOMETRIC_COLUMNS, *SubjectCreate.model_fields})


# What people call the biometric columns: a closer spelling (``notes``) is not what they meant.
COLUMN_SYNONYMS = {
    "photo": "faces", "photos": "faces", "image": "faces", "images": "faces", "face": "faces",
    "picture": "faces", "pictures": "faces", "portrait": "faces", "prints": "fingerprints",
    "fingers": "fingerprints", "fingerprint": "fingerprints", "finger": "fingerprints",
}


def _suggest(key: str) -> str | None:
    plain = key.strip().lower()
    if plain in COLUMN_SYNONYMS:
        return COLUMN_SYNONYMS[plain]
    close = difflib.get_close_matches(plain, sorted(COLUMNS), n=1, cutoff=0.6)
    return close[0] if close else None


def _check_columns(raw_rows: list[dict[str, Any]], *, is_json: bool) -> None:
    """A misspelt column (``photos`` for ``faces``) would import subjects that can never match:
    refuse the whole manifest, naming the row and the column, before anything is imported."""
    unknown: dict[str, int] = {}
    for number, raw in enumerate(raw_rows, start=1):
        for key in raw:
            if key is None:  # csv.DictReader: more cells than header columns
                raise Invalid(
                    f"row {number} has more cells than the header has columns",
                    field="manifest", fix="quote cells that contain commas, or add the column",
                )
            if key not in COLUMNS:
                unknown.setdefault(str(key), number)
    if not unknown:
        return
    where = "row" if is_json else "header, first seen on row"
    named = "; ".join(
        f"column {key!r} ({where} {row})"
        + (f", did you mean {hint!r}?" if (hint := _suggest(key)) else "")
        for key, row in unknown.items()
    )
    raise Invalid(
        f"the manifest has unknown columns: {named}", field="manifest",
        fix="rename or remove them; known columns: " + ", ".join(sorted(COLUMNS)),
        columns=sorted(unknown),
    )


def parse_manifest(
    text: str,
    *,
    is_json: bool,
    opener: Callable[[str], Callable[[], bytes]],
    allow_empty: bool = False,
) -> list[ManifestRow]:
    """Rows of a manifest; ``opener(path)`` returns a loader for an image path.

    Unknown columns refuse the manifest (Invalid); a record with no biometric column filled
    is rejected (it could never match) unless ``allow_empty`` (deliberate name-only records).
    """
    try:
        raw_rows = _raw_rows(text, is_json=is_json)
    except (ValueError, csv.Error) as exc:
        raise Invalid(f"the manifest cannot be read: {exc}", field="manifest") from exc
    _check_columns(raw_rows, is_json=is_json)
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
            # A wrong value is named before "no biometric" (the importer checks them again).
            parse_category(row.data.category)
            for name in ("nationality", "originating_country"):
                if getattr(row.data, name):
                    parse_country(getattr(row.data, name), field=name)
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
                        # No ppi: None, the image file's own declared resolution, else 500.
                        ppi=parse_ppi(declared, field="ppi")
                        if (declared := spec.get("ppi") or raw.get("ppi"))
                        else None,
                    )
                )
            for path in _split(raw.get("nist")):
                row.images.extend(_nist_images(path, opener(path)))
            if not allow_empty and not any(
                raw.get(column) not in (None, "", []) for column in BIOMETRIC_COLUMNS
            ):
                row.data = None
                row.error = (
                    f"row {number}: no biometric: the columns {', '.join(BIOMETRIC_COLUMNS)} "
                    "are all empty, so this subject could never match (import with "
                    "--allow-empty for deliberate name-only records)"
                )
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
        ImageRef(name=f"{name}#face{i + 1}", modality="face", load=_constant(f.image))
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
                    load=_constant(data),
                    position=finger.position or 0,
                    ppi=finger.ppi,
                )
            )
    return refs


def read_bounded(path: Path, limit: int, *, what: str = "file") -> bytes:
    """The bytes of a regular file, reading at most ``limit`` + 1 of them.

    Devices, FIFOs and sockets are refused before opening; the size is checked while reading,
    not from ``stat`` (``/proc`` files report size 0 and ``/dev/zero`` never ends).
    """
    mode = path.stat().st_mode
    if not stat.S_ISREG(mode):
        raise ValueError(f"{what} {path.name!r} is not a regular file")
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{what} {path.name!r} is larger than {limit // 1024 // 1024} MB")
    return data


def folder_opener(
    base: Path, *, allow_outside: bool = False
) -> Callable[[str], Callable[[], bytes]]:
    """Loaders for image paths relative to ``base``. A path leading outside ``base`` (absolute,
    ``..``, or a symbolic link out) is refused unless ``allow_outside``: a manifest from
    elsewhere must not make the import read ``/etc/shadow`` or ``/proc/self/environ``."""
    root = base.resolve()

    def opener(path: str) -> Callable[[], bytes]:
        def load() -> bytes:
            target = (base / path).resolve()
            if not allow_outside and not target.is_relative_to(root):
                raise ValueError(
                    f"{path!r} is outside the manifest's folder {root} (pass --allow-outside "
                    "to read images elsewhere)"
                )
            return read_bounded(target, MAX_IMAGE_BYTES, what="image")

        return load

    return opener


def read_folder(
    path: Path, *, allow_empty: bool = False, allow_outside: bool = False
) -> list[ManifestRow]:
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
        raise Invalid(f"{path} does not exist or is not a regular file", field="path")
    try:
        text = read_bounded(manifest, MAX_MANIFEST_BYTES, what="manifest").decode("utf-8-sig")
    except (ValueError, OSError) as exc:
        raise Invalid(f"the manifest cannot be read: {exc}", field="manifest",
                      fix="split a larger manifest into several imports") from exc
    return parse_manifest(
        text,
        is_json=manifest.suffix.lower() == ".json",
        opener=folder_opener(manifest.parent, allow_outside=allow_outside),
        allow_empty=allow_empty,
    )


def read_zip(blob: bytes, *, allow_empty: bool = False) -> list[ManifestRow]:
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
    # Declared sizes are checked before anything is inflated, and zipfile never returns more
    # than the declared size: a 300 MB manifest in a 306 KB zip costs nothing.
    if names[manifest].file_size > MAX_ZIP_MANIFEST_BYTES:
        raise TooLarge(
            f"{manifest} inflates to {names[manifest].file_size} bytes; at most "
            f"{MAX_ZIP_MANIFEST_BYTES} are accepted", field="body",
            fix="split the import into several zips, or use fieldcheck watchlist import",
        )

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

    try:
        text = archive.read(names[manifest]).decode("utf-8-sig")
    except (zipfile.BadZipFile, UnicodeDecodeError, ValueError) as exc:
        raise Invalid(f"the manifest in the zip cannot be read: {exc}", field="body") from exc
    return parse_manifest(text, is_json=manifest.endswith(".json"), opener=opener,
                          allow_empty=allow_empty)


def _require_list(raw: dict[str, Any], i: int, key: str, kind: type, what: str) -> None:
    value = raw.get(key)
    if value is None:
        return
    if not isinstance(value, list) or not all(isinstance(v, kind) for v in value):
        raise Invalid(f"subjects[{i}].{key} must be {what}", field=f"subjects.{i}.{key}",
                      fix=f"send {key} as {what}")


def read_json_records(doc: Any, *, allow_empty: bool = False) -> list[ManifestRow]:
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
        _require_list(raw, i, "faces", str, "a list of base64 images")
        _require_list(raw, i, "fingerprints", dict, 'a list of {"position", "image", "ppi"}')
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

    return parse_manifest(json.dumps(normalised), is_json=True, opener=opener,
                          allow_empty=allow_empty)


