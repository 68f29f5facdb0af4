"""Logging: one configuration, JSON lines, a request id on every line and in problem bodies,
an access line per request, and the bundled central stub leaves the gateway's loggers alone."""

from __future__ import annotations

import io
import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlmodel import Session

from gateway.observability.logs import UVICORN_LOGGERS, configure_logging
from tests.conftest import LiveGateway


@pytest.fixture()
def log_stream() -> Iterator[io.StringIO]:
    """The process's logging configured as ``serve`` does (JSON), restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {
        name: (logging.getLogger(name).level, list(logging.getLogger(name).handlers),
               logging.getLogger(name).propagate, logging.getLogger(name).disabled)
        for name in UVICORN_LOGGERS
    })
    stream = io.StringIO()
    configure_logging("INFO", "json", stream=stream)
    try:
        yield stream
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
        for name, (level, handlers, propagate, disabled) in saved[2].items():
            logger = logging.getLogger(name)
            logger.setLevel(level)
            logger.handlers[:] = handlers
            logger.propagate, logger.disabled = propagate, disabled


def _lines(stream: io.StringIO) -> list[dict]:  # type: ignore[type-arg]
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def _snapshot() -> dict[str, tuple]:  # type: ignore[type-arg]
    return {name: (logging.getLogger(name).level, tuple(logging.getLogger(name).handlers),
                   logging.getLogger(name).propagate, logging.getLogger(name).disabled)
            for name in ("", *UVICORN_LOGGERS, "fieldcheck", "fieldcheck.access")}


def test_request_id_is_echoed_logged_and_in_problem_bodies(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    with LiveGateway(tmp_path) as gw, gw.client(token=None) as c:
        r = c.get("/v1/subjects", headers={"X-Request-ID": "support-call-42"})
        assert r.status_code == 401
        assert r.headers["x-request-id"] == "support-call-42"
        assert r.json()["request_id"] == "support-call-42"
        # no id sent: one is made, and it is the same in header and body
        r = c.get("/v1/checks/chk_missing", headers={"Authorization": "Bearer nope"})
        made = r.headers["x-request-id"]
        assert len(made) >= 16 and r.json()["request_id"] == made
        # an id that could forge log lines is replaced, not echoed
        r = c.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
        assert r.headers["x-request-id"] != "bad id\twith spaces"
        for _ in range(20):
            assert c.get("/healthz").status_code == 200
        time.sleep(0.2)
    lines = _lines(log_stream)
    access = [line for line in lines if line["logger"] == "fieldcheck.access"]
    # every request has its access line: 3 above + 20 health probes (+ the fixture's readiness)
    assert len([a for a in access if a["path"] == "/healthz"]) >= 21
    mine = [a for a in access if a["request_id"] == "support-call-42"]
    assert len(mine) == 1 and mine[0]["status"] == 401 and mine[0]["duration_ms"] >= 0
    assert all(line["request_id"] for line in lines)  # "-" outside a request, never missing


def test_text_format_shows_the_request_id(tmp_path: Path) -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (root.level, list(root.handlers))
    configure_logging("INFO", "text", stream=stream)
    try:
        with LiveGateway(tmp_path) as gw, gw.client(token=None) as c:
            c.get("/healthz", headers={"X-Request-ID": "text-rid-7"})
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]
    line = next(x for x in stream.getvalue().splitlines() if "text-rid-7" in x)
    assert "fieldcheck.access [text-rid-7]" in line and '"GET /healthz" 200' in line


def test_configure_twice_keeps_one_handler(log_stream: io.StringIO) -> None:
    configure_logging("INFO", "json", stream=log_stream)
    ours = [h for h in logging.getLogger().handlers if h.get_name() == "fieldcheck"]
    assert len(ours) == 1
    with pytest.raises(ValueError):
        configure_logging("INFO", "xml")


def test_bundled_stub_never_touches_the_gateways_loggers(
    tmp_path: Path, log_stream: io.StringIO
) -> None:
    from gateway.upstream.stub import StubServer

    before = _snapshot()
    stub = StubServer(tmp_path / "stub", subjects=5)
    stub.start()
    try:
        assert stub.wait_ready(timeout_s=120)
        after = _snapshot()
    finally:
        stub.stop()
    assert after == before
    # its "Uvicorn running on ..." chatter does not read as the gateway's start-up
    assert not [line for line in _lines(log_stream)
                if line["logger"].startswith("uvicorn") and line["level"] == "INFO"]


def test_serve_waits_for_its_stub_before_reporting_the_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from gateway import db
    from gateway.settings import Settings
    from gateway.upstream.service import UpstreamService
    from gateway.upstream.settings import UpstreamSettings

    settings = Settings(data_dir=tmp_path)
    engine = db.make_engine(settings.effective_database_url)
    db.create_all(engine)
    with Session(engine):
        pass
    service = UpstreamService(settings=settings, engine=engine,
                              upstream=UpstreamSettings(stub_subjects=300, feed_interval_s=0.2))
    caplog.set_level(logging.INFO)
    service.start()
    try:
        states = {service.link_state()}
        deadline = time.monotonic() + 120
        while service.feed_synced_at is None and time.monotonic() < deadline:
            states.add(service.link_state())
            time.sleep(0.05)
        assert service.feed_synced_at is not None
        assert service.link_state() == "up"
    finally:
        service.stop()
        engine.dispose()
    assert "starting" in states and "down" not in states
    messages = [r.getMessage() for r in caplog.records]
    assert not [m for m in messages if "unreachable" in m or "unavailable" in m], messages
    assert any("bundled central stub ready" in m for m in messages)
