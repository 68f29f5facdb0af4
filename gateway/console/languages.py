"""Which language a reader gets: a device's officer messages, a staff user's console."""

from __future__ import annotations

from sqlmodel import Session

from gateway.audit.service import record
from gateway.auth.models import utcnow
from gateway.auth.service import Principal
from gateway.console.models import DeviceLanguage
from gateway.errors import Invalid
from gateway.i18n import LANGUAGES, negotiate


def parse_language(value: str, *, field: str = "language") -> str:
    if value not in LANGUAGES:
        raise Invalid(f"unknown language {value!r}", field=field,
                      fix="use one of: " + ", ".join(LANGUAGES))
    return value


def officer_language(
    session: Session, *, token_id: str, accept_language: str | None, default: str
) -> str:
    """The device's language set by the NCB, else its ``Accept-Language``, else the gateway's.

    The NCB's setting wins: handhelds often send their factory ``en-US`` whatever the officer
    reads."""
    setting = session.get(DeviceLanguage, token_id)
    if setting is not None:
        return setting.language
    return negotiate(accept_language, default=default)


def device_languages(session: Session) -> dict[str, str]:
    from sqlmodel import select

    return {row.token_id: row.language for row in session.exec(select(DeviceLanguage))}


def set_device_language(
    session: Session, *, token_id: str, language: str | None, actor: Principal
) -> None:
    """Set (or with ``None`` clear) a device token's officer language; audited."""
    row = session.get(DeviceLanguage, token_id)
    before = {"language": row.language} if row else None
    if language is None:
        if row is not None:
            session.delete(row)
    else:
        language = parse_language(language)
        if row is None:
            row = DeviceLanguage(token_id=token_id, language=language)
        row.language, row.updated_at = language, utcnow()
        session.add(row)
    record(session, actor=actor, action="token.language", target_type="token",
           target_id=token_id, before=before, after={"language": language})
