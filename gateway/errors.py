"""The gateway's domain exceptions and their one mapping to RFC 9457 problem+json.

    DomainError (4xx, problem+json)
    ├── Invalid            422  a field's value is wrong; names the field and the fix
    ├── NotFound           404
    ├── Conflict           409  e.g. a duplicate external reference
    ├── Unauthenticated    401  missing, unknown or revoked bearer token
    ├── Forbidden          403  the token's role may not do this
    ├── TooLarge           413  request body over FIELDCHECK_MAX_UPLOAD_MB
    └── Unavailable        503  try again later (at capacity); carries Retry-After
        └── DatabaseBusy        no write turn in time (SQLite under load)

Adapter errors (``device_adapters.errors.AdapterError``) and matcher capture errors
(``matchers.errors.UnusableCapture``) are mapped here too, so routes just raise.
"""

from __future__ import annotations

import logging
from enum import Enum
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from device_adapters.errors import AdapterError
from gateway.observability.logs import current_request_id
from matchers.errors import MatcherError, UnusableCapture

log = logging.getLogger(__name__)
E = TypeVar("E", bound=Enum)
PROBLEM = "application/problem+json"


class DomainError(Exception):
    status = 400
    title = "Bad request"
    type_slug = "bad-request"

    def __init__(
        self, detail: str, *, field: str | None = None, fix: str | None = None, **extra: Any
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.field = field
        self.fix = fix
        self.extra = extra


class Invalid(DomainError):
    status, title, type_slug = 422, "Invalid request", "invalid"


class NotFound(DomainError):
    status, title, type_slug = 404, "Not found", "not-found"


class Conflict(DomainError):
    status, title, type_slug = 409, "Conflict", "conflict"


class Unauthenticated(DomainError):
    status, title, type_slug = 401, "Authentication required", "unauthenticated"


class Forbidden(DomainError):
    status, title, type_slug = 403, "Forbidden", "forbidden"


class TooLarge(DomainError):
    status, title, type_slug = 413, "Request too large", "too-large"


class Unavailable(DomainError):
    """503: the request was not run; send it again after ``retry_after_s`` (Retry-After)."""

    status, title, type_slug = 503, "Service unavailable", "unavailable"

    def __init__(self, detail: str, *, retry_after_s: int = 1, **kwargs: Any) -> None:
        super().__init__(detail, retry_after_s=retry_after_s, **kwargs)
        self.retry_after_s = retry_after_s


class DatabaseBusy(Unavailable):
    """A write could not get its turn in time (``gateway.db.WriteLock``, or SQLite's own lock
    held by another process): nothing was written; the same request may simply be sent again."""

    title, type_slug = "Database busy", "database-busy"

    def __init__(self, detail: str, *, retry_after_s: int = 2, **extra: Any) -> None:
        super().__init__(
            detail, fix=f"nothing was saved: send the same request again in {retry_after_s} s",
            retry_after_s=retry_after_s, **extra,
        )


def is_database_locked(exc: BaseException) -> bool:
    """SQLite's "database is locked"/"busy" (another writer kept the lock past the timeout)."""
    message = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in message or "database table is locked" in message or (
        "database is busy" in message)


def parse_choice(choices: type[E], value: str, *, field: str) -> E:
    """``value`` as a member of ``choices``, or Invalid naming the field and the allowed values."""
    try:
        return choices(value)
    except ValueError:
        raise Invalid(
            f"unknown {field} {value!r}", field=field,
            fix="use one of: " + ", ".join(str(c.value) for c in choices),
        ) from None


def problem(
    status: int, title: str, detail: str, *, slug: str, instance: str | None = None,
    field: str | None = None, fix: str | None = None, **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"https://fieldcheck.dev/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if field:
        body["field"] = field
    if fix:
        body["fix"] = fix
    body.update({k: v for k, v in extra.items() if v is not None})
    # The same id as the response's X-Request-ID and the request's log lines: what a support
    # call quotes to find them.
    request_id = current_request_id()
    if request_id:
        body["request_id"] = request_id
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else {}
    if extra.get("retry_after_s") is not None:
        headers["Retry-After"] = str(int(extra["retry_after_s"]))
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def database_failure(request: Request, exc: BaseException) -> JSONResponse | None:
    """503 problem+json for a read-only or failing database (``gateway.dbhealth``), logged at
    most once a minute; None when ``exc`` is no such failure."""
    from gateway import dbhealth

    found = dbhealth.failure_problem(exc)
    if found is None:
        return None
    runtime = getattr(request.app.state, "runtime", None)
    health = getattr(runtime, "db_health", None)
    if health is not None:
        health.record_failure(found["kind"], exc, f"{request.method} {request.url.path}")
    response = problem(
        503, "Database unavailable", found["detail"], slug=f"database/{found['kind']}",
        instance=request.url.path, fix=found["fix"], reason=found["kind"],
    )
    response.headers["Retry-After"] = str(dbhealth.RETRY_AFTER_S)
    return response


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        return problem(
            exc.status, exc.title, exc.detail, slug=exc.type_slug, instance=request.url.path,
            field=exc.field, fix=exc.fix, **exc.extra,
        )

    @app.exception_handler(AdapterError)
    async def _adapter(request: Request, exc: AdapterError) -> JSONResponse:
        return problem(
            exc.status, exc.title, exc.message, slug="device-payload",
            instance=request.url.path, field=exc.field, fix=exc.fix,
        )

    @app.exception_handler(UnusableCapture)
    async def _capture(request: Request, exc: UnusableCapture) -> JSONResponse:
        field = getattr(exc, "field", None)
        status = 413 if exc.reason == "image_too_large" else 422
        return problem(
            status, "Unusable capture" if status == 422 else "Image too large", exc.message,
            slug=f"capture/{exc.reason}",
            instance=request.url.path, field=field, reason=exc.reason, quality=exc.quality,
            fix="capture again: " + exc.message,
        )

    @app.exception_handler(MatcherError)
    async def _matcher(request: Request, exc: MatcherError) -> JSONResponse:
        return problem(
            422, "Invalid template", str(exc), slug="template", instance=request.url.path
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {
                # loc[0] says where (body, query, path, header); the rest names the field
                "field": ".".join(str(p) for p in err.get("loc", ())[1:] or err.get("loc", ())),
                "message": err.get("msg", ""),
            }
            for err in exc.errors()
        ]
        first = errors[0] if errors else {"field": None, "message": "invalid request"}
        detail = "; ".join(f"{e['field'] or 'body'}: {e['message']}" for e in errors)
        return problem(
            422, "Invalid request", detail, slug="invalid", instance=request.url.path,
            field=first["field"] or None, errors=errors,
            fix="correct the listed fields and send again",
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = problem(
            exc.status_code, str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail), slug=f"http-{exc.status_code}", instance=request.url.path,
        )
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value  # e.g. the Allow header RFC 9110 requires on 405
        return response

    @app.exception_handler(OverflowError)
    async def _overflow(request: Request, exc: OverflowError) -> JSONResponse:
        # Safety net behind the routes' own bounds: a number or date too large for the database
        # or for datetime arithmetic is the client's error, not the gateway's.
        log.info("out-of-range value on %s %s: %s", request.method, request.url.path, exc)
        return problem(
            422, "Invalid request", f"a value is out of range: {exc}", slug="invalid",
            instance=request.url.path, fix="send numbers below 2**63 and dates before 9999",
        )

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> JSONResponse:
        return await _unexpected(request, exc)

    @app.exception_handler(OperationalError)
    async def _operational(request: Request, exc: OperationalError) -> JSONResponse:
        if is_database_locked(exc):
            # Another process held SQLite's write lock past the busy timeout: a retry works.
            log.warning("database locked on %s %s: answered 503", request.method,
                        request.url.path)
            busy = DatabaseBusy("the database is busy (locked by another writer)")
            return await _domain(request, busy)
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        failed = database_failure(request, exc)
        if failed is not None:
            return failed
        # Last resort: logged with the stack; the client gets a problem body, not a bare 500.
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            500, "Internal error", "the gateway failed on this request; it has been logged",
            slug="internal", instance=request.url.path,
        )
