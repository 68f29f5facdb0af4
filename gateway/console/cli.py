"""``fieldcheck user create|list|unlock``: staff accounts for the console."""

from __future__ import annotations

import json
import sys

import typer

JSON_OPT = typer.Option(False, "--json", help="print JSON")

user_app = typer.Typer(help="Staff accounts for the NCB console (devices use API tokens).",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


def _session():
    from gateway.cliconfig import open_session

    return open_session()[1]


@user_app.command("create")
def create(
    username: str = typer.Option(..., help="sign-in name, no spaces"),
    role: str = typer.Option(..., help="ncb_admin, ncb_analyst or auditor"),
    language: str = typer.Option("en", help="console language: en, fr or pt"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="read the password from the first line of stdin"
    ),
    json_out: bool = JSON_OPT,
) -> None:
    """Create a staff account; the password is asked for (twice) unless given on stdin."""
    from gateway.console.auth import create_user
    from gateway.errors import DomainError

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    with _session() as session:
        try:
            user = create_user(session, username=username, password=password, role=role,
                               language=language)
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}" + (f" ({exc.fix})" if exc.fix else ""), err=True)
            raise typer.Exit(2) from None
        session.commit()
    if json_out:
        typer.echo(json.dumps({"id": user.id, "username": user.username, "role": user.role,
                               "language": user.language}))
        return
    typer.echo(f"id:       {user.id}\nusername: {user.username}\nrole:     {user.role}")


@user_app.command("list")
def list_(json_out: bool = JSON_OPT) -> None:
    """List staff accounts (never their password hashes)."""
    from gateway.console.auth import list_users

    with _session() as session:
        users = list_users(session)
        if json_out:
            typer.echo(json.dumps([
                {"id": u.id, "username": u.username, "role": u.role, "language": u.language,
                 "locked_until": u.locked_until.isoformat() if u.locked_until else None}
                for u in users]))
            return
        for u in users:
            locked = f" locked until {u.locked_until:%Y-%m-%d %H:%M}" if u.locked_until else ""
            typer.echo(f"{u.id}  {u.username:<24} {u.role:<12} {u.language}{locked}")


@user_app.command("unlock")
def unlock(username: str, json_out: bool = JSON_OPT) -> None:
    """Lift a lock-out after repeated failed sign-ins."""
    from gateway.console.auth import unlock_user
    from gateway.errors import DomainError

    with _session() as session:
        try:
            unlock_user(session, username=username, actor=None)
        except DomainError as exc:
            typer.echo(f"error: {exc.detail}", err=True)
            raise typer.Exit(2) from None
        session.commit()
    typer.echo(json.dumps({"unlocked": username}) if json_out else f"unlocked {username}")
