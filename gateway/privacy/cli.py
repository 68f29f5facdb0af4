"""``fieldcheck privacy purge|export|erase|rotate-key|reencrypt`` and
``fieldcheck watchlist reextract``: on the database directly (no running gateway needed)."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gateway.privacy.crypto import Keyring

privacy_app = typer.Typer(help="Data protection: purge, subject requests, image keys.",
                          no_args_is_help=True)
console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    app.add_typer(privacy_app, name="privacy")
    from gateway.watchlist.cli import watchlist_app

    watchlist_app.command("reextract")(reextract_cmd)


def _open():
    """(settings, engine, keyring) like every other command: --config/--data-dir honoured, bad
    settings exit 2 naming the fix, and no new empty database unless --create."""
    from gateway.cliconfig import ConfigError, open_database
    from gateway.privacy.crypto import Keyring

    try:
        settings, engine = open_database()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings, engine, Keyring.from_settings(settings)


def _fail(exc: Exception) -> typer.Exit:
    from gateway.errors import DomainError

    detail = exc.detail if isinstance(exc, DomainError) else str(exc)
    fix = exc.fix if isinstance(exc, DomainError) else None
    console.print(f"[red]error:[/red] {detail}" + (f"\n  fix: {fix}" if fix else ""))
    return typer.Exit(2)


def _one_target(subject: str | None, check: str | None) -> None:
    if (subject is None) == (check is None):
        console.print("[red]error:[/red] give exactly one of --subject or --check")
        raise typer.Exit(2)


@privacy_app.command("purge")
def purge_cmd(json_out: bool = typer.Option(False, "--json", help="print the report as JSON")
              ) -> None:
    """Delete probe data past its retention period now (serve does it nightly)."""
    from gateway.privacy.retention import purge

    settings, engine, _ = _open()
    report = purge(engine, settings)
    if json_out:
        typer.echo(json.dumps(asdict(report)))
    else:
        for key, value in asdict(report).items():
            typer.echo(f"{key}: {value}")


@privacy_app.command("export")
def export_cmd(
    subject: str | None = typer.Option(None, help="subject id"),
    check: str | None = typer.Option(None, help="check id"),
    out: Path | None = typer.Option(None, help="write here (mode 0600) instead of stdout"),
) -> None:
    """Everything held about one subject or one check, as JSON (images decrypted, base64)."""
    from sqlmodel import Session

    from gateway.errors import DomainError
    from gateway.privacy import requests
    from gateway.privacy.service import ImageBounds

    _one_target(subject, check)
    settings, engine, keyring = _open()
    with Session(engine) as session:
        try:
            doc = (requests.export_subject(session, keyring, subject_id=subject) if subject
                   else requests.export_check(session, keyring, check_id=check or "",
                                              bounds=ImageBounds.from_settings(settings)))
        except DomainError as exc:
            raise _fail(exc) from None
        session.commit()
    text = json.dumps(doc, indent=1, default=str)
    if out is None:
        sys.stdout.write(text + "\n")
        return
    import os

    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # personal data: owner only
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    console.print(f"written to {out}")


@privacy_app.command("erase")
def erase_cmd(
    reason: str = typer.Option(..., help="why (recorded in the audit trail)"),
    subject: str | None = typer.Option(None, help="subject id"),
    check: str | None = typer.Option(None, help="check id"),
) -> None:
    """Erase a subject (record, templates, images, saved cache) or a check's personal data."""
    from sqlmodel import Session

    from gateway.errors import DomainError
    from gateway.privacy import requests

    _one_target(subject, check)
    if not reason.strip():
        console.print("[red]error:[/red] --reason must say why")
        raise typer.Exit(2)
    settings, engine, _ = _open()
    with Session(engine) as session:
        try:
            counts = (requests.erase_subject(session, subject_id=subject, reason=reason.strip(),
                                             cache_dir=settings.data_dir / "index")
                      if subject else
                      requests.erase_check(session, check_id=check or "", reason=reason.strip()))
        except DomainError as exc:
            raise _fail(exc) from None
        session.commit()
    from gateway.privacy.retention import _truncate_wal

    if engine.dialect.name == "sqlite":
        _truncate_wal(engine)
    typer.echo(json.dumps({"erased": subject or check, **counts}))


@privacy_app.command("rotate-key")
def rotate_key_cmd(
    reencrypt: bool = typer.Option(False, "--reencrypt", help="also rewrite every image"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Add a new image key and make it current (old keys stay readable)."""
    settings, engine, keyring = _open()
    try:
        kid = keyring.rotate()
    except ValueError as exc:
        raise _fail(exc) from None
    done = _reencrypt(engine, keyring, quiet=json_out) if reencrypt else None
    if json_out:
        typer.echo(json.dumps({"current_key": kid, "reencrypted_images": done}))
        return
    typer.echo(f"current image key: {kid}")


@privacy_app.command("reencrypt")
def reencrypt_cmd(
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Rewrite every image sealed with an older key under the current key."""
    _, engine, keyring = _open()
    done = _reencrypt(engine, keyring, quiet=json_out)
    if json_out:
        typer.echo(json.dumps({"reencrypted_images": done, "current_key": keyring.current}))


def _reencrypt(engine: Engine, keyring: Keyring, *, quiet: bool = False) -> int:
    from sqlmodel import Session

    from gateway.audit.service import record
    from gateway.privacy.service import reencrypt

    with Session(engine) as session:
        done = reencrypt(session, keyring)
        record(session, actor=None, action="privacy.reencrypt", target_type="privacy",
               after={"images": done, "key_id": keyring.current}, detail="via CLI")
        session.commit()
    if not quiet:
        typer.echo(f"re-encrypted {done} images with key {keyring.current}; older keys may now "
                   "be removed")
    return int(done)


def reextract_cmd(
    dry_run: bool = typer.Option(False, "--dry-run", help="only count what would change"),
    json_out: bool = typer.Option(False, "--json", help="print the report as JSON"),
) -> None:
    """Re-extract templates made by another model than the current matcher's, from the
    sealed reference images."""
    from sqlmodel import Session

    from gateway.privacy.reextract import reextract

    _, engine, keyring = _open()
    with Session(engine) as session:
        report = reextract(session, keyring, dry_run=dry_run)
    if json_out:
        typer.echo(json.dumps(asdict(report)))
        return
    typer.echo(f"outdated templates: {report.outdated}; re-extracted: {report.reextracted}")
    if report.without_image:
        typer.echo(f"no reference image (cannot re-extract): {len(report.without_image)}")
    for tid, why in report.failed.items():
        typer.echo(f"failed {tid}: {why}")
