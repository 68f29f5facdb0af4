"""Central-link routes: link status, the dead-letter list, and the device's wait for central."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlmodel import Session

from gateway.auth.models import Role
from gateway.auth.service import Principal
from gateway.boundary import DB_INT_MAX
from gateway.checks.service import get_check
from gateway.deps import STATUS_READER_ROLES, AdminDep, RuntimeDep, require_role
from gateway.errors import NotFound
from gateway.openapi_problems import problem_responses
from gateway.privacy.access import UPSTREAM_EVENT, ReasonDep, audit_upstream_read
from gateway.runtime import Runtime
from gateway.upstream.schemas import (
    EVENT_STREAM,
    CheckUpstream,
    DeadLetter,
    DeadLetterPage,
    LinkStatus,
)

router = APIRouter(tags=["central link"])

# The shared role sets, so the console's central-link page and this API cannot drift apart.
StatusReaderDep = Annotated[Principal, Depends(require_role(*STATUS_READER_ROLES))]
# A check's own device may follow it too.
CheckWatcherDep = Annotated[
    Principal, Depends(require_role(Role.device, *STATUS_READER_ROLES))
]
# Answered 404 when this gateway runs without the central link.
LINK_ABSENT = problem_responses(404)
POLL_S = 0.25  # server-side re-read interval: one primary-key read, cheap


def _service(runtime: Runtime) -> Any:
    if runtime.upstream is None:
        raise NotFound("the central link is not running on this gateway",
                       fix="start the gateway with the central link enabled")
    return runtime.upstream


def _upstream_view(runtime: Runtime, check_id: str, principal: Principal) -> dict[str, Any]:
    with Session(runtime.engine) as session:
        check = get_check(session, check_id=check_id, principal=principal)
        return {
            "check_id": check.id, "decision": check.decision,
            "local_decision": check.local_decision,
            "upstream": {"status": check.upstream_status, "result": check.upstream_result},
            "review": {"status": check.review_status},
            "central": (check.response or {}).get("central"),
        }


@router.get("/v1/upstream/status", summary="Central link: link, circuit, queue, failures",
            response_model=LinkStatus, responses=LINK_ABSENT)
def upstream_status(runtime: RuntimeDep, _principal: StatusReaderDep) -> dict[str, Any]:
    return _service(runtime).status()


@router.get("/v1/upstream/dead-letters", summary="Queries central never took (NCB admin)",
            response_model=DeadLetterPage, responses=LINK_ABSENT)
def dead_letters(
    runtime: RuntimeDep, _principal: AdminDep, limit: int = Query(100, ge=1, le=1000),
    offset: int = Query(0, ge=0, le=DB_INT_MAX),
) -> dict[str, Any]:
    items = _service(runtime).dead_letters(limit=limit, offset=offset)
    return {"items": items, "count": len(items), "limit": limit, "offset": offset}


@router.post("/v1/upstream/dead-letters/{item_id}/requeue",
             summary="Send a dead-lettered query to central again (NCB admin)",
             responses=problem_responses(409), response_model=DeadLetter)
def requeue(
    item_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], runtime: RuntimeDep, principal: AdminDep
) -> dict[str, Any]:
    return _service(runtime).requeue(item_id, actor=principal)


@router.get("/v1/checks/{check_id}/upstream",
            summary="The check's central status; long-polls with ?wait=",
            response_model=CheckUpstream)
async def wait_upstream(
    check_id: str, runtime: RuntimeDep, principal: CheckWatcherDep, reason: ReasonDep,
    wait: float = Query(0, ge=0, le=60, description="seconds to wait for a change (max 60)"),
    since: str | None = Query(None, description="status the device already knows; default: "
                              "the current one"),
) -> dict[str, Any]:
    """Each answer is audited (``check.upstream.read``), not the re-reads while waiting."""
    started = time.monotonic()
    view = await run_in_threadpool(_upstream_view, runtime, check_id, principal)
    known = since if since is not None else view["upstream"]["status"]
    deadline = time.monotonic() + wait
    # A final status never changes again: waiting on it would only hold the device for `wait`.
    while (view["upstream"]["status"] == known and not view["upstream"]["status"].terminal
           and time.monotonic() < deadline):
        await asyncio.sleep(min(POLL_S, max(0.0, deadline - time.monotonic())))
        view = await run_in_threadpool(_upstream_view, runtime, check_id, principal)
    view["changed"] = view["upstream"]["status"] != known
    await run_in_threadpool(audit_upstream_read, runtime.engine, actor=principal, view=view,
                            reason=reason, via="long-poll", changed=view["changed"],
                            waited_s=round(time.monotonic() - started, 2))
    return view


@router.get("/v1/checks/{check_id}/events", summary="Server-sent events of the check's "
            "central status until it is final (or 60 s)", response_class=StreamingResponse,
            responses=EVENT_STREAM)
async def upstream_events(
    check_id: str, runtime: RuntimeDep, principal: CheckWatcherDep, reason: ReasonDep,
    timeout: float = Query(60, ge=1, le=300),
) -> StreamingResponse:
    """Each ``upstream`` event is audited before it is sent (``check.upstream.event``)."""
    first = await run_in_threadpool(_upstream_view, runtime, check_id, principal)

    async def stream() -> AsyncIterator[str]:
        view, last = first, None
        deadline = time.monotonic() + timeout
        beat = time.monotonic()
        while True:
            status = view["upstream"]["status"]
            if status != last:
                await run_in_threadpool(audit_upstream_read, runtime.engine, actor=principal,
                                        view=view, reason=reason, action=UPSTREAM_EVENT,
                                        via="events")
                yield f"event: upstream\ndata: {json.dumps(view)}\n\n"
                last = status
                if status.terminal:
                    return
            if time.monotonic() >= deadline:
                yield "event: timeout\ndata: {}\n\n"
                return
            if time.monotonic() - beat > 15:
                yield ": keep-alive\n\n"  # proxies drop idle streams
                beat = time.monotonic()
            await asyncio.sleep(POLL_S)
            view = await run_in_threadpool(_upstream_view, runtime, check_id, principal)

    return StreamingResponse(stream(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache"})
