"""Shared fixtures: real data location, a real gateway on loopback, PostgreSQL access."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.settings import Settings

# Most tests start many short-lived gateways (in process and as `fieldcheck serve`): spawning
# extraction workers and loading their models for each would cost seconds apiece. They extract
# on threads; tests/gateway/test_extraction_pool.py, the benchmarks and `fieldcheck serve`
# outside the tests run the worker processes.
os.environ.setdefault("FIELDCHECK_EXTRACT_PROCESSES", "0")

# Strong enough for the start-up check (gateway.keys: at least 128 bits).
ADMIN_TOKEN = "fc_test_admin_Zq8vN3kL0pW5xR7tY2uB9mC4jH6gF1dS"
PG_URL = os.environ.get("FIELDCHECK_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def shared_data_dir() -> Path:
    """Real test data: FIELDCHECK_SHARED_DATA_DIR, else ../shared/data beside the project."""
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real test data not found at {path} (set FIELDCHECK_SHARED_DATA_DIR)")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveGateway:
    """A gateway served by uvicorn in a thread on a free loopback port, on its own data dir."""

    def __init__(self, data_dir: Path, *, start_upstream: bool = False, **overrides: object):
        from gateway.app import create_app

        # Tests of other behaviours send parallel checks without a device's retry-on-503
        # outbox: a roomy admission queue for them; tests/gateway/test_admission.py sets its own.
        overrides = {"checks_waiting": 1000, "checks_max_wait_s": 60.0,
                     "checks_answer_target_s": 0.0, **overrides}
        self.settings = Settings(
            data_dir=data_dir, admin_token=ADMIN_TOKEN, **overrides  # type: ignore[arg-type]
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.app = create_app(self.settings, start_upstream=start_upstream)
        config = uvicorn.Config(self.app, host="127.0.0.1", port=self.port, log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveGateway:
        self.thread.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/readyz", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError("gateway did not become ready")

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.app.state.runtime

    def client(self, token: str | None = ADMIN_TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60)

    def token(self, role: str, name: str | None = None) -> str:
        with self.client() as c:
            r = c.post("/v1/tokens", json={"role": role, "name": name or f"{role}-{uuid.uuid4().hex[:6]}"})
            r.raise_for_status()
            return r.json()["token"]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveGateway]:
    with LiveGateway(tmp_path_factory.mktemp("gw")) as gw:
        yield gw


@pytest.fixture(scope="module")
def device_token(gateway: LiveGateway) -> str:
    return gateway.token("device", "SEEK-TEST-001")


def pg_available() -> bool:
    try:
        import psycopg

        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", connect_timeout=3):
            return True
    except Exception:
        return False


@pytest.fixture()
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    if not pg_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL at 127.0.0.1:5432 is required in CI but unreachable")
        pytest.skip("PostgreSQL at 127.0.0.1:5432 unreachable")
    import psycopg

    schema = "fc_" + uuid.uuid4().hex[:10]
    with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
    try:
        yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect("host=127.0.0.1 port=5432 user=postgres dbname=test", autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db_gateway(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LiveGateway]:
    """A live gateway on SQLite, then on a fresh PostgreSQL schema (each test runs on both)."""
    overrides = {}
    if request.param == "postgresql":
        overrides["database_url"] = request.getfixturevalue("pg_url")
    with LiveGateway(tmp_path, **overrides) as gw:
        yield gw
