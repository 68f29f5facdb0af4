"""``fieldcheck central-stub``: the central stub as a separate service (a test tool)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import typer

log = logging.getLogger(__name__)


def central_stub(
    host: str = typer.Option("127.0.0.1", help="bind address (loopback unless told otherwise)"),
    port: int = typer.Option(8700, help="TCP port"),
    data_dir: Path | None = typer.Option(
        None, help="stub SQLite folder; default FIELDCHECK_STUB_DATA_DIR or ./central-stub-data"
    ),
    subjects: int = typer.Option(3000, help="synthetic central population (first start only)"),
    documents: int = typer.Option(5000, help="stolen/lost documents (first start only)"),
    seed: int = typer.Option(1, help="population seed (tests rebuild subjects from it)"),
    token: str | None = typer.Option(
        None, envvar="FIELDCHECK_STUB_TOKEN", help="bearer token central requires (default none)"
    ),
) -> None:
    """Run the central stub: the central API over a synthetic population, with fault injection."""
    import uvicorn

    from gateway.upstream.stub import create_stub_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    folder = data_dir or Path(os.environ.get("FIELDCHECK_STUB_DATA_DIR", "./central-stub-data"))
    app = create_stub_app(folder, seed=seed, subjects=subjects, documents=documents, token=token)
    log.info("central stub on http://%s:%d (data in %s)", host, port, folder)
    uvicorn.run(app, host=host, port=port, log_level="warning")


def register(app: typer.Typer) -> None:
    app.command("central-stub")(central_stub)


def stub_main() -> None:
    typer.run(central_stub)
