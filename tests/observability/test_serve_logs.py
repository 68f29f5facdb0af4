"""`fieldcheck serve` as a real process with the bundled central stub: JSON log lines, one access
line per request with its id, the link waited for, and uvicorn's shutdown lines kept."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx

from tests.upstream.procs import ADMIN, Proc, free_port, wait_http


def test_serve_logs_every_request_and_its_shutdown(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    env = {"FIELDCHECK_DATA_DIR": str(tmp_path / "data"), "FIELDCHECK_ADMIN_TOKEN": ADMIN,
           "FIELDCHECK_LOG_FORMAT": "json", "FIELDCHECK_UPSTREAM_STUB_SUBJECTS": "30",
           "FIELDCHECK_UPSTREAM_FEED_INTERVAL_S": "1"}
    proc = Proc(["fieldcheck", "serve", "--port", str(port)], env, log)
    try:
        wait_http(url + "/readyz", proc=proc.proc, timeout_s=300)
        headers = {"Authorization": f"Bearer {ADMIN}"}
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            status = httpx.get(url + "/v1/upstream/status", headers=headers, timeout=10).json()
            if status["link"] == "up":
                break
            assert status["link"] in ("starting", "unknown", "up"), status  # never "down"
            time.sleep(0.3)
        assert status["link"] == "up", status
        for i in range(60):
            assert httpx.get(url + "/healthz", headers={"X-Request-ID": f"probe-{i}"},
                             timeout=10).status_code == 200
    finally:
        proc.stop()
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    access = {x["request_id"] for x in lines if x["logger"] == "fieldcheck.access"}
    assert {f"probe-{i}" for i in range(60)} <= access  # every request, none lost to the stub
    messages = [x["message"] for x in lines]
    assert any("Shutting down" in m for m in messages)  # uvicorn's own lines survive too
    assert not [m for m in messages if "unreachable" in m or "unavailable" in m]
    running = [m for m in messages if "Uvicorn running on" in m]
    assert running and all(f":{port}" in m for m in running)  # the stub's is not the gateway's
    assert any("bundled central stub ready" in m for m in messages)
