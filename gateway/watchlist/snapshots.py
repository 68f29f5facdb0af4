"""Signed offline snapshots of the watchlist (the MIND-style copy a port without a link keeps).

File format (``fieldcheck-snapshot/1``, see docs/WATCHLIST.md)::

    FCSNAP1 HMAC-SHA256 <64 hex digits>\\n
    <payload: gzip of one UTF-8 JSON object>

The signature is HMAC-SHA256 with FIELDCHECK_SNAPSHOT_KEY over ``b"FCSNAP1\\n" + payload``, the
exact payload bytes. It is checked before anything is decompressed or parsed, so a tampered or
foreign file costs nothing and reveals nothing. The JSON carries ``snapshot_id``, ``kind`` (full
or delta), ``since``, ``to_version``, ``created_at``, ``expires_at``, ``source_gateway``,
``source_country``, ``target_country`` and the ``changes`` of ``deltas.changes_since``.

Pages of the online changes feed are signed with the same key and algorithm, under their own
magic (``FCFEED1``, so a feed signature can never pass for a snapshot's or the reverse), in a
JSON envelope that survives being parsed and re-sent::

    {"format": "fieldcheck-changes/1", "signature": "FCFEED1 HMAC-SHA256 <hex>",
     "payload": "<the page as JSON text>"}

The MAC covers ``b"FCFEED1\n"`` + the UTF-8 bytes of ``payload`` (ASCII-only JSON, so a JSON
round trip of the envelope keeps those bytes exactly).
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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
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


def _mac(key: bytes, payload: bytes, magic: bytes = MAGIC) -> str:
    return hmac.new(key, magic + b"\n" + payload, hashlib.sha256).hexdigest()


def signature_line(payload: bytes, *, key: str | None, magic: bytes = MAGIC) -> bytes:
    """``<magic> HMAC-SHA256 <hex>``: the first line of a snapshot, the signature of a feed."""
    return magic + b" " + ALG + b" " + _mac(require_key(key), payload, magic).encode()


def check_signature(
    line: bytes, payload: bytes, *, key: str | None, magic: bytes = MAGIC, what: str = "snapshot"
) -> None:
    """Refuse unless ``line`` is a valid ``signature_line`` of ``payload`` under ``key``.

    No key here: 409 (set it); not our format: 422; wrong MAC: 422 ``reason: bad_signature``.
    """
    secret = require_key(key)
    parts = line.strip().split(b" ")
    if len(parts) != 3 or parts[0] != magic:
        raise Invalid(
            f"the body is not a signed FieldCheck {what}",
            field="body" if magic == MAGIC else "signature",
            fix=f"send the {what} a FieldCheck gateway produced, unchanged",
        )
    if parts[1] != ALG:
        raise Invalid(
            f"unsupported {what} signature {parts[1].decode(errors='replace')!r}",
            field="body" if magic == MAGIC else "signature",
            fix=f"produce the {what} again with this FieldCheck version",
        )
    if not hmac.compare_digest(parts[2], _mac(secret, payload, magic).encode()):
        raise Invalid(
            f"the {what} signature does not verify: it was altered or signed with another "
            "network's key",
            field="body" if magic == MAGIC else "signature",
            reason="bad_signature",
            fix=f"obtain an unaltered {what} from a gateway of this network",
        )


def sign(payload_json: dict[str, Any], *, key: str | None) -> bytes:
    """Serialise, compress and sign a snapshot body."""
    require_key(key)
    # mtime=0: the same body always gives the same bytes (reproducible, diffable signatures).
    payload = gzip.compress(json.dumps(payload_json, separators=(",", ":")).encode(), mtime=0)
    return signature_line(payload, key=key) + b"\n" + payload


def verify(blob: bytes, *, key: str | None, now: datetime | None = None) -> dict[str, Any]:
    """Check the signature, then decode; refuses tampered, foreign and expired snapshots."""
    require_key(key)
    head, sep, payload = blob.partition(b"\n")
    if not sep:
        raise Invalid(
            "the body is not a FieldCheck snapshot",
            field="body",
            fix="send the file GET /v1/watchlist/export produced, unchanged",
        )
    check_signature(head, payload, key=key)
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


# --- signed pages of the online changes feed ---------------------------------------------------

FEED_MAGIC = b"FCFEED1"
FEED_FORMAT = "fieldcheck-changes/1"


class SignedFeed(BaseModel):
    """The body of ``POST /v1/watchlist/changes:apply``: a ``GET /v1/watchlist/changes`` answer.

    Only ``payload`` is trusted (after its signature); the answer's other fields are unsigned
    copies for paging scripts and are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["fieldcheck-changes/1"] = FEED_FORMAT
    signature: str = Field(min_length=1, max_length=200)
    payload: str = Field(min_length=2)


def sign_feed(page: dict[str, Any], *, key: str | None) -> dict[str, Any]:
    """Wrap a feed page in its signed envelope (with unsigned paging hints beside it)."""
    text = json.dumps(page, separators=(",", ":"), ensure_ascii=True)
    return {
        "format": FEED_FORMAT,
        "signature": signature_line(text.encode(), key=key, magic=FEED_MAGIC).decode(),
        "payload": text,
        **{k: page.get(k) for k in ("source_gateway", "target_country", "since", "to_version",
                                    "has_more", "next_since")},
    }


def verify_feed(envelope: SignedFeed, *, key: str | None) -> Any:
    """The page inside a signed envelope, once its signature verifies (JSON, not yet validated)."""
    payload = envelope.payload.encode("utf-8", errors="surrogatepass")
    check_signature(
        envelope.signature.encode("ascii", errors="replace"),
        payload,
        key=key,
        magic=FEED_MAGIC,
        what="changes feed page",
    )
    try:
        return json.loads(payload)
    except ValueError as exc:
        raise Invalid("the signed page is not JSON", field="payload") from exc


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
