"""Signed offline snapshots of the watchlist (the MIND-style copy a port without a link keeps).

File format (``fieldcheck-snapshot/1``, see docs/WATCHLIST.md)::

    FCSNAP1 HMAC-SHA256 <64 hex digits>\\n
    <payload: gzip of one UTF-8 JSON object>

The signature is HMAC-SHA256 with FIELDCHECK_SNAPSHOT_KEY over ``b"FCSNAP1\\n" + payload``, the
exact payload bytes. It is checked before anything is decompressed or parsed, so a tampered or
foreign file costs nothing and reveals nothing. The JSON carries ``snapshot_id``, ``kind`` (full
or delta), ``since``, ``to_version``, ``created_at``, ``expires_at``, ``source_gateway``,
``source_country``, ``target_country`` and the ``changes`` of ``deltas.changes_since``.
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session

from gateway.audit.service import record
from gateway.auth.service import Principal
from gateway.errors import Conflict, Invalid
from gateway.watchlist import deltas

MAGIC = b"FCSNAP1"
ALG = b"HMAC-SHA256"
DEFAULT_TTL_DAYS = 30
# Decompressed size cap: a signed snapshot is trusted, but a wrong key on the network must not
# be able to exhaust memory either. Templates compress ~1.4x, so this is far above any real list.
MAX_JSON_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Snapshot:
    header: dict[str, Any]
    body: dict[str, Any]


def require_key(key: str | None) -> bytes:
    if not key:
        raise Conflict(
            "this gateway has no snapshot key, so it can neither sign nor verify snapshots",
            field="FIELDCHECK_SNAPSHOT_KEY",
            fix="set FIELDCHECK_SNAPSHOT_KEY to the key shared by the gateways of your network "
            "(the same value on the exporting and the importing gateway) and restart",
        )
    return key.encode()


def _mac(key: bytes, payload: bytes) -> str:
    return hmac.new(key, MAGIC + b"\n" + payload, hashlib.sha256).hexdigest()


def sign(payload_json: dict[str, Any], *, key: str | None) -> bytes:
    """Serialise, compress and sign a snapshot body."""
    secret = require_key(key)
    # mtime=0: the same body always gives the same bytes (reproducible, diffable signatures).
    payload = gzip.compress(json.dumps(payload_json, separators=(",", ":")).encode(), mtime=0)
    return MAGIC + b" " + ALG + b" " + _mac(secret, payload).encode() + b"\n" + payload


def verify(blob: bytes, *, key: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Check the signature, then decode; refuses tampered, foreign and expired snapshots."""
    secret = require_key(key)
    head, sep, payload = blob.partition(b"\n")
    parts = head.split(b" ")
    if not sep or len(parts) != 3 or parts[0] != MAGIC:
        raise Invalid(
            "the body is not a FieldCheck snapshot",
            field="body",
            fix="send the file GET /v1/watchlist/export produced, unchanged",
        )
    if parts[1] != ALG:
        raise Invalid(
            f"unsupported snapshot signature {parts[1].decode(errors='replace')!r}",
            field="body",
            fix="export the snapshot again with this FieldCheck version",
        )
    if not hmac.compare_digest(parts[2], _mac(secret, payload).encode()):
        raise Invalid(
            "the snapshot signature does not verify: the file was altered or signed with "
            "another network's key",
            field="body",
            reason="bad_signature",
            fix="obtain an unaltered snapshot from a gateway of this network",
        )
    try:
        raw = zlib.decompressobj(wbits=31).decompress(payload, MAX_JSON_BYTES)
        body = json.loads(raw)
    except (zlib.error, ValueError) as exc:
        raise Invalid("the signed snapshot cannot be decoded", field="body") from exc
    if not isinstance(body, dict) or body.get("format") != "fieldcheck-snapshot/1":
        raise Invalid("unknown snapshot format", field="body")
    now = now or datetime.now(UTC)
    expires = datetime.fromisoformat(body["expires_at"])
    if expires <= now:
        raise Invalid(
            f"the snapshot expired at {body['expires_at']}",
            field="body",
            reason="expired",
            fix="export a fresh snapshot from the source gateway",
        )
    return body


def build(
    session: Session,
    *,
    source_country: str,
    target: str,
    since: int | None,
    ttl_days: float,
    key: str | None,
) -> tuple[bytes, dict[str, Any]]:
    """A signed snapshot for ``target``: full, or the changes after ``since``."""
    require_key(key)
    if not 0 < ttl_days <= 366:
        raise Invalid("ttl_days must be more than 0 and at most 366", field="ttl_days")
    if since is None:
        body = deltas.full_state(session, target=target, source_country=source_country)
        kind = "full"
    else:
        body = deltas.changes_since(
            session,
            since=since,
            target=target,
            source_country=source_country,
            limit=deltas.MAX_PAGE,
        )
        kind = "delta"
    created = datetime.now(UTC)
    body.update(
        {
            "format": "fieldcheck-snapshot/1",
            "snapshot_id": "snap_" + uuid.uuid4().hex[:16],
            "kind": kind,
            "created_at": created.isoformat(),
            "expires_at": (created + timedelta(days=ttl_days)).isoformat(),
        }
    )
    info = {
        k: body[k]
        for k in (
            "snapshot_id",
            "kind",
            "since",
            "to_version",
            "has_more",
            "source_gateway",
            "target_country",
            "created_at",
            "expires_at",
        )
    }
    info["upserts"] = sum(1 for c in body["changes"] if c["op"] == "upsert")
    info["deletes"] = sum(1 for c in body["changes"] if c["op"] == "delete")
    return sign(body, key=key), info


def export_snapshot(
    session: Session,
    *,
    actor: Principal | None,
    source_country: str,
    target: str,
    since: int | None,
    ttl_days: float,
    key: str | None,
    detail: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    blob, info = build(
        session,
        source_country=source_country,
        target=target,
        since=since,
        ttl_days=ttl_days,
        key=key,
    )
    record(
        session,
        actor=actor,
        action="watchlist.export",
        target_type="snapshot",
        target_id=info["snapshot_id"],
        after={**info, "bytes": len(blob)},
        detail=detail,
    )
    session.commit()
    return blob, info


def load_snapshot(
    session: Session,
    *,
    blob: bytes,
    actor: Principal | None,
    country: str,
    key: str | None,
    prune: bool = False,
    detail: str | None = None,
) -> dict[str, Any]:
    """Verify and apply a snapshot; a refusal is audited too, then raised."""
    try:
        body = verify(blob, key=key)
        if body.get("target_country") != country:
            raise Conflict(
                f"this snapshot was made for {body.get('target_country')}, this gateway is "
                f"{country}",
                field="body",
                reason="foreign_target",
                fix=f"export with ?country={country} (or --country {country}) on the source",
            )
        summary = deltas.apply_changes(
            session,
            payload=body,
            actor=actor,
            country=country,
            kind=body["kind"],
            snapshot_id=str(body["snapshot_id"]),
            prune=prune,
        )
    except (Invalid, Conflict) as exc:
        session.rollback()
        record(
            session,
            actor=actor,
            action="watchlist.import.refused",
            target_type="snapshot",
            after={"bytes": len(blob)},
            detail=exc.detail[:2000],
        )
        session.commit()
        raise
    result = {
        "snapshot_id": body["snapshot_id"],
        "kind": body["kind"],
        "source_gateway": body["source_gateway"],
        "to_version": body["to_version"],
        "has_more": body.get("has_more", False),
        **summary.as_dict(),
    }
    record(
        session,
        actor=actor,
        action="watchlist.import",
        target_type="snapshot",
        target_id=str(body["snapshot_id"]),
        after=result,
        detail=detail,
    )
    session.commit()
    return result
