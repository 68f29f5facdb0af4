"""Staff sign-in for the console: argon2id password hashes, server-side sessions, lock-out.

A staff user acts with the same roles as API tokens: once signed in, the console builds the same
``Principal`` (id ``usr_...``) the services and the audit trail already know. Tokens stay for
devices and scripts.

Lock-out: after ``console_lockout_attempts`` consecutive failures the account refuses every
password (even the right one) for ``console_lockout_minutes``; a success resets the count. An
unknown username costs the same argon2 work as a known one, so timing does not reveal which
usernames exist.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlmodel import Session, col, select

from gateway.audit.service import record
from gateway.auth.models import Role, utcnow
from gateway.auth.service import Principal, parse_role
from gateway.console.languages import parse_language
from gateway.console.models import StaffSession, StaffUser
from gateway.errors import Conflict, Invalid, NotFound

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# Verified against when the username is unknown, so both paths cost one argon2 verification.
_DUMMY_HASH = _hasher.hash("fieldcheck-no-such-user")
MIN_PASSWORD = 12
STAFF_ROLES = (Role.ncb_admin, Role.ncb_analyst, Role.auditor)  # devices never sign in here


@dataclass(frozen=True)
class SignedIn:
    """A valid console session: who, their CSRF token and their language."""

    user: StaffUser
    csrf_token: str
    session_hash: str

    @property
    def principal(self) -> Principal:
        return principal_of(self.user)


class SignInRefused(Exception):
    """Wrong username or password, or the account is locked (``locked_until`` set)."""

    def __init__(self, locked_until: datetime | None = None) -> None:
        super().__init__("sign-in refused")
        self.locked_until = locked_until


def principal_of(user: StaffUser) -> Principal:
    return Principal(token_id=user.id, name=user.username, role=Role(user.role))


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)  # SQLite returns naive UTC


def _hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_user(
    session: Session, *, username: str, password: str, role: str, language: str = "en",
    actor: Principal | None = None,
) -> StaffUser:
    username = username.strip()
    if not 1 <= len(username) <= 100 or any(ch.isspace() for ch in username):
        raise Invalid("a username has 1-100 characters and no spaces", field="username")
    if len(password) < MIN_PASSWORD:
        raise Invalid(f"the password is shorter than {MIN_PASSWORD} characters",
                      field="password", fix=f"choose at least {MIN_PASSWORD} characters")
    role_value = parse_role(role)
    if role_value not in STAFF_ROLES:
        raise Invalid("staff accounts are for NCB roles", field="role",
                      fix="use ncb_admin, ncb_analyst or auditor; devices use API tokens")
    if session.exec(select(StaffUser).where(StaffUser.username == username)).first():
        raise Conflict(f"a user named {username!r} exists already", field="username")
    user = StaffUser(
        id="usr_" + uuid.uuid4().hex[:16], username=username,
        password_hash=_hasher.hash(password), role=role_value.value,
        language=parse_language(language),
    )
    session.add(user)
    session.flush()
    record(session, actor=actor, action="user.create", target_type="user", target_id=user.id,
           after={"username": username, "role": user.role})
    return user


def list_users(session: Session) -> list[StaffUser]:
    return list(session.exec(select(StaffUser).order_by(col(StaffUser.username))))


def unlock_user(session: Session, *, username: str, actor: Principal | None) -> StaffUser:
    user = session.exec(select(StaffUser).where(StaffUser.username == username)).first()
    if user is None:
        raise NotFound(f"no user named {username!r}", field="username")
    user.failed_attempts, user.locked_until = 0, None
    session.add(user)
    record(session, actor=actor, action="user.unlock", target_type="user", target_id=user.id)
    return user


def sign_in(
    session: Session, *, username: str, password: str, lockout_attempts: int,
    lockout_minutes: float, session_hours: float,
) -> tuple[StaffUser, str]:
    """Check the password and open a session; returns the user and the cookie secret.

    Raises ``SignInRefused``; every outcome is in the audit trail (the caller commits)."""
    now = datetime.now(UTC)
    user = session.exec(select(StaffUser).where(StaffUser.username == username.strip())).first()
    if user is None or user.disabled_at is not None:
        _verify(_DUMMY_HASH, password)
        record(session, actor=None, action="console.login.failed", target_type="user",
               detail=f"unknown or disabled username {username[:100]!r}")
        raise SignInRefused()
    locked_until = _aware(user.locked_until)
    if locked_until is not None and locked_until > now:
        _verify(_DUMMY_HASH, password)
        record(session, actor=principal_of(user), action="console.login.locked",
               target_type="user", target_id=user.id)
        raise SignInRefused(locked_until)
    if not _verify(user.password_hash, password):
        user.failed_attempts += 1
        locked = None
        if user.failed_attempts >= lockout_attempts:
            locked = now + timedelta(minutes=lockout_minutes)
            user.locked_until, user.failed_attempts = locked, 0
        session.add(user)
        record(session, actor=principal_of(user),
               action="console.lockout" if locked else "console.login.failed",
               target_type="user", target_id=user.id)
        raise SignInRefused(locked)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.failed_attempts, user.locked_until, user.last_login_at = 0, None, now
    session.add(user)
    secret = secrets.token_urlsafe(32)
    session.add(StaffSession(
        id_hash=_hash_secret(secret), user_id=user.id, csrf_token=secrets.token_urlsafe(32),
        expires_at=now + timedelta(hours=session_hours),
    ))
    record(session, actor=principal_of(user), action="console.login", target_type="user",
           target_id=user.id)
    return user, secret


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_of(session: Session, secret: str | None) -> SignedIn | None:
    """The live session a cookie secret opens, or None (unknown, expired, signed out, locked)."""
    if not secret:
        return None
    row = session.get(StaffSession, _hash_secret(secret))
    if row is None or row.revoked_at is not None:
        return None
    if (_aware(row.expires_at) or utcnow()) <= utcnow():
        return None
    user = session.get(StaffUser, row.user_id)
    if user is None or user.disabled_at is not None:
        return None
    return SignedIn(user=user, csrf_token=row.csrf_token, session_hash=row.id_hash)


def sign_out(session: Session, signed_in: SignedIn) -> None:
    row = session.get(StaffSession, signed_in.session_hash)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        session.add(row)
    record(session, actor=signed_in.principal, action="console.logout", target_type="user",
           target_id=signed_in.user.id)


def set_language(session: Session, *, user: StaffUser, language: str) -> None:
    user.language = parse_language(language)
    session.add(user)


def csrf_matches(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected, given or "")
