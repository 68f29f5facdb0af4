"""Checks on every request before any route sees it: the text policy, JSON nesting, form parts.

``InputGuard`` is an ASGI middleware placed inside ``app.BodyLimit`` (so bodies are already
bounded in size). It refuses with 422 problem+json naming the field:

- a path or query parameter breaking the text policy (``device_adapters.textpolicy``);
- a JSON body (``application/json`` or ``+json``) nested deeper than ``MAX_JSON_DEPTH``, or with
  a string (or key) breaking the text policy. Python's JSON parser recurses, so 100,000 nested
  brackets would otherwise end in RecursionError (a 500) deep inside FastAPI;
- a ``multipart/form-data`` body with more than ``MAX_FORM_PARTS`` parts (413). The standard
  MIME parser's cost grows with the number of parts (20,000 empty parts took 28 s), while a
  check needs at most a face, 11 fingers and a few text fields.

What it refuses never reaches a route, so no route needs its own copy of these rules.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import AfterValidator, AwareDatetime
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device_adapters.textpolicy import FIX, first_unsafe, json_depth, unsafe_char
from gateway.errors import problem

# Largest integer a query or path parameter may hold: the databases' 64-bit INTEGER. A larger one
# (10**20) made SQLite raise OverflowError inside the query, a 500.
DB_INT_MAX = 2**63 - 1
MAX_JSON_DEPTH = 32  # the deepest real body (a batch subject's fingerprint spec) is 4
MAX_FORM_PARTS = 40  # face + finger_0..finger_10 + the text fields, with room to spare
_BOUNDARY = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


# Latest instant a stored date may denote: converting a later one to UTC (or adding a day to it)
# overflows Python's datetime, which turned "9999-12-31T23:59:59-12:00" into a 500.
LATEST = datetime(9999, 12, 30, tzinfo=UTC)


def utc_in_range(value: datetime) -> datetime:
    """``value`` in UTC (a naive value is taken as UTC), refusing dates that cannot be stored."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date is out of range: use a year from 1 to 9999") from None
    if utc >= LATEST:
        raise ValueError("the date is out of range: use a date before 9999-12-30")
    return utc


# An instant with an explicit time zone, stored as UTC ("2030-01-01T00:00:00Z").
UtcDatetime = Annotated[AwareDatetime, AfterValidator(utc_in_range)]


# A query filter instant: naive means UTC (documented on the audit filters).
UtcFilter = Annotated[datetime, AfterValidator(utc_in_range)]


def _refusal(scope: Scope, status: int, detail: str, *, field: str, fix: str) -> Any:
    title = "Invalid request" if status == 422 else "Request too large"
    return problem(status, title, detail, slug="invalid" if status == 422 else "too-large",
                   instance=scope.get("path"), field=field, fix=fix)


def check_json_body(body: bytes) -> tuple[str, str, str] | None:
    """``(field, detail, fix)`` when a JSON body must be refused; None to let the route parse it
    (malformed JSON is left to the route's own error)."""
    try:
        doc = json.loads(body)
    except RecursionError:
        return ("body", f"the JSON is nested too deeply (more than {MAX_JSON_DEPTH} levels)",
                "send the documented structure")
    except ValueError:
        return None
    if json_depth(doc) > MAX_JSON_DEPTH:
        return ("body", f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep",
                "send the documented structure")
    found = first_unsafe(doc)
    if found:
        return found[0], f"{found[0]} contains {found[1]}", FIX
    return None


def count_form_parts(body: bytes, content_type: str) -> int:
    match = _BOUNDARY.search(content_type)
    if not match:
        return 0
    return body.count(b"--" + match.group(1).encode("latin-1", errors="replace"))


class InputGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self._check_url(scope)
        if refusal is not None:
            await refusal(scope, receive, send)
            return
        content_type = ""
        for name, value in scope.get("headers", []):
            if name == b"content-type":
                content_type = value.decode("latin-1").lower()
        media = content_type.split(";")[0].strip()
        is_json = media == "application/json" or media.endswith("+json")
        is_form = media == "multipart/form-data"
        if not (is_json or is_form):
            await self.app(scope, receive, send)
            return
        # Buffer the (size-limited) body, check it, then replay it to the app unchanged.
        messages: list[Message] = []
        chunks: list[bytes] = []
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if is_json and messages[-1]["type"] == "http.request":
            found = check_json_body(body)
            if found:
                field, detail, fix = found
                await _refusal(scope, 422, detail, field=field, fix=fix)(scope, receive, send)
                return
        if is_form:
            parts = count_form_parts(body, content_type) - 1  # the closing delimiter
            if parts > MAX_FORM_PARTS:
                await _refusal(
                    scope, 413, f"the form has {parts} parts; at most {MAX_FORM_PARTS} are "
                    "accepted", field="body",
                    fix="send one part per capture and text field",
                )(scope, receive, send)
                return
        replay = iter(messages)

        async def replayed() -> Message:
            try:
                return next(replay)
            except StopIteration:
                return await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    def _check_url(scope: Scope) -> Any:
        path = scope.get("path", "")
        problem_text = unsafe_char(path)
        if problem_text:
            return _refusal(scope, 422, f"the path contains {problem_text}", field="path", fix=FIX)
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True, errors="replace"):
            for text in (name, value):
                problem_text = unsafe_char(text)
                if problem_text:
                    return _refusal(scope, 422, f"the query parameter {name!r} contains "
                                    f"{problem_text}", field=name or "query", fix=FIX)
        return None


class SafeJSONResponse(JSONResponse):
    """The default answer class: what is stored can always be sent.

    The text policy keeps lone surrogates out, but rows written before it (or by an older
    replica's snapshot) may still hold one; UTF-8 cannot encode it, and the plain JSONResponse
    then fails every listing that includes the row. Such an answer is sent with ASCII escapes
    instead (``"\\udfff"``, which JSON parsers read back as the same string).
    """

    def render(self, content: Any) -> bytes:
        try:
            return super().render(content)
        except UnicodeEncodeError:
            return json.dumps(content, ensure_ascii=True, allow_nan=False, indent=None,
                              separators=(",", ":")).encode("ascii")
