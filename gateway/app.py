"""The FastAPI application: ``create_app(settings)`` builds a gateway.

Start-up (lifespan): database tables, the bootstrap admin token, the watchlist cache loaded into
memory, the central link (``gateway.upstream``) and a background cache sync. Routes live with
their domain (``<domain>/routes.py``); errors map to problem+json in ``gateway.errors``.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import Session
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from device_adapters import wsq_sandbox
from device_adapters.base import default_registry
from gateway import db, dbhealth, openapi_problems
from gateway.apidocs import install_docs
from gateway.audit.routes import router as audit_router
from gateway.auth.routes import router as auth_router
from gateway.auth.service import ensure_admin_token
from gateway.boundary import InputGuard, SafeJSONResponse
from gateway.checks.admission import AdmissionController, default_in_flight
from gateway.checks.review_routes import router as review_router
from gateway.checks.routes import router as checks_router
from gateway.deployment.service import bind_country
from gateway.errors import Forbidden, Unauthenticated, install_handlers, problem
from gateway.extraction import ExtractionPool, default_processes
from gateway.keys import check_secrets
from gateway.observability.logs import RequestContext
from gateway.observability.metrics import CONTENT_TYPE_LATEST, GatewayMetrics
from gateway.openapi_problems import problem_responses
from gateway.privacy.crypto import Keyring
from gateway.privacy.retention import PurgeJob
from gateway.privacy.routes import router as privacy_router
from gateway.runtime import Runtime
from gateway.settings import Settings, get_settings
from gateway.upstream.routes import router as upstream_router
from gateway.upstream.service import UpstreamService
from gateway.watchlist import jobs
from gateway.watchlist.admin_routes import router as watchlist_admin_router
from gateway.watchlist.cache import WatchlistCache, database_key
from gateway.watchlist.routes import router as watchlist_router
from matchers import face as face_matcher

log = logging.getLogger("fieldcheck")


class Liveness(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "not_ready", "starting"]
    database: str | None = Field(None, description="ok, unreachable: ..., failing: ...")
    watchlist: dict[str, Any] | None = Field(
        None, description="loaded, version, subject/template counts, needs_reenrolment")
    country: str | None = None

# Every API router, in the order the OpenAPI document lists them. A plain list: renaming or
# removing a module fails at import, it never silently drops an API.
ROUTERS = [auth_router, watchlist_router, checks_router, watchlist_admin_router, review_router,
           audit_router, upstream_router, privacy_router]
CACHE_SYNC_INTERVAL_S = 3.0
# The saved cache is refreshed after this many changes or this long after the last change.
CACHE_SAVE_EVERY_CHANGES = 5_000
CACHE_SAVE_INTERVAL_S = 600.0


class BodyLimit:
    """Refuse request bodies over the limit with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit_mb = self.max_bytes / 1024 / 1024
        fix = (
            f"send at most {limit_mb:g} MB (FIELDCHECK_MAX_UPLOAD_MB); compress images (JPEG, WSQ)"
        )
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    response = problem(
                        413, "Request too large",
                        f"the request body is {declared} bytes; the limit is {self.max_bytes}",
                        slug="too-large", instance=scope.get("path"), field="body", fix=fix,
                    )
                    await response(scope, receive, send)
                    return
        seen = 0
        too_big = False
        sent_start = False

        async def limited() -> Message:
            nonlocal seen, too_big
            if too_big:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Tell the app the client went away; whatever it answers is replaced below.
                    too_big = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal sent_start
            if too_big:
                return
            if message["type"] == "http.response.start":
                sent_start = True
            await send(message)

        try:
            await self.app(scope, limited, guarded_send)
        except Exception:
            if not too_big:
                raise
        if too_big and not sent_start:
            response = problem(
                413, "Request too large",
                f"the request body exceeds the limit of {self.max_bytes} bytes",
                slug="too-large", instance=scope.get("path"), field="body", fix=fix,
            )
            await response(scope, receive, send)


def _start_upstream(settings: Settings, engine: Engine) -> UpstreamService:
    service = UpstreamService.from_settings(settings, engine)
    service.start()
    return service


def create_app(settings: Settings | None = None, *, start_upstream: bool = True) -> FastAPI:
    settings = settings or get_settings()
    # Refuse weak or legacy secrets before anything starts (WeakSecret names the setting).
    snapshot_keys = check_secrets(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        engine = db.make_engine(
            settings.effective_database_url, busy_timeout_s=settings.sqlite_busy_timeout_s,
            write_wait_s=settings.database_write_wait_s,
        )
        db.create_all(engine)
        with Session(engine) as session:
            bind_country(session, settings.country)
            jobs.mark_interrupted(session)  # import jobs of a previous process are not running
            generated = ensure_admin_token(session, settings.admin_token)
            session.commit()
        if generated:
            log.warning(
                "\n\n  No FIELDCHECK_ADMIN_TOKEN was set: generated the bootstrap NCB admin token"
                "\n  (shown only this once, store it now):\n\n    %s\n", generated,
            )
        cache = WatchlistCache(settings.country)
        cache_dir = settings.data_dir / "index"
        db_key = database_key(settings.effective_database_url)
        with Session(engine) as session:
            if not cache.load_saved(session, cache_dir, database_key=db_key):
                cache.load(session)
        certs = (
            [settings.mosip_trusted_certs.read_text()] if settings.mosip_trusted_certs else None
        )
        adapters = default_registry(mosip_trusted_certificates=certs)
        processes = settings.extract_processes
        extraction = ExtractionPool(
            default_processes() if processes is None else processes,
            histogram=metrics.extraction_seconds,
        )
        try:
            # workers spawned and their models loaded before "ready"; extracting here instead,
            # the gateway loads the face models itself now rather than on the first request
            if extraction.uses_processes:
                extraction.start()
            else:
                face_matcher.warm_up()
            keyring = Keyring.from_settings(settings)
        except BaseException:
            extraction.shutdown()
            raise
        log.info("extraction on %s", f"{extraction.processes} worker processes"
                 if extraction.uses_processes else "threads of the gateway process")
        runtime = Runtime(
            settings=settings, engine=engine, cache=cache, adapters=adapters,
            admission=AdmissionController(
                in_flight=(default_in_flight(extraction.slots) if settings.checks_in_flight is None
                           else settings.checks_in_flight),
                waiting=settings.checks_waiting,
                max_wait_s=settings.checks_max_wait_s, target_s=settings.checks_answer_target_s,
            ),
            keyring=keyring,
            metrics=metrics,
            extraction=extraction,
            snapshot_keys=snapshot_keys,
        )
        app.state.runtime = runtime
        if start_upstream:
            try:
                runtime.upstream = _start_upstream(settings, engine)
            except BaseException:
                extraction.shutdown()
                raise
        stop = threading.Event()
        syncer = threading.Thread(
            target=_sync_loop, args=(runtime, stop, cache_dir, db_key), name="cache-sync",
            daemon=True,
        )
        syncer.start()
        purger = PurgeJob(engine, settings)
        purger.start()
        log.info("FieldCheck gateway ready (country %s, database %s)", settings.country,
                 engine.url.render_as_string(hide_password=True))
        try:
            yield
        finally:
            stop.set()
            jobs.stop_running(runtime)  # import jobs end "interrupted" (resumable), not "failed"
            purger.stop()
            if runtime.upstream is not None:
                runtime.upstream.stop()
            runtime.extraction.shutdown()
            runtime.search_pool.shutdown(wait=False, cancel_futures=True)
            wsq_sandbox.shutdown()
            syncer.join(timeout=5)
            _save_cache(runtime, cache_dir, db_key)
            engine.dispose()

    app = FastAPI(
        title="FieldCheck gateway",
        version="0.1.0",
        description="Mobile biometric field checks against a cached watchlist, with a durable "
        "link to the central databases. Errors are RFC 9457 problem+json.",
        lifespan=lifespan,
        docs_url=None,  # served from shipped files by install_docs: no CDN at a port
        redoc_url=None,
        default_response_class=SafeJSONResponse,
    )
    install_docs(app)
    openapi_problems.install(app)  # problem+json per operation, tags, examples
    metrics = GatewayMetrics(lambda: getattr(app.state, "runtime", None))
    app.state.metrics = metrics
    # Added first, so it runs inside BodyLimit: the bodies it buffers are already bounded.
    app.add_middleware(InputGuard)
    app.add_middleware(BodyLimit, max_bytes=settings.max_upload_bytes)
    # Outermost: the request id exists before anything (even a 413) can answer or log.
    app.add_middleware(RequestContext, on_response=metrics.observe_request)
    install_handlers(app)
    for router in ROUTERS:
        app.include_router(router)
    from gateway.console.routes import mount as mount_console

    mount_console(app)  # the NCB console at /console (HTML pages and their static files)

    # Async on purpose: liveness is answered by the event loop itself, without waiting for a
    # worker thread, so it stays instant however busy the thread pool is.
    @app.get("/healthz", tags=["health"], summary="Liveness", response_model=Liveness)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Database reachable and watchlist cache loaded",
             responses={200: {"model": Readiness},
                        503: {"model": Readiness, "description": "Not ready (or starting)"}})
    def readyz() -> JSONResponse:
        runtime: Runtime | None = getattr(app.state, "runtime", None)
        if runtime is None:
            return JSONResponse({"status": "starting"}, status_code=503)
        try:
            with Session(runtime.engine) as session:
                session.exec(text("SELECT 1"))  # type: ignore[call-overload]
            database = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports, never raises
            database = f"unreachable: {exc.__class__.__name__}"
        if database == "ok":
            # Reads working says little: a read-only or full database fails every write.
            failing = dbhealth.probe(runtime.engine) or runtime.db_health.recent_failure()
            if failing:
                database = f"failing: {failing}"
        ready = database == "ok" and runtime.cache.loaded
        body = {
            "status": "ready" if ready else "not_ready",
            "database": database,
            "watchlist": {"loaded": runtime.cache.loaded, "version": runtime.cache.version,
                          **runtime.cache.counts(),
                          # Templates of another model, not searched until re-enrolled.
                          "needs_reenrolment": runtime.cache.needs_reenrolment()},
            "country": runtime.settings.country,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["health"], response_class=Response,
             responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}},
                              "description": "Prometheus text exposition"},
                        **problem_responses(401, 403)},
             summary="Prometheus metrics (FIELDCHECK_METRICS_TOKEN, an NCB admin or auditor "
             "token; open only with FIELDCHECK_METRICS_PUBLIC)")
    def metrics_endpoint(request: Request) -> Response:
        _metrics_allowed(request, settings)
        return Response(metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return app


def _metrics_allowed(request: Request, settings: Settings) -> None:
    """Metrics tell the watchlist size and the queue state: not for anyone on the network."""
    if settings.metrics_public:
        return
    scheme, _, secret = request.headers.get("authorization", "").partition(" ")
    secret = secret.strip()
    if scheme.lower() != "bearer" or not secret:
        raise Unauthenticated(
            "GET /metrics needs a bearer token", field="Authorization",
            fix="configure the scraper with FIELDCHECK_METRICS_TOKEN (or an NCB admin or auditor "
            "token); FIELDCHECK_METRICS_PUBLIC=true opens it on a trusted network",
        )
    if settings.metrics_token and hmac.compare_digest(
        secret.encode(), settings.metrics_token.encode()
    ):
        return
    from gateway.auth.models import Role
    from gateway.auth.service import authenticate

    runtime: Runtime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        raise Unauthenticated("the gateway is starting", field="Authorization")
    with Session(runtime.engine) as session:
        principal = authenticate(session, secret)
    if principal is None:
        raise Unauthenticated("the bearer token is unknown or revoked", field="Authorization",
                              fix="send FIELDCHECK_METRICS_TOKEN or a valid token")
    if principal.role not in (Role.ncb_admin, Role.auditor):
        raise Forbidden(f"role '{principal.role.value}' may not read metrics; needs ncb_admin "
                        "or auditor (or FIELDCHECK_METRICS_TOKEN)", field="Authorization")


def _save_cache(runtime: Runtime, cache_dir: Path, db_key: str) -> None:
    cache = runtime.cache
    if cache.loaded and cache.version != cache.saved_version:
        try:
            started = time.perf_counter()
            cache.save(cache_dir, database_key=db_key)
            log.info("watchlist cache saved at version %s in %.1f s", cache.version,
                     time.perf_counter() - started)
        except Exception:  # a failed save only costs the next start's time
            log.exception("could not save the watchlist cache to %s", cache_dir)


def _sync_loop(runtime: Runtime, stop: threading.Event, cache_dir: Path, db_key: str) -> None:
    """Keep the cache current with changes made by other processes sharing the database, and
    save it now and then so the next start is fast."""
    last_save = time.monotonic()
    while not stop.wait(CACHE_SYNC_INTERVAL_S):
        try:
            with Session(runtime.engine) as session:
                runtime.cache.sync(session)
        except Exception:  # keep syncing; the next round retries
            log.exception("watchlist cache sync failed")
        behind = runtime.cache.version - max(runtime.cache.saved_version, 0)
        if behind >= CACHE_SAVE_EVERY_CHANGES or (
            behind and time.monotonic() - last_save > CACHE_SAVE_INTERVAL_S
        ):
            _save_cache(runtime, cache_dir, db_key)
            last_save = time.monotonic()
