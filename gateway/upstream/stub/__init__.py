"""The central stub: ``create_stub_app`` (FastAPI) and ``run_stub_in_thread`` (bundled mode)."""

from __future__ import annotations

import logging
import socket
import threading
import time
from pathlib import Path

import uvicorn

from gateway.upstream.stub.app import create_stub_app

log = logging.getLogger(__name__)

__all__ = ["StubServer", "create_stub_app", "free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class StubServer:
    """The stub served by uvicorn on a background thread (``fieldcheck serve`` without a URL)."""

    def __init__(self, data_dir: Path, *, host: str = "127.0.0.1", port: int | None = None,
                 subjects: int = 2000, seed: int = 1) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.data_dir = data_dir
        self.subjects = subjects
        self.seed = seed
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        def run() -> None:
            # Seeding and index building happen here, off the caller's thread: the gateway serves
            # at once and its worker just finds the link down until the stub answers.
            app = create_stub_app(self.data_dir, seed=self.seed, subjects=self.subjects)
            # log_config=None, no log_level, no access_log=False: each would make uvicorn.Config
            # reconfigure the "uvicorn.*" loggers the gateway shares with this thread (the
            # gateway's access log and shutdown lines went missing).
            config = uvicorn.Config(app, host=self.host, port=self.port, log_config=None,
                                    lifespan="off")
            self._server = uvicorn.Server(config)
            self._server.install_signal_handlers = lambda: None  # type: ignore[attr-defined]
            self._server.run()

        self._thread = threading.Thread(target=run, name="central-stub", daemon=True)
        self._thread.start()

    def wait_ready(self, timeout_s: float = 30.0) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._server is not None and self._server.started:
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=0.8)
