"""Real processes on loopback for the central-link tests: the stub and the gateway, each a
``uv run fieldcheck ...`` subprocess (so kill -9 really kills)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from device_adapters.mrz import check_digit

ROOT = Path(__file__).resolve().parents[2]
ADMIN = "fc_upstream_test_admin_Hk3Lm9Qz0Rt5Vw8Xy2"

# Test-speed link settings: short backoffs, quick breaker trials, 1 s central timeout.
FAST_LINK = {
    "FIELDCHECK_UPSTREAM_BACKOFF_BASE_S": "0.2",
    "FIELDCHECK_UPSTREAM_BACKOFF_MAX_S": "1",
    "FIELDCHECK_UPSTREAM_BREAKER_FAILURES": "3",
    "FIELDCHECK_UPSTREAM_BREAKER_RESET_S": "1",
    "FIELDCHECK_UPSTREAM_READ_TIMEOUT_S": "1",
    "FIELDCHECK_UPSTREAM_CONNECT_TIMEOUT_S": "1",
    "FIELDCHECK_UPSTREAM_CLIENT_RETRIES": "0",
    "FIELDCHECK_UPSTREAM_FEED_INTERVAL_S": "1",
    "FIELDCHECK_UPSTREAM_IDLE_POLL_S": "0.2",
    "FIELDCHECK_UPSTREAM_LEASE_S": "5",
    "FIELDCHECK_UPSTREAM_DRAIN_PER_S": "200",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, *, timeout_s: float = 90.0, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s} s")


class Proc:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            ["uv", "run", *args], cwd=ROOT, env={**os.environ, **env}, stdout=self._out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def kill9(self) -> None:
        # The whole process group: `uv run` and the Python it started.
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()
        self._out.close()


class Stub(Proc):
    def __init__(self, folder: Path, *, subjects: int = 300, documents: int = 500) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(
            ["fieldcheck", "central-stub", "--port", str(self.port), "--data-dir", str(folder),
             "--subjects", str(subjects), "--documents", str(documents)],
            {}, folder.parent / f"stub-{self.port}.log",
        )
        wait_http(self.url + "/healthz", proc=self.proc)

    def faults(self, **faults: Any) -> dict[str, Any]:
        return httpx.post(self.url + "/admin/faults", json=faults, timeout=10).json()

    def deliveries(self) -> dict[str, int]:
        return httpx.get(self.url + "/admin/deliveries", timeout=10).json()


class Gateway(Proc):
    def __init__(self, data_dir: Path, upstream_url: str, *, port: int | None = None,
                 **settings: str) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {"FIELDCHECK_DATA_DIR": str(data_dir), "FIELDCHECK_ADMIN_TOKEN": ADMIN,
               "FIELDCHECK_UPSTREAM_URL": upstream_url, **FAST_LINK, **settings}
        super().__init__(["fieldcheck", "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                         env, data_dir / f"gateway-{self.port}.log")
        wait_http(self.url + "/readyz", proc=self.proc)
        self.admin = httpx.Client(base_url=self.url, timeout=60,
                                  headers={"Authorization": f"Bearer {ADMIN}"})

    def device(self) -> httpx.Client:
        r = self.admin.post("/v1/tokens", json={"role": "device",
                                                "name": "dev-" + uuid.uuid4().hex[:6]})
        r.raise_for_status()
        return httpx.Client(base_url=self.url, timeout=60,
                            headers={"Authorization": f"Bearer {r.json()['token']}"})

    def status(self) -> dict[str, Any]:
        return self.admin.get("/v1/upstream/status").json()

    def wait_drained(self, *, timeout_s: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            status = self.status()
            if status["queue_depth"] == 0:
                return status
            time.sleep(0.3)
        raise AssertionError(f"queue not drained: {self.status()}")

    def stop(self) -> None:
        self.admin.close()
        super().stop()


def finger_check(device: httpx.Client, image: Path, **fields: str) -> dict[str, Any]:
    with image.open("rb") as fh:
        r = device.post("/v1/checks", files={"finger_2": (image.name, fh, "image/tiff")},
                        data={"purpose": "port entry", **fields})
    assert r.status_code == 200, r.text
    return r.json()


def td3_mrz(*, number: str, state: str, surname: str = "DOE", given: str = "JANE",
            birth: str = "900101", expiry: str = "300101", sex: str = "F") -> str:
    """A valid ICAO 9303 TD3 MRZ (two lines of 44) with correct check digits."""
    line1 = f"P<{state}{surname}<<{given}".ljust(44, "<")[:44]
    num = number.ljust(9, "<")[:9]
    optional = "<" * 14
    body = (num + check_digit(num) + state + birth + check_digit(birth) + sex + expiry
            + check_digit(expiry) + optional + check_digit(optional))
    composite = body[0:10] + body[13:20] + body[21:43]
    return line1 + "\n" + body + check_digit(composite)


def stub_running(folder: Path, **options: Any) -> Iterator[Stub]:
    """A central stub process in ``folder`` for a fixture to ``yield from``; stopped after."""
    stub = Stub(folder / "data", **options)
    try:
        yield stub
    finally:
        stub.stop()


def gateway_running(folder: Path, stub: Stub) -> Iterator[Gateway]:
    """A ``fieldcheck serve`` process on ``folder`` linked to ``stub``; stopped after."""
    gateway = Gateway(folder, stub.url)
    try:
        yield gateway
    finally:
        gateway.stop()
