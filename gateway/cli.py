"""The ``fieldcheck`` command: the single entry point of the product."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer
from rich.console import Console
from rich.markup import escape

from gateway.console.cli import register as register_console
from gateway.dbcli import db_app
from gateway.privacy.cli import register as register_privacy
from gateway.upstream.cli import register as register_upstream
from gateway.watchlist.cli import register as register_watchlist
from matchers.cli import evaluate_app, register_bench
from simulator.cli import register as register_simulator
from simulator.cli import synth_app

app = typer.Typer(help="FieldCheck: mobile biometric field-check gateway.", no_args_is_help=True)
token_app = typer.Typer(help="Manage API tokens.", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks that print a report (JSON + table).", no_args_is_help=True)
app.add_typer(token_app, name="token")
app.add_typer(bench_app, name="bench")
app.add_typer(evaluate_app, name="evaluate")
app.add_typer(synth_app, name="synth")
app.add_typer(db_app, name="db")
console = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from gateway.observability.metrics import build_version

        typer.echo(f"fieldcheck {build_version()}")
        raise typer.Exit()


@app.callback()
def main(
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE", envvar="FIELDCHECK_CONFIG",
        help="TOML settings file (names as the FIELDCHECK_ variables, lower case, no prefix); "
        "the environment overrides it",
    ),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", metavar="DIR",
        help="data directory (SQLite file, cache); overrides FIELDCHECK_DATA_DIR and the file",
    ),
    create: bool = typer.Option(
        False, "--create", help="allow this command to create a new, empty database",
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="print the version and exit",
    ),
) -> None:
    """FieldCheck: mobile biometric field-check gateway.

    Options before the command apply to every command: fieldcheck --data-dir /srv/fc token list
    """
    from gateway.cliconfig import ConfigError, apply_options

    try:
        apply_options(config=config, data_dir=data_dir, create=create)
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None


def _logging(level: str = "INFO", fmt: str = "text") -> None:
    from gateway.observability.logs import configure_logging

    configure_logging(level, fmt)


@app.command()
def serve(
    host: str = typer.Option("127.0.0.1", help="address to bind"),
    port: int = typer.Option(8000, help="port to bind"),
    log_level: str = typer.Option("info", help="debug, info, warning"),
) -> None:
    """Start the gateway on embedded defaults (SQLite under FIELDCHECK_DATA_DIR)."""
    import uvicorn

    from gateway.app import create_app
    from gateway.cliconfig import ConfigError, load_settings

    try:
        settings = load_settings()
    except ConfigError as exc:
        console.print(f"[red]cannot start:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    _logging(log_level.upper(), settings.log_format)
    _preflight(settings)
    log = logging.getLogger("fieldcheck")
    log.info("data directory %s; API docs at http://%s:%s/docs", settings.data_dir.resolve(),
             host, port)
    # log_config=None: uvicorn keeps the one configuration set above (its access line is ours).
    # A bounded grace: without it, SIGTERM waits for every open long poll and event stream.
    uvicorn.run(create_app(settings), host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=settings.shutdown_grace_s)


def _preflight(settings) -> None:
    """Refuse to start with a clear message (not a stack trace) when a secret is weak, a file the
    settings name is missing or unsafe, or the database is unusable."""
    from sqlalchemy.exc import OperationalError
    from sqlmodel import Session

    from gateway import db
    from gateway.cliconfig import ConfigError, check_files
    from gateway.deployment.service import CountryMismatch, bind_country
    from gateway.keys import WeakSecret, check_secrets

    try:
        check_secrets(settings)
        check_files(settings)
    except (WeakSecret, ConfigError) as exc:
        console.print(f"[red]cannot start:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    try:
        engine = db.make_engine(settings.effective_database_url)
        before = db.current_revision(engine)
        db.upgrade(engine)  # the schema migrations run here, before anything else starts
        after = db.current_revision(engine)
        if before != after:
            logging.getLogger("fieldcheck").info(
                "database schema upgraded from %s to %s", before or "none (new, or made "
                "before migrations)", after)
        with Session(engine) as session:
            bind_country(session, settings.country)
        engine.dispose()
    except (CountryMismatch, db.SchemaError) as exc:
        console.print(f"[red]cannot start:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(2) from None
    except OperationalError as exc:
        console.print(f"[red]cannot start:[/red] the database is unreachable: {exc.orig}")
        raise typer.Exit(2) from None


@app.command()
def keygen(
    kind: str = typer.Argument(
        ..., help="admin-token (a bootstrap admin token) or snapshot (an Ed25519 key pair)"
    ),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Generate a strong secret: FIELDCHECK_ADMIN_TOKEN, or a snapshot signing key pair."""
    import json

    from gateway.keys import new_admin_token, new_signing_key

    if kind == "admin-token":
        token = new_admin_token()
        if json_out:
            typer.echo(json.dumps({"FIELDCHECK_ADMIN_TOKEN": token}))
            return
        typer.echo(f"FIELDCHECK_ADMIN_TOKEN={token}")
    elif kind == "snapshot":
        private, public = new_signing_key()
        if json_out:
            typer.echo(json.dumps({"FIELDCHECK_SNAPSHOT_SIGNING_KEY": private,
                                   "public_key": public}))
            return
        typer.echo(f"FIELDCHECK_SNAPSHOT_SIGNING_KEY={private}")
        typer.echo("# public key for FIELDCHECK_SNAPSHOT_TRUSTED_KEYS on receiving gateways:")
        typer.echo(f"# {public}")
    else:
        console.print("[red]error:[/red] kind must be admin-token or snapshot")
        raise typer.Exit(2)


@token_app.command("create")
def token_create(
    role: str = typer.Option(..., help="device, ncb_admin, ncb_analyst or auditor"),
    name: str = typer.Option(..., help="who or what holds it, e.g. the device serial"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Issue a token directly in the database and print its secret once."""
    from gateway.auth.service import create_token
    from gateway.errors import DomainError

    with _session() as session:
        try:
            row, secret = create_token(session, role=role, name=name, created_by="cli")
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.detail} ({exc.fix or ''})")
            raise typer.Exit(2) from None
        _audit(session, "token.create", row.id, {"role": row.role, "name": row.name})
        session.commit()
    if json_out:
        typer.echo(json.dumps({"id": row.id, "role": str(row.role), "name": row.name,
                               "token": secret}))
        return
    typer.echo(f"id:    {row.id}\nrole:  {row.role}\ntoken: {secret}")


@token_app.command("list")
def token_list(
    json_out: bool = typer.Option(False, "--json", help="print one JSON array"),
) -> None:
    """List tokens (never their secrets), with ids in full for token revoke."""
    from rich.table import Table

    from gateway.auth.service import list_tokens

    with _session() as session:
        rows = [{"id": row.id, "name": row.name, "role": str(row.role),
                 "created_at": str(row.created_at)[:19],
                 "revoked_at": str(row.revoked_at)[:19] if row.revoked_at else None}
                for row in list_tokens(session)]
    if json_out:
        typer.echo(json.dumps(rows))
        return
    table = Table("id", "name", "role", "created", "revoked")
    # An id must never be cut: it is what `token revoke` takes. Names may wrap instead.
    table.columns[0].no_wrap = True
    table.columns[0].overflow = "ignore"
    for r in rows:
        table.add_row(r["id"], r["name"], r["role"], r["created_at"], r["revoked_at"] or "")
    Console(soft_wrap=True).print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: str = typer.Argument(..., help="the id shown by token list"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Revoke a token; it fails at once."""
    from gateway.auth.service import revoke_token
    from gateway.errors import DomainError

    token_id = token_id.strip()
    with _session() as session:
        try:
            row = revoke_token(session, token_id)
        except DomainError as exc:
            console.print(f"[red]error:[/red] {exc.detail}")
            raise typer.Exit(2) from None
        _audit(session, "token.revoke", token_id, None)
        session.commit()
        revoked_at = str(row.revoked_at)[:19] if row.revoked_at else None
    if json_out:
        typer.echo(json.dumps({"id": token_id, "revoked_at": revoked_at}))
        return
    typer.echo(f"revoked {token_id}")


def _session():
    from sqlmodel import Session

    from gateway.cliconfig import ConfigError, open_database

    try:
        _settings, engine = open_database()
    except ConfigError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    return Session(engine, expire_on_commit=False)


def _audit(session, action: str, target_id: str, after: dict | None) -> None:
    from gateway.audit.service import record

    record(session, actor=None, action=action, target_type="token", target_id=target_id,
           after=after, detail="via CLI")


@bench_app.command("check")
def bench_check(
    subjects: int = typer.Option(10_000, help="synthetic subjects in the cache"),
    requests: int = typer.Option(40, help="requests per scenario"),
    scenarios: str = typer.Option(
        "face,two_fingers,face_two_fingers",
        help="comma-separated: face, two_fingers, face_two_fingers (faces only: no synthetic "
        "fingerprints are built, which makes the start much faster)"),
    json_out: bool = typer.Option(False, "--json", help="last line: one JSON object"),
    extract_processes: str = typer.Option(
        "", help="comma-separated extraction modes run in turn on the same watchlist, e.g. "
        "'2,0': two worker processes, then threads of the gateway process (default: the "
        "gateway's default only)"),
) -> None:
    """p50/p95 of POST /v1/checks over loopback: face, two fingers, face + two fingers."""
    from gateway.bench import run_check_bench

    try:
        modes = tuple(int(m) for m in extract_processes.split(",") if m.strip()) or (None,)
    except ValueError:
        raise typer.BadParameter("--extract-processes: whole numbers, e.g. 2,0") from None
    run_check_bench(subjects=subjects, requests=requests, json_out=json_out,
                    scenarios=tuple(s.strip() for s in scenarios.split(",") if s.strip()),
                    modes=modes)


@bench_app.command("startup")
def bench_startup(
    faces: int = typer.Option(
        20_000, help="subjects with one face each (the scale goal is --faces 1000000)"),
    fingerprints: int = typer.Option(2_000, help="of them with a fingerprint too"),
    unique_fingerprints: int = typer.Option(2_000, help="distinct synthetic minutiae sets"),
    json_out: bool = typer.Option(False, "--json", help="last line: one JSON object"),
) -> None:
    """Seconds from start to ready: cold (indexes built from the database) and warm (saved)."""
    from gateway.bench import run_startup_bench

    run_startup_bench(faces=faces, fingerprints=fingerprints,
                      unique_fingers=unique_fingerprints, json_out=json_out)


@bench_app.command("load")
def bench_load(
    devices: int = typer.Option(8, help="virtual devices sending checks in parallel"),
    subjects: int = typer.Option(10_000, help="synthetic subjects in the watchlist"),
    rates: str = typer.Option("0.5,1,1.5,2,3,4", help="offered checks per second, one per step"),
    step_s: float = typer.Option(30.0, help="seconds per step"),
    mix: str = typer.Option("face=0.3,two_fingers=0.2,face_two_fingers=0.4,document=0.1",
                            help="check kinds and weights"),
    p95_target_s: float = typer.Option(2.0, help="latency target that defines the knee"),
    overload_p95_target_s: float = typer.Option(
        3.0, help="admitted p95 to hold at twice the knee (the rest refused with 503)"),
    in_flight: int | None = typer.Option(None, help="FIELDCHECK_CHECKS_IN_FLIGHT for the run"),
    waiting: int | None = typer.Option(None, help="FIELDCHECK_CHECKS_WAITING for the run"),
    max_wait_s: float | None = typer.Option(None, help="FIELDCHECK_CHECKS_MAX_WAIT_S"),
    answer_target_s: float | None = typer.Option(
        None, help="FIELDCHECK_CHECKS_ANSWER_TARGET_S (0: max wait alone)"),
    out: Path | None = typer.Option(None, help="folder for load.json and load.png"),
    json_out: bool = typer.Option(False, "--json", help="last line: one JSON object"),
) -> None:
    """Throughput, p50/p95/p99, 503s, CPU and memory of one gateway under a stepped load."""
    from gateway.loadbench import parse_mix, run_load_bench

    env = {}
    for name, value in (("IN_FLIGHT", in_flight), ("WAITING", waiting),
                        ("MAX_WAIT_S", max_wait_s), ("ANSWER_TARGET_S", answer_target_s)):
        if value is not None:
            env[f"FIELDCHECK_CHECKS_{name}"] = str(value)
    try:
        parsed_mix = parse_mix(mix)
        parsed_rates = [float(r) for r in rates.split(",") if r.strip()]
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    if not parsed_rates or any(not r > 0 for r in parsed_rates):
        raise typer.BadParameter(f"--rates must be checks per second above 0, got {rates!r}")
    run_load_bench(devices=devices, subjects=subjects, rates=parsed_rates, step_s=step_s,
                   mix=parsed_mix, p95_target_s=p95_target_s, extra_env=env, out_dir=out,
                   overload_p95_s=overload_p95_target_s,
                   json_out=json_out)


register_bench(bench_app)
register_simulator(app)
register_upstream(app)
register_watchlist(app)
register_privacy(app)
register_console(app)
