"""``fieldcheck db``: the database's schema revision (Alembic, ``gateway/migrations``).

``fieldcheck serve`` upgrades the schema itself at every start; these commands let an operator
see where a database stands and upgrade it on purpose (before a start, or after restoring a
backup). Like every command they refuse to create an empty database unless ``--create``.
"""

from __future__ import annotations

import json

import typer

db_app = typer.Typer(help="Database schema: current revision, upgrade (migrations).",
                     no_args_is_help=True)

_BEFORE = ("none (an empty database, or one made before migrations: `fieldcheck db upgrade` "
           "adopts it)")


def _state(engine) -> dict[str, object]:
    from gateway import db

    current, head = db.current_revision(engine), db.head_revision()
    return {"current": current, "head": head, "up_to_date": current == head,
            "database": engine.url.render_as_string(hide_password=True)}


def _open():
    from gateway.cliconfig import ConfigError, open_database

    try:
        return open_database(upgrade=False)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@db_app.command("current")
def current(json_out: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Print the database's schema revision and the newest this FieldCheck knows."""
    _, engine = _open()
    try:
        state = _state(engine)
    finally:
        engine.dispose()
    if json_out:
        typer.echo(json.dumps(state))
        return
    typer.echo(f"database: {state['database']}")
    typer.echo(f"revision: {state['current'] or _BEFORE}")
    if state["up_to_date"]:
        typer.echo(f"up to date (newest: {state['head']})")
    else:
        typer.echo(f"newest:   {state['head']}; run `fieldcheck db upgrade` (serve does it at "
                   "start)")


@db_app.command("upgrade")
def upgrade(
    revision: str = typer.Option("head", help="target revision (default: the newest)"),
    json_out: bool = typer.Option(False, "--json", help="print one JSON object"),
) -> None:
    """Bring the database's schema to the newest revision (idempotent; back it up first)."""
    from gateway import db

    _, engine = _open()
    try:
        before = db.current_revision(engine)
        try:
            db.upgrade(engine, revision)
        except db.SchemaError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        state = {**_state(engine), "before": before}
    finally:
        engine.dispose()
    if json_out:
        typer.echo(json.dumps(state))
        return
    if before == state["current"]:
        typer.echo(f"already at {state['current']}: nothing to do")
    else:
        typer.echo(f"upgraded {state['database']} from {before or 'none'} to {state['current']}")


@db_app.command("check")
def check(json_out: bool = typer.Option(False, "--json", help="print one JSON object")) -> None:
    """Compare the database's schema with this FieldCheck's models; exit 1 on a difference."""
    from gateway import db

    _, engine = _open()
    try:
        state: dict[str, object] = {**_state(engine),
                                    "differences": db.schema_differences(engine)}
    finally:
        engine.dispose()
    ok = state["up_to_date"] and not state["differences"]
    state["ok"] = ok
    if json_out:
        typer.echo(json.dumps(state))
    elif ok:
        typer.echo(f"schema at {state['current']} matches the models")
    else:
        if not state["up_to_date"]:
            typer.echo(f"revision {state['current'] or 'none'} is not the newest "
                       f"({state['head']}): run `fieldcheck db upgrade`")
        for line in state["differences"]:  # type: ignore[attr-defined]
            typer.echo(f"differs: {line}")
    if not ok:
        raise typer.Exit(1)
