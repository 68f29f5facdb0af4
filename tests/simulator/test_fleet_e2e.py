"""A short scenario against a real gateway and the central stub on loopback (subprocesses).

The report must match the ground truth for clean captures: every check acknowledged, every
enrolled person found, no stranger answered "hit". A short central outage in the middle must
not lose anything locally. Marked slow: the gateway's start-up and the finger masters take ~40 s.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simulator.fleet import Fleet
from simulator.report import write_report
from simulator.scenario import parse_scenario

pytestmark = pytest.mark.slow
ADMIN = "fc_sim_test_admin_token_0123456789"
ROOT = Path(__file__).resolve().parents[2]
# The interpreter of this test run (``uv run pytest``): the same environment as ``uv run
# fieldcheck``, without uv resolving the project again in each subprocess.
FIELDCHECK = [sys.executable, "-c", "from gateway.cli import app; app()"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"{url} exited at start-up:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    pytest.fail(f"{url} did not answer in {timeout} s:\n{log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    tmp = tmp_path_factory.mktemp("fleet")
    stub_port, gw_port = _port(), _port()
    env = {**os.environ, "FIELDCHECK_ADMIN_TOKEN": ADMIN, "FIELDCHECK_DATA_DIR": str(tmp / "gw"),
           "FIELDCHECK_STUB_DATA_DIR": str(tmp / "stub"),
           "FIELDCHECK_UPSTREAM_URL": f"http://127.0.0.1:{stub_port}"}
    procs = []
    try:
        stub_log = tmp / "stub.log"
        procs.append(subprocess.Popen(
            [*FIELDCHECK, "central-stub", "--port", str(stub_port),
             "--subjects", "20", "--documents", "20"],
            cwd=ROOT, env=env, stdout=stub_log.open("w"), stderr=subprocess.STDOUT))
        gw_log = tmp / "gw.log"
        procs.append(subprocess.Popen(
            [*FIELDCHECK, "serve", "--host", "127.0.0.1", "--port", str(gw_port)],
            cwd=ROOT, env=env, stdout=gw_log.open("w"), stderr=subprocess.STDOUT))
        _wait(f"http://127.0.0.1:{stub_port}/admin/faults", procs[0], stub_log)
        _wait(f"http://127.0.0.1:{gw_port}/readyz", procs[1], gw_log)
        yield f"http://127.0.0.1:{gw_port}", f"http://127.0.0.1:{stub_port}"
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_short_scenario_matches_ground_truth(services: tuple[str, str], tmp_path: Path) -> None:
    gateway, stub = services
    scenario = parse_scenario({
        "name": "e2e", "duration_s": 20, "seed": 3,
        "gateway": {"url": gateway, "admin_token": ADMIN},
        "central": {"admin_url": stub},
        "fleet": {"devices": {"multipart": 1, "ansi-nist": 1, "mosip-sbi": 1, "seek-avenger": 1},
                  "checks_per_device_per_min": 30, "max_checks": 24},
        "population": {"identities": 6, "enrolled_share": 0.5, "fingers_per_subject": 2},
        "captures": {"modalities": {"finger": 1.0}, "quality": {"good": 1.0},
                     "document_share": 0.25},
        "device": {"grace_s": 60, "timeout_s": 60},
        "report": {"upstream_drain_s": 30},
        "faults": [{"kind": "central_outage", "start_s": 5, "end_s": 9}],
    })
    result = Fleet(scenario, workers=2).run()
    report = write_report(result, tmp_path)
    wrong = [c for c in report["checks"] if c["outcome"] not in ("true_hit", "true_negative")]
    on_disk = json.loads((tmp_path / "report.json").read_text())
    assert on_disk["sent"] == report["sent"] > 0
    assert report["acknowledged"] == report["sent"], report["error_samples"]
    assert report["errors"] == report["lost"] == 0
    enrolled = [c for c in report["checks"] if c["expected"] is not None]
    strangers = [c for c in report["checks"] if c["expected"] is None]
    assert report["true_hits"] == len(enrolled), wrong
    # The gateway may show a stranger as a "possible" candidate for review (its policy); it must
    # never answer "hit" for one.
    assert report["true_negatives"] + report["false_possibles"] == len(strangers), wrong
    assert report["false_hits"] == report["misses"] == report["recaptures"] == 0, wrong
    assert report["latency_ms"]["p50"] is not None
    assert set(report["by_adapter"]) == {"multipart", "ansi-nist", "mosip-sbi", "seek-avenger"}
    assert [f["note"] for f in report["faults"]][:2] == ["central_outage start",
                                                         "central_outage end"]
    assert all(f["ok"] for f in report["faults"])
    assert (tmp_path / "latency_histogram.png").stat().st_size > 0
    assert (tmp_path / "queue_and_decisions.png").stat().st_size > 0

