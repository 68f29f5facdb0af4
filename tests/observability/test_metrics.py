"""GET /metrics: Prometheus text with HELP/TYPE, check latency and decisions, behind a token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import LiveGateway

METRICS_TOKEN = "metrics-scraper-secret-0123456789abcdef"


def _jpeg(size: int = 200) -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((size, size, 3), 128, np.uint8))
    return buf.tobytes()


def _families(text: str) -> dict:  # type: ignore[type-arg]
    return {f.name: f for f in text_string_to_metric_families(text)}


def _value(families: dict, family: str, sample: str, **labels: str) -> float:  # type: ignore[type-arg]
    for s in families[family].samples:
        if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {sample}{labels} in {family}")


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with LiveGateway(tmp_path_factory.mktemp("metrics"), metrics_token=METRICS_TOKEN) as g:
        yield g


def test_metrics_need_a_token(gw: LiveGateway) -> None:
    with gw.client(token=None) as c:
        r = c.get("/metrics")
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert "FIELDCHECK_METRICS_TOKEN" in r.json()["fix"]
    assert "fieldcheck_watchlist" not in r.text
    with gw.client(token="not-a-token") as c:
        assert c.get("/metrics").status_code == 401


def test_device_and_analyst_tokens_may_not_read_metrics(gw: LiveGateway) -> None:
    for role in ("device", "ncb_analyst"):
        with gw.client(gw.token(role)) as c:
            r = c.get("/metrics")
        assert r.status_code == 403, role
        assert "fieldcheck_" not in r.text


def test_scraper_token_admin_and_auditor_may_read_metrics(gw: LiveGateway) -> None:
    for token in (METRICS_TOKEN, gw.token("auditor"), None):
        with (gw.client(token) if token else gw.client()) as c:  # None: the admin token
            r = c.get("/metrics")
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("text/plain")
        assert "fieldcheck_ready 1.0" in r.text


def test_metrics_open_only_when_a_setting_says_so(tmp_path: Path) -> None:
    with LiveGateway(tmp_path, metrics_public=True) as g, g.client(token=None) as c:
        r = c.get("/metrics")
    assert r.status_code == 200
    assert "fieldcheck_ready" in r.text


def test_every_family_has_help_and_type(gw: LiveGateway) -> None:
    with gw.client() as c:
        text = c.get("/metrics").text
    helps = {line.split()[2] for line in text.splitlines() if line.startswith("# HELP")}
    types = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}
    assert helps == types and len(types) >= 10
    names = {line.split("{")[0].split()[0] for line in text.splitlines()
             if line and not line.startswith("#")}
    # every sample belongs to a described family (counters and histograms add suffixes)
    for name in names:
        assert any(name == t or name.startswith(t + "_") for t in types), name
    families = _families(text)
    for family in ("fieldcheck_check_duration_seconds", "fieldcheck_check_decisions",
                   "fieldcheck_extraction_duration_seconds", "fieldcheck_watchlist_cache_entries",
                   "fieldcheck_checks_today", "fieldcheck_build_info", "fieldcheck_ready",
                   "fieldcheck_http_requests"):
        assert family in families, family
    assert families["fieldcheck_check_duration_seconds"].type == "histogram"
    assert families["fieldcheck_check_decisions"].type == "counter"
    build = families["fieldcheck_build_info"].samples[0]
    assert build.labels["version"] and build.labels["python"]


def test_a_check_is_counted_by_modality_decision_and_extraction(gw: LiveGateway) -> None:
    with gw.client() as c:
        before = _families(c.get("/metrics").text)
    with gw.client(gw.token("device")) as c:
        r = c.post("/v1/checks", files={"face": ("f.jpg", _jpeg(), "image/jpeg")},
                   data={"purpose": "port entry"})
    assert r.status_code == 200, r.text
    decision = r.json()["decision"]  # a grey square has no face: recapture
    with gw.client() as c:
        after = _families(c.get("/metrics").text)

    def delta(family: str, sample: str, **labels: str) -> float:
        try:
            old = _value(before, family, sample, **labels)
        except AssertionError:
            old = 0.0
        return _value(after, family, sample, **labels) - old

    assert delta("fieldcheck_check_duration_seconds", "fieldcheck_check_duration_seconds_count",
                 modality="face") == 1
    assert delta("fieldcheck_check_duration_seconds", "fieldcheck_check_duration_seconds_sum",
                 modality="face") > 0
    assert delta("fieldcheck_check_decisions", "fieldcheck_check_decisions_total",
                 decision=decision) == 1
    assert delta("fieldcheck_extraction_duration_seconds",
                 "fieldcheck_extraction_duration_seconds_count", modality="face") == 1
    assert delta("fieldcheck_checks_today", "fieldcheck_checks_today", decision=decision) == 1
    assert delta("fieldcheck_http_requests", "fieldcheck_http_requests_total",
                 method="POST", route="/v1/checks", status="200") == 1


def test_cache_size_follows_the_watchlist(gw: LiveGateway) -> None:
    with gw.client() as c:
        before = _value(_families(c.get("/metrics").text), "fieldcheck_watchlist_cache_entries",
                        "fieldcheck_watchlist_cache_entries", kind="subjects")
        assert c.post("/v1/subjects", json={"name": "Metrics Person", "category": "blue"}
                      ).status_code == 201
        after = _value(_families(c.get("/metrics").text), "fieldcheck_watchlist_cache_entries",
                       "fieldcheck_watchlist_cache_entries", kind="subjects")
    assert after == before + 1


def test_two_apps_in_one_process_keep_their_own_counts(tmp_path: Path) -> None:
    from gateway.app import create_app
    from gateway.settings import Settings

    a = create_app(Settings(data_dir=tmp_path / "a"), start_upstream=False)
    b = create_app(Settings(data_dir=tmp_path / "b"), start_upstream=False)
    a.state.metrics.observe_check("face", "hit", 0.2)
    fa, fb = _families(a.state.metrics.render().decode()), _families(
        b.state.metrics.render().decode())
    assert _value(fa, "fieldcheck_check_decisions", "fieldcheck_check_decisions_total",
                  decision="hit") == 1
    assert _value(fb, "fieldcheck_check_decisions", "fieldcheck_check_decisions_total",
                  decision="hit") == 0
