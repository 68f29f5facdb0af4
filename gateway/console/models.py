"""Staff accounts (username + argon2 password hash), their sign-in sessions, device languages."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from gateway.auth.models import utcnow


class StaffUser(SQLModel, table=True):
    __tablename__ = "staff_user"

    id: str = Field(primary_key=True, max_length=40)  # "usr_...": the audit trail's actor id
    username: str = Field(index=True, unique=True, max_length=100)
    password_hash: str = Field(max_length=200)  # argon2id, parameters inside the hash
    role: str = Field(max_length=20)  # the same roles as API tokens
    language: str = Field(default="en", max_length=5)
    failed_attempts: int = 0  # consecutive failed sign-ins
    locked_until: datetime | None = None
    disabled_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class StaffSession(SQLModel, table=True):
    """A signed-in browser. The cookie holds a random secret; only its SHA-256 is stored."""

    __tablename__ = "staff_session"

    id_hash: str = Field(primary_key=True, max_length=64)
    user_id: str = Field(index=True, max_length=40)
    csrf_token: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    revoked_at: datetime | None = None


class DeviceLanguage(SQLModel, table=True):
    """The officer language an NCB admin set for one device token (wins over Accept-Language)."""

    __tablename__ = "device_language"

    token_id: str = Field(primary_key=True, max_length=40)
    language: str = Field(max_length=5)
    updated_at: datetime = Field(default_factory=utcnow)
