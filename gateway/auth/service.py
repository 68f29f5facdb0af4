"""Token issue, lookup and revocation. Secrets are shown once and stored only as hashes."""

from __future__ import annotations

import hashlib
import logging
import secrets
import uuid
from dataclasses import dataclass

from sqlmodel import Session, col, select

from gateway.auth.models import ApiToken, Role, utcnow
from gateway.errors import Invalid, NotFound, parse_choice

TOKEN_PREFIX = "fc_"
BOOTSTRAP_NAME = "bootstrap admin"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the token's id, name and role."""

    token_id: str
    name: str
    role: Role


def hash_token(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_role(value: str) -> Role:
    return parse_choice(Role, value, field="role")


def create_token(
    session: Session, *, role: str, name: str, created_by: str | None = None,
    secret: str | None = None, token_id: str | None = None,
) -> tuple[ApiToken, str]:
    """Create a token; returns the row and the secret (shown once)."""
    role_value = parse_role(role)
    if not name or len(name) > 200:
        raise Invalid("a token needs a name of 1-200 characters", field="name")
    secret = secret or TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        id=token_id or "tok_" + uuid.uuid4().hex[:16], name=name, role=role_value.value,
        token_hash=hash_token(secret), created_by=created_by,
    )
    session.add(row)
    session.flush()
    return row, secret


def authenticate(session: Session, secret: str) -> Principal | None:
    row = session.exec(select(ApiToken).where(ApiToken.token_hash == hash_token(secret))).first()
    if row is None or row.revoked_at is not None:
        return None
    return Principal(token_id=row.id, name=row.name, role=Role(row.role))


def list_tokens(session: Session) -> list[ApiToken]:
    return list(session.exec(select(ApiToken).order_by(col(ApiToken.created_at))))


def revoke_token(session: Session, token_id: str) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no token with id {token_id!r}", field="token_id")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    return row


def ensure_admin_token(session: Session, configured: str | None) -> str | None:
    """Make sure a bootstrap admin exists.

    With ``configured`` (FIELDCHECK_ADMIN_TOKEN) that secret is registered if new. Without it,
    the first start generates one and returns it so the caller can print it once; later starts
    return None.
    """
    if configured:
        current = session.exec(
            select(ApiToken).where(ApiToken.token_hash == hash_token(configured))
        ).first()
        if current is None:
            current, _ = create_token(session, role=Role.ncb_admin, name=BOOTSTRAP_NAME,
                                      secret=configured)
        # A changed FIELDCHECK_ADMIN_TOKEN is a rotation: the previous bootstrap token (or the
        # generated one) must stop working, or whoever learnt it keeps admin rights.
        for old in session.exec(
            select(ApiToken).where(ApiToken.name == BOOTSTRAP_NAME, ApiToken.id != current.id,
                                   ApiToken.revoked_at.is_(None))  # type: ignore[union-attr]
        ):
            old.revoked_at = utcnow()
            session.add(old)
            log.warning("revoked the previous bootstrap admin token %s: FIELDCHECK_ADMIN_TOKEN "
                        "changed", old.id)
        return None
    has_admin = session.exec(select(ApiToken).where(ApiToken.role == Role.ncb_admin.value)).first()
    if has_admin is not None:
        return None
    _row, secret = create_token(session, role=Role.ncb_admin, name=BOOTSTRAP_NAME)
    return secret
