"""``fieldcheck watchlist import|export|load-snapshot|status``: NCB tools that work on the database
directly (no running gateway needed; a running one picks the changes up within seconds)."""

from __future__ import annotations

import getpass
import json
import logging
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

watchlist_app = typer.Typer(
    help="Maintain the watchlist: bulk import, signed snapshots.", no_args_is_help=True
)
console = Console(stderr=True)
log = logging.getLogger(__name__)


def register(app: typer.Typer) -> None:
    app.add_typer(watchlist_app, name="watchlist")


def _session():
    from gateway.cliconfig import open_session

    return open_session()


def _fail(exc: Exception) -> typer.Exit:
    from gateway.errors import DomainError

    if isinstance(exc, DomainError):
        console.print(
            f"[red]error:[/red] {exc.detail}" + (f"\n  fix: {exc.fix}" if exc.fix else "")
        )
    else:
        console.print(f"[red]error:[/red] {exc}")
    return typer.Exit(2)


def _who() -> str:
    try:
        return f"via CLI by {getpass.getuser()}"
    except Exception:  # noqa: BLE001 - no login name in some containers
        return "via CLI"


@watchlist_app.command("import")
def import_cmd(
    path: Path = typer.Argument(
        ..., help="folder with manifest.csv/manifest.json, or the manifest"
    ),
    workers: int = typer.Option(
        2, min=1, max=16,
        help="extraction worker processes (each loads the matcher models, ~300 MB)"),
    report: Path | None = typer.Option(None, help="write the full summary here as JSON"),
    json_out: bool = typer.Option(
        False, "--json", help="last line: the summary as one JSON object"
    ),
    allow_empty: bool = typer.Option(
        False, "--allow-empty",
        help="accept records without any biometric (deliberate name-only records)",
    ),
    allow_outside: bool = typer.Option(
        False, "--allow-outside",
        help="let the manifest name images outside its own folder (absolute or ../ paths)",
    ),
) -> None:
    """Bulk-import subjects with their images; re-running skips what is already in."""
    from gateway.audit.service import record
    from gateway.errors import DomainError
    from gateway.privacy.crypto import Keyring
    from gateway.watchlist import importer

    settings, session = _session()
    # The images are sealed like single enrolment's, with the gateway's own image key (the key
    # file in the data dir, or FIELDCHECK_IMAGE_KEYS: give the CLI the gateway's settings).
    try:
        keyring = Keyring.from_settings(settings)
    except (ValueError, OSError) as exc:
        raise _fail(ValueError(f"the image key cannot be read: {exc}")) from None
    keep_images = importer.KeepImages.from_settings(keyring, settings)
    with session:
        try:
            rows = importer.read_folder(path, allow_empty=allow_empty,
                                        allow_outside=allow_outside)
        except DomainError as exc:
            raise _fail(exc) from None
        record(
            session,
            actor=None,
            action="watchlist.batch.start",
            target_type="import",
            target_id=str(path)[:60],
            after={"records": len(rows), "source": str(path)},
            detail=_who(),
        )
        session.commit()
        results: list[dict[str, Any]] = []
        started = time.perf_counter()
        pool = _warm_pool(workers) if importer.count_new(session, rows) else None
        with Progress(
            TextColumn("[bold]import"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
        ) as progress:
            task = progress.add_task("import", total=len(rows), counts="")
            for result in importer.run_import(
                session, rows, actor=None, country=settings.country, workers=workers, pool=pool,
                keep_images=keep_images,
            ):
                results.append(result)
                done = {
                    s: sum(1 for r in results if r["status"] == s)
                    for s in ("imported", "skipped", "rejected")
                }
                progress.update(
                    task, advance=1, counts=" ".join(f"{k} {v}" for k, v in done.items())
                )
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        elapsed = time.perf_counter() - started
        summary = importer.summarise(results)
        summary["elapsed_s"] = round(elapsed, 2)
        summary["subjects_per_s"] = round(summary["imported"] / elapsed, 2) if elapsed else None
        record(
            session,
            actor=None,
            action="watchlist.batch.finish",
            target_type="import",
            target_id=str(path)[:60],
            after={k: summary[k] for k in ("total", "imported", "skipped", "rejected")},
            detail=_who(),
        )
        session.commit()
    _print_summary(summary)
    if report:
        report.write_text(json.dumps(summary, indent=2))
    if json_out:
        typer.echo(json.dumps(summary))


def _warm_worker() -> int:
    """Runs in an extraction process: load the matcher models before the first record."""
    import os

    from matchers import face, fingerprint  # noqa: F401 - importing loads NBIS

    face.warm_up()
    return os.getpid()


def _warm_pool(workers: int):
    """The import's worker processes with their models loaded, shown as its own phase (it takes
    tens of seconds on a loaded machine; the import bar used to sit at 0 meanwhile)."""
    from gateway.workers import process_pool

    pool = process_pool(workers)
    with Progress(TextColumn("[bold]loading matcher models"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("worker processes"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("models", total=workers)
        futures = [pool.submit(_warm_worker) for _ in range(workers)]
        for future in futures:
            future.result()
            bar.advance(task)
    return pool


def _print_summary(summary: dict[str, Any]) -> None:
    out = Console()
    out.print(
        f"[bold]{summary['imported']}[/bold] imported, {summary['skipped']} skipped "
        f"(already in), [red]{summary['rejected']}[/red] rejected of {summary['total']} "
        f"in {summary['elapsed_s']} s ({summary['subjects_per_s']} subjects/s)"
    )
    if summary["rejected_records"]:
        table = Table("row", "external_ref", "reason", title="Rejected records")
        for r in summary["rejected_records"]:
            table.add_row(str(r["row"]), r["external_ref"] or "", r["reason"])
        out.print(table)
    if summary["refused_images"]:
        table = Table(
            "row",
            "external_ref",
            "file",
            "reason",
            title="Refused images (their records imported without them)",
        )
        for r in summary["refused_images"]:
            table.add_row(str(r["row"]), r["external_ref"] or "", r["file"], r["reason"])
        out.print(table)


@watchlist_app.command("export")
def export_cmd(
    out: Path = typer.Option(..., "--out", "-o", help="snapshot file to write"),
    country: str | None = typer.Option(None, help="target gateway's country (default: ours)"),
    since: int | None = typer.Option(None, help="only the changes after this version (delta)"),
    ttl_days: float = typer.Option(30.0, help="days before the snapshot expires"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Write a signed snapshot for a gateway without a link (FIELDCHECK_SNAPSHOT_SIGNING_KEY)."""
    from gateway.errors import DomainError
    from gateway.keys import check_secrets
    from gateway.watchlist import snapshots
    from gateway.watchlist.countries import parse_country

    settings, session = _session()
    with session:
        try:
            target = parse_country(country, field="country") if country else settings.country
            blob, info = snapshots.export_snapshot(
                session,
                actor=None,
                source_country=settings.country,
                target=target,
                since=since,
                ttl_days=ttl_days,
                keys=check_secrets(settings),
                detail=_who(),
            )
        except DomainError as exc:
            raise _fail(exc) from None
    out.write_bytes(blob)
    if json_out:
        typer.echo(json.dumps({"file": str(out), "bytes": len(blob), **info}, default=str))
        return
    typer.echo(
        f"wrote {out} ({len(blob)} bytes): {info['kind']} snapshot {info['snapshot_id']} "
        f"for {info['target_country']}, version {info['to_version']}, "
        f"{info['upserts']} subjects, {info['deletes']} deletions, "
        f"expires {info['expires_at'][:19]}"
    )
    if info["has_more"]:
        console.print(
            f"[yellow]more changes remain: export again with --since {info['to_version']}[/yellow]"
        )


@watchlist_app.command("load-snapshot")
def load_snapshot_cmd(
    path: Path = typer.Argument(..., help="a .fcsnap file written by: fieldcheck watchlist export"),
    prune: bool = typer.Option(
        False, help="full snapshot: drop the subjects of its source that it lacks"
    ),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object on one line"),
) -> None:
    """Verify and load a signed snapshot into this gateway's watchlist."""
    from gateway.errors import DomainError
    from gateway.keys import check_secrets
    from gateway.watchlist import snapshots

    settings, session = _session()
    with session:
        try:
            result = snapshots.load_snapshot(
                session,
                blob=path.read_bytes(),
                actor=None,
                country=settings.country,
                keys=check_secrets(settings),
                prune=prune,
                detail=_who(),
            )
        except DomainError as exc:
            raise _fail(exc) from None
    typer.echo(json.dumps(result, default=str) if json_out
               else json.dumps(result, indent=2, default=str))


@watchlist_app.command("status")
def status_cmd(
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Watchlist version, subject count and the snapshots loaded."""
    from sqlalchemy import func
    from sqlmodel import select

    from gateway.watchlist import deltas, replica
    from gateway.watchlist.models import BiometricTemplate, SnapshotLoad, Subject, current_model

    settings, session = _session()
    with session:
        count = session.exec(select(func.count()).select_from(Subject)).one()
        by_model = session.exec(
            select(BiometricTemplate.modality, BiometricTemplate.model, func.count())
            .group_by(BiometricTemplate.modality, BiometricTemplate.model)
        ).all()
        status: dict[str, Any] = {
            "country": settings.country, "version": replica.current_version(session),
            "subjects": count, "source_id": deltas.gateway_source_id(session),
            "database": settings.effective_database_url if not settings.database_url
            else "(FIELDCHECK_DATABASE_URL)",
            "templates": [
                {"modality": modality, "model": model, "count": n,
                 "searched": model == current_model(modality)}
                for modality, model, n in sorted(by_model, key=lambda r: (r[0], r[1] or "", r[2]))
            ],
            "snapshots_loaded": [
                {"kind": load.kind, "snapshot_id": load.snapshot_id,
                 "source_gateway": load.source_gateway, "version": load.version,
                 "loaded_at": str(load.loaded_at)[:19]}
                for load in session.exec(select(SnapshotLoad).order_by(SnapshotLoad.id))  # type: ignore[arg-type]
            ],
        }
    if json_out:
        typer.echo(json.dumps(status))
        return
    typer.echo(
        f"country {status['country']}, version {status['version']}, "
        f"{status['subjects']} subjects, source id {status['source_id']}"
    )
    for row in status["templates"]:
        current = current_model(row["modality"])
        state = "searched" if row["searched"] else (
            f"NOT searched: made by another model than {current}, needs re-enrolment"
        )
        typer.echo(f"  {row['count']} {row['modality']} templates of model "
                   f"{row['model'] or '(none)'}: {state}")
    for load in status["snapshots_loaded"]:
        typer.echo(
            f"  loaded {load['kind']} {load['snapshot_id']} from {load['source_gateway']} "
            f"v{load['version']} at {load['loaded_at']}"
        )
