"""Signed offline snapshots of the watchlist (the MIND-style copy a port without a link keeps).

File format (``fieldcheck-snapshot/2``, see docs/WATCHLIST.md)::

    FCSNAP2 ED25519 <key id> <base64url signature>\n
    <payload: gzip of one UTF-8 JSON object>

The signature is Ed25519 by the source gateway's FIELDCHECK_SNAPSHOT_SIGNING_KEY over
``b"FCSNAP2\n" + payload``, the exact payload bytes; the key id (16 hex digits of the public
key's SHA-256) says which of FIELDCHECK_SNAPSHOT_TRUSTED_KEYS verifies it. It is checked before
anything is decompressed or parsed, so a tampered or foreign file costs nothing and reveals
nothing, and a replica, holding only public keys, cannot forge one. The JSON carries
``snapshot_id``, ``kind`` (full or delta), ``since``, ``to_version``, ``created_at``,
``expires_at``, ``source_gateway``, ``source_country``, ``target_country`` and the ``changes``
of ``deltas.changes_since``.

Pages of the online changes feed are signed with the same key and algorithm, under their own
magic (``FCFEED2``, so a feed signature can never pass for a snapshot's or the reverse), in a
JSON envelope that survives being parsed and re-sent::

    {"format": "fieldcheck-changes/2", "signature": "FCFEED2 ED25519 <key id> <signature>",
     "payload": "<the page as JSON text>"}

The signature covers ``b"FCFEED2\n"`` + the UTF-8 bytes of ``payload`` (ASCII-only JSON, so a
JSON round trip of the envelope keeps those bytes exactly).
"""

from __future__ import annotations

import gzip
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
from gateway.keys import SnapshotKeys
from gateway.watchlist import deltas

MAGIC = b"FCSNAP2"
SNAPSHOT_FORMAT = "fieldcheck-snapshot/2"
ALG = b"ED25519"
DEFAULT_TTL_DAYS = 30
# Decompressed size cap: a signed snapshot is trusted, but a compromised source must not be able
# to exhaust memory either. Templates compress ~1.4x, so this is far above any real list.
MAX_JSON_BYTES = 2 * 1024**3


@dataclass(frozen=True)
class Snapshot:
    header: dict[str, Any]
    body: dict[str, Any]


def require_signing(keys: SnapshotKeys) -> SnapshotKeys:
    if keys.signing is None:
        raise Conflict(
            "this gateway has no snapshot signing key, so it cannot sign snapshots or feed pages",
            field="FIELDCHECK_SNAPSHOT_SIGNING_KEY",
            fix="run `fieldcheck keygen snapshot`, set FIELDCHECK_SNAPSHOT_SIGNING_KEY to the "
            "private key and restart; give the printed public key to the receiving gateways",
        )
    return keys


def require_trusted(keys: SnapshotKeys) -> SnapshotKeys:
    if not keys.trusted:
        raise Conflict(
            "this gateway trusts no snapshot source, so it cannot verify snapshots or feed pages",
            field="FIELDCHECK_SNAPSHOT_TRUSTED_KEYS",
            fix="set FIELDCHECK_SNAPSHOT_TRUSTED_KEYS to the public keys (fcpk1_...) of the "
            "source gateways (`fieldcheck keygen snapshot` printed them there) and restart",
        )
    return keys


def signature_line(payload: bytes, *, keys: SnapshotKeys, magic: bytes = MAGIC) -> bytes:
    """``<magic> ED25519 <key id> <signature>``: a snapshot's first line, a feed's signature."""
    kid, signature = require_signing(keys).sign(magic + b"\n" + payload)
    return b" ".join((magic, ALG, kid.encode(), signature.encode()))


def check_signature(
    line: bytes, payload: bytes, *, keys: SnapshotKeys, magic: bytes = MAGIC,
    what: str = "snapshot",
) -> None:
    """Refuse unless ``line`` is a valid ``signature_line`` of ``payload`` by a trusted key.

    No trusted key here: 409 (set them); not our format: 422; a signature that does not verify
    or a key not trusted: 422 ``reason: bad_signature``.
    """
    require_trusted(keys)
    field = "body" if magic == MAGIC else "signature"
    parts = line.strip().split(b" ")
    if len(parts) < 2 or parts[0] != magic:
        raise Invalid(
            f"the body is not a signed FieldCheck {what} (format 2)",
            field=field,
            fix=f"send the {what} a FieldCheck gateway produced, unchanged; files signed with "
            "the retired shared key must be exported again",
        )
    if parts[1] != ALG or len(parts) != 4:
        raise Invalid(
            f"unsupported {what} signature {parts[1].decode(errors='replace')!r}",
            field=field,
            fix=f"produce the {what} again with this FieldCheck version",
        )
    kid = parts[2].decode("ascii", errors="replace")
    if not keys.verify(kid, parts[3].decode("ascii", errors="replace"), magic + b"\n" + payload):
        trusted = kid in keys.trusted
        raise Invalid(
            f"the {what} signature does not verify: "
            + ("it was altered after signing" if trusted
               else f"it was signed by key {kid}, which this gateway does not trust"),
            field=field,
            reason="bad_signature",
            fix=f"obtain an unaltered {what} from a trusted source, or add that source's "
            "public key to FIELDCHECK_SNAPSHOT_TRUSTED_KEYS",
        )


def sign(payload_json: dict[str, Any], *, keys: SnapshotKeys) -> bytes:
    """Serialise, compress and sign a snapshot body."""
    require_signing(keys)
    # mtime=0: the same body always gives the same bytes (reproducible, diffable signatures).
    payload = gzip.compress(json.dumps(payload_json, separators=(",", ":")).encode(), mtime=0)
    return signature_line(payload, keys=keys) + b"\n" + payload


def verify(blob: bytes, *, keys: SnapshotKeys, now: datetime | None = None) -> dict[str, Any]:
    """Check the signature, then decode; refuses tampered, foreign and expired snapshots."""
    require_trusted(keys)
    head, sep, payload = blob.partition(b"\n")
    if not sep:
        raise Invalid(
            "the body is not a FieldCheck snapshot",
            field="body",
            fix="send the file GET /v1/watchlist/export produced, unchanged",
        )
    check_signature(head, payload, keys=keys)
    try:
        raw = zlib.decompressobj(wbits=31).decompress(payload, MAX_JSON_BYTES)
        body = json.loads(raw)
    except (zlib.error, ValueError) as exc:
        raise Invalid("the signed snapshot cannot be decoded", field="body") from exc
    if not isinstance(body, dict) or body.get("format") != SNAPSHOT_FORMAT:
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

FEED_MAGIC = b"FCFEED2"
FEED_FORMAT: Literal["fieldcheck-changes/2"] = "fieldcheck-changes/2"


class SignedFeed(BaseModel):
    """The body of ``POST /v1/watchlist/changes:apply``: a ``GET /v1/watchlist/changes`` answer.

    Only ``payload`` is trusted (after its signature); the answer's other fields are unsigned
    copies for paging scripts and are ignored.
    """

    model_config = ConfigDict(extra="ignore")

    format: Literal["fieldcheck-changes/2"] = FEED_FORMAT
    signature: str = Field(min_length=1, max_length=200)
    payload: str = Field(min_length=2)


def sign_feed(page: dict[str, Any], *, keys: SnapshotKeys) -> dict[str, Any]:
    """Wrap a feed page in its signed envelope (with unsigned paging hints beside it)."""
    text = json.dumps(page, separators=(",", ":"), ensure_ascii=True)
    return {
        "format": FEED_FORMAT,
        "signature": signature_line(text.encode(), keys=keys, magic=FEED_MAGIC).decode(),
        "payload": text,
        **{k: page.get(k) for k in ("source_gateway", "target_country", "since", "to_version",
                                    "has_more", "next_since")},
    }


def verify_feed(envelope: SignedFeed, *, keys: SnapshotKeys) -> Any:
    """The page inside a signed envelope, once its signature verifies (JSON, not yet validated)."""
    payload = envelope.payload.encode("utf-8", errors="surrogatepass")
    check_signature(
        envelope.signature.encode("ascii", errors="replace"),
        payload,
        keys=keys,
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
    keys: SnapshotKeys,
) -> tuple[bytes, dict[str, Any]]:
    """A signed snapshot for ``target``: full, or the changes after ``since``."""
    require_signing(keys)
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
            "format": SNAPSHOT_FORMAT,
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
    return sign(body, keys=keys), info


def export_snapshot(
    session: Session,
    *,
    actor: Principal | None,
    source_country: str,
    target: str,
    since: int | None,
    ttl_days: float,
    keys: SnapshotKeys,
    detail: str | None = None,
) -> tuple[bytes, dict[str, Any]]:
    blob, info = build(
        session,
        source_country=source_country,
        target=target,
        since=since,
        ttl_days=ttl_days,
        keys=keys,
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
    keys: SnapshotKeys,
    prune: bool = False,
    detail: str | None = None,
) -> dict[str, Any]:
    """Verify and apply a snapshot; a refusal is audited too, then raised."""
    try:
        body = verify(blob, keys=keys)
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
