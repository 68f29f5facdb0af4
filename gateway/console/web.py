"""The console's page machinery: sessions from cookies, CSRF, roles, rendering, error pages.

Pages get a ``Page`` (``PageDep``): the signed-in user, the language, ``allow(*roles)`` (the
same role sets as the API, ``gateway.deps``) and ``render``. A ``DomainError`` raised by a service
becomes an HTML page in the user's language (with the service's own detail and fix), not JSON.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import ValidationError
from sqlmodel import Session

from device_adapters.errors import AdapterError
from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.console import auth
from gateway.deps import (
    ADMIN_ROLES,
    ANALYST_ROLES,
    AUDITOR_ROLES,
    STATUS_READER_ROLES,
    RuntimeDep,
    ensure_role,
)
from gateway.errors import DomainError, Forbidden, Invalid
from gateway.i18n import LANGUAGE_NAMES, LANGUAGES, N_, negotiate, translate
from gateway.runtime import Runtime
from gateway.watchlist.categories import Category, category_name
from matchers.errors import UnusableCapture

HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
SESSION_COOKIE = "fc_console"
LOGIN_CSRF_COOKIE = "fc_login_csrf"
PREFIX = "/console"

env = Environment(
    loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
    trim_blocks=True, lstrip_blocks=True,
)

# Navigation: (path, label, roles that may open it). Same role sets as the API routes.
NAV: list[tuple[str, str, tuple[Role, ...]]] = [
    ("/subjects", N_("Watchlist"), ANALYST_ROLES),
    ("/import", N_("Bulk import"), ADMIN_ROLES),
    ("/reviews", N_("Review queue"), ANALYST_ROLES),
    ("/link", N_("Central link"), STATUS_READER_ROLES),
    ("/audit", N_("Audit trail"), AUDITOR_ROLES),
    ("/tokens", N_("Tokens and devices"), ADMIN_ROLES),
]

# Short notices after a redirect (?done=key): fixed texts, so nothing user-made is echoed.
NOTICES = {
    "created": N_("Subject created."),
    "saved": N_("Changes saved."),
    "deleted": N_("Subject deleted."),
    "enrolled": N_("Biometric enrolled."),
    "removed": N_("Biometric removed."),
    "reviewed": N_("Review saved."),
    "requeued": N_("Sent to central again."),
    "revoked": N_("Token revoked."),
    "language": N_("Device language saved."),
    "queue_empty": N_("The review queue is empty."),
}


# Codes the services return, as people read them (unknown codes are shown as they are).
LABELS: dict[str, dict[str, str]] = {
    "job": {"queued": N_("queued"), "running": N_("running"), "done": N_("done"),
            "failed": N_("failed"), "interrupted": N_("interrupted")},
    "link": {"up": N_("up"), "down": N_("down"), "degraded": N_("degraded"),
             "unknown": N_("unknown")},
    "circuit": {"closed": N_("closed"), "open": N_("open (central is not called)"),
                "half_open": N_("half open (trying central again)")},
    "upstream": {"not_forwarded": N_("not forwarded"), "queued": N_("queued"),
                 "pending": N_("sent, awaiting central"), "completed": N_("completed"),
                 "failed": N_("failed"), "expired": N_("expired")},
}


def secure_cookies(request: Request, runtime: Runtime) -> bool:
    configured = runtime.settings.console_secure_cookies
    if configured is not None:
        return configured
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def set_cookie(response: Response, request: Request, runtime: Runtime, name: str, value: str,
               *, max_age: int | None = None) -> None:
    # HttpOnly: scripts never read the session; SameSite=Strict: other sites' pages cannot
    # send it (a first line against CSRF; the per-session token is the second).
    response.set_cookie(name, value, max_age=max_age, path=PREFIX, httponly=True,
                        samesite="strict", secure=secure_cookies(request, runtime))


def fmt_datetime(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value)
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return value
    return value.strftime("%Y-%m-%d %H:%M")


class LoginRequired(Exception):
    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


@dataclass
class Page:
    request: Request
    runtime: Runtime
    session: Session
    signed: auth.SignedIn

    @property
    def lang(self) -> str:
        return self.signed.user.language

    @property
    def principal(self) -> Principal:
        return self.signed.principal

    @property
    def country(self) -> str:
        return self.runtime.settings.country

    def allow(self, *roles: Role) -> Principal:
        """The signed-in user as the services' ``Principal``, if their role may do this."""
        return ensure_role(self.principal, *roles)

    def may(self, roles: tuple[Role, ...]) -> bool:
        return self.principal.role in roles

    def check_csrf(self, token: str | None) -> None:
        if not auth.csrf_matches(self.signed.csrf_token, token):
            raise Forbidden("the form's security token is missing or stale", field="csrf",
                            fix="reload the page and submit the form again")

    def t(self, message: str, **values: object) -> str:
        return translate(message, self.lang, **values)

    def render(self, template: str, http_status: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, template, lang=self.lang, page=self,
                      http_status=http_status, **context)

    def redirect(self, path: str, done: str | None = None) -> RedirectResponse:
        target = PREFIX + path + (("&" if "?" in path else "?") + f"done={done}" if done else "")
        return RedirectResponse(target, status_code=303)


def render(request: Request, template: str, *, lang: str, page: Page | None = None,
           http_status: int = 200, **context: Any) -> HTMLResponse:
    def _(message: str, **values: object) -> str:
        return translate(message, lang, **values)

    nav = [
        {"path": PREFIX + path, "label": _(label),
         "current": request.url.path.startswith(PREFIX + path)}
        for path, label, roles in NAV
        if page is not None and page.may(roles)
    ]
    done = request.query_params.get("done")
    html = env.get_template(template).render(
        _=_, lang=lang, page=page, nav=nav, prefix=PREFIX, languages=LANGUAGES,
        language_names=LANGUAGE_NAMES, categories=[c.value for c in Category],
        category_name=lambda code: category_name(code, lang), fmt=fmt_datetime,
        label=lambda kind, code: _(LABELS[kind][code]) if code in LABELS[kind] else code,
        notice=_(NOTICES[done]) if done in NOTICES else None,
        user=page.signed.user if page else None,
        can_manage=page is not None and page.may(ADMIN_ROLES),
        csrf=page.signed.csrf_token if page else context.pop("login_csrf", ""),
        **context,
    )
    response = HTMLResponse(html, status_code=http_status)
    # The console shows watchlist records: never cached, never framed by another site.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'"
    )
    return response


def get_page(request: Request, runtime: RuntimeDep) -> Any:
    session = Session(runtime.engine, expire_on_commit=False)
    try:
        signed = auth.session_of(session, request.cookies.get(SESSION_COOKIE))
        if signed is None:
            raise LoginRequired(request.url.path + (f"?{request.url.query}"
                                                    if request.url.query else ""))
        _same_origin(request)
        yield Page(request=request, runtime=runtime, session=session, signed=signed)
    finally:
        session.close()


def _same_origin(request: Request) -> None:
    """Refuse a state-changing request whose Origin is another site (with the CSRF token)."""
    if request.method in ("GET", "HEAD"):
        return
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.url.netloc:
        raise Forbidden("this form was sent from another site", field="Origin")


PageDep = Annotated[Page, Depends(get_page)]


def language_for_anonymous(request: Request, runtime: Runtime) -> str:
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        return chosen
    return negotiate(request.headers.get("accept-language"),
                     default=runtime.settings.default_language)


def new_login_csrf() -> str:
    return secrets.token_urlsafe(24)


class ConsoleRoute(APIRoute):
    """Console routes answer in HTML: sign-in redirects and error pages instead of JSON."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except LoginRequired as exc:
                return RedirectResponse(f"{PREFIX}/login?next={quote(exc.next_path)}",
                                        status_code=303)
            except (DomainError, UnusableCapture, AdapterError, ValidationError,
                    RequestValidationError) as exc:
                error = as_domain_error(exc)
                runtime = request.app.state.runtime
                lang = _error_language(request, runtime)
                return render(request, "error.html", lang=lang, http_status=error.status,
                              error=error, page=None, back=_back(request))

        return route


def as_domain_error(exc: Exception) -> DomainError:
    """Any refusal a page can meet, as the domain error the API would have answered."""
    if isinstance(exc, DomainError):
        return exc
    if isinstance(exc, UnusableCapture):
        return Invalid(exc.message, field=getattr(exc, "field", None) or "image",
                       fix="capture again: " + exc.message)
    if isinstance(exc, AdapterError):
        return Invalid(exc.message, field=exc.field, fix=exc.fix)
    if isinstance(exc, ValidationError | RequestValidationError):
        errors = exc.errors()
        detail = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'form'}: {e['msg']}"
            for e in errors
        )
        first = errors[0].get("loc", ()) if errors else ()
        return Invalid(detail, field=".".join(str(p) for p in first if p != "body") or None,
                       fix="correct the listed fields and send again")
    raise TypeError(exc)


def _back(request: Request) -> str:
    referer = request.headers.get("referer", "")
    path = urlsplit(referer).path if referer else ""
    return path if path.startswith(PREFIX + "/") else PREFIX + "/"


def _error_language(request: Request, runtime: Runtime) -> str:
    with Session(runtime.engine) as session:
        signed = auth.session_of(session, request.cookies.get(SESSION_COOKIE))
        return signed.user.language if signed else language_for_anonymous(request, runtime)
