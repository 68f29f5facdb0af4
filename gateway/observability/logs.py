"""One logging configuration for the gateway and uvicorn, with a request id on every line.

``configure_logging`` installs a single handler on the root logger (text or JSON lines) and makes
uvicorn's loggers propagate to it, so ``uvicorn.run(..., log_config=None)`` and anything else
that starts a uvicorn server in the process (the bundled central stub) cannot replace it.

``RequestContext`` is the outermost ASGI middleware: it takes the client's ``X-Request-ID`` (or
makes one), keeps it in a context variable for the request's log lines and problem bodies, echoes
it in the response and writes one access line per request on ``fieldcheck.access``.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "fieldcheck_request_id", default=None
)
access_log = logging.getLogger("fieldcheck.access")

# A client's id is kept only if it is short and plain (it lands in logs and headers).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")
_HANDLER_NAME = "fieldcheck"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
# Attributes every LogRecord has; anything else was passed with extra= and goes into JSON.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "request_id"}


def current_request_id() -> str | None:
    return request_id_var.get()


class RequestIdFilter(logging.Filter):
    """Stamps ``record.request_id`` ("-" outside a request) so every format can show it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get() or "-"
        return True


class QuietStubFilter(logging.Filter):
    """Drops the bundled central stub's uvicorn chatter ("Uvicorn running on ...") below
    WARNING: it runs on its own thread in the gateway's process and would read as the
    gateway's own start-up lines."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.name.startswith("uvicorn") and record.threadName == "central-stub"
                    and record.levelno < logging.WARNING)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, request_id, message, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "request_id": getattr(record, "request_id", None) or request_id_var.get(),
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                body[key] = value if isinstance(value, (str, int, float, bool, type(None))) \
                    else str(value)
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, ensure_ascii=False)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of the line, not at configuration (a
    command run under a test runner or a daemon manager may swap and close the stream)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


def make_handler(fmt: str = "text", stream: Any = None) -> logging.Handler:
    handler = logging.StreamHandler(stream) if stream is not None else _StderrHandler()
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RequestIdFilter())
    handler.addFilter(QuietStubFilter())
    return handler


def configure_logging(level: str | int = "INFO", fmt: str = "text", stream: Any = None) -> None:
    """The process's one logging setup; calling it again replaces ours, never adds a second."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be 'text' or 'json', not {fmt!r}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER_NAME]:
        root.removeHandler(old)
    root.addHandler(make_handler(fmt, stream))
    root.setLevel(level if isinstance(level, int) else level.upper())
    for name in UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
    # uvicorn's own access line is replaced by ours (it has no request id, no duration).
    logging.getLogger("uvicorn.access").disabled = True
    # One line per central request would drown the gateway's own log.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate = value.decode("latin-1").strip()
            if _CLIENT_ID.match(candidate):
                return candidate
            break
    return uuid.uuid4().hex


class RequestContext:
    """Request id in, request id out, one access line per request (always on)."""

    def __init__(self, app: ASGIApp, *,
                 on_response: Callable[[Scope, int, float], None] | None = None) -> None:
        self.app = app
        self.on_response = on_response

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _request_id(scope)
        token = request_id_var.set(rid)
        started = time.perf_counter()
        status = 500  # what the client sees if the app dies before answering

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                headers.append((b"x-request-id", rid.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            client = scope.get("client")
            # The path only: query strings carry searched names (personal data) into the log.
            path = scope.get("path", "")
            access_log.info(
                '%s "%s %s" %d %.1f ms', f"{client[0]}:{client[1]}" if client else "-",
                scope.get("method", ""), path, status, elapsed * 1000,
                extra={"method": scope.get("method"), "path": scope.get("path"),
                       "status": status, "duration_ms": round(elapsed * 1000, 1)},
            )
            if self.on_response is not None:
                try:
                    self.on_response(scope, status, elapsed)
                except Exception:  # noqa: BLE001 - metrics must never fail a request
                    logging.getLogger(__name__).exception("request metrics failed")
            request_id_var.reset(token)
