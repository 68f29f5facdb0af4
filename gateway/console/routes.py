"""Console routes: sign-in, language, and ``mount(app)`` which adds every console page.

The pages live by area (``pages_*.py``); each calls the API's own route functions or services
after checking the caller's role with the API's role sets.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlmodel import Session

from gateway.console import auth
from gateway.console.web import (
    LOGIN_CSRF_COOKIE,
    NAV,
    PREFIX,
    SESSION_COOKIE,
    STATIC_DIR,
    ConsoleRoute,
    PageDep,
    language_for_anonymous,
    new_login_csrf,
    render,
    set_cookie,
)
from gateway.deps import RuntimeDep
from gateway.i18n import LANGUAGES, N_, translate

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    # Only back into the console: never an open redirect to another site.
    if value and value.startswith(PREFIX + "/") and "\\" not in value:
        return value
    return PREFIX + "/"


@router.get("")
@router.get("/")
def home(page: PageDep) -> Response:
    for path, _label, roles in NAV:
        if page.may(roles):
            return RedirectResponse(PREFIX + path, status_code=303)
    return page.render("error.html", http_status=403, error=None)


@router.get("/login")
def login_form(request: Request, runtime: RuntimeDep, next: str | None = None) -> Response:
    lang = language_for_anonymous(request, runtime)
    token = new_login_csrf()
    response = render(request, "login.html", lang=lang, login_csrf=token, next=_safe_next(next))
    set_cookie(response, request, runtime, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/login")
def login(
    request: Request, runtime: RuntimeDep,
    username: Annotated[str, Form(max_length=200)], password: Annotated[str, Form(max_length=1000)],
    csrf: Annotated[str, Form()] = "", next: Annotated[str, Form()] = "",
    language: Annotated[str, Form()] = "",
) -> Response:
    settings = runtime.settings
    lang = language if language in LANGUAGES else language_for_anonymous(request, runtime)
    if not auth.csrf_matches(request.cookies.get(LOGIN_CSRF_COOKIE, ""), csrf):
        return _login_again(request, runtime, lang, username, next, N_(
            "The sign-in form expired. Please sign in again."), http_status=403)
    with Session(runtime.engine, expire_on_commit=False) as session:
        try:
            user, secret = auth.sign_in(
                session, username=username, password=password,
                lockout_attempts=settings.console_lockout_attempts,
                lockout_minutes=settings.console_lockout_minutes,
                session_hours=settings.console_session_hours,
            )
        except auth.SignInRefused as refused:
            session.commit()  # the failed attempt and any lock-out are kept
            if refused.locked_until is not None:
                message = translate(
                    N_("This account is locked after repeated failed sign-ins. Try again after "
                       "{time} UTC or ask an NCB admin to unlock it."), lang,
                    time=refused.locked_until.strftime("%H:%M"))
            else:
                message = translate(N_("Wrong username or password."), lang)
            return _login_again(request, runtime, lang, username, next, message, http_status=401)
        session.commit()
    response = RedirectResponse(_safe_next(next), status_code=303)
    set_cookie(response, request, runtime, SESSION_COOKIE, secret,
               max_age=int(settings.console_session_hours * 3600))
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=PREFIX)
    return response


def _login_again(request: Request, runtime: RuntimeDep, lang: str, username: str, next: str,
                 message: str, *, http_status: int) -> Response:
    token = new_login_csrf()
    response = render(request, "login.html", lang=lang, login_csrf=token,
                      http_status=http_status,
                      error=translate(message, lang), username=username, next=_safe_next(next))
    set_cookie(response, request, runtime, LOGIN_CSRF_COOKIE, token, max_age=3600)
    return response


@router.post("/logout")
def logout(page: PageDep, csrf: Annotated[str, Form()] = "") -> Response:
    page.check_csrf(csrf)
    auth.sign_out(page.session, page.signed)
    page.session.commit()
    response = RedirectResponse(PREFIX + "/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return response


@router.post("/language")
def choose_language(
    page: PageDep, language: Annotated[str, Form()], csrf: Annotated[str, Form()] = "",
) -> Response:
    page.check_csrf(csrf)
    auth.set_language(page.session, user=page.signed.user, language=language)
    page.session.commit()
    referer = page.request.headers.get("referer", "")
    path = referer.split(page.request.url.netloc, 1)[-1] if referer else ""
    return RedirectResponse(_safe_next(path), status_code=303)


def _include_pages() -> None:
    from gateway.console import evidence, pages_admin, pages_review, pages_watchlist

    for module in (pages_watchlist, pages_review, pages_admin, evidence):
        router.include_router(module.router)


_include_pages()


def mount(app: FastAPI) -> None:
    """Add the console (pages and its static files) to a gateway app."""
    app.include_router(router)
    app.mount(PREFIX + "/static", StaticFiles(directory=STATIC_DIR), name="console-static")
