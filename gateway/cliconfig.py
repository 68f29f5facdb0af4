"""Where a ``fieldcheck`` command finds its settings and database.

``fieldcheck [--config FILE] [--data-dir DIR] [--create] COMMAND``: the root callback calls
``apply_options`` before any command runs, so every command (and every process it starts, such
as the benchmarks' gateways) sees the same configuration.

Precedence, highest first: a command-line option, a ``FIELDCHECK_*`` environment variable, the
config file, ``.env``, the default. The config file has the same names as the environment
without the prefix, in lower case (``data_dir = "/var/lib/fieldcheck"``), and an ``[upstream]``
table for the ``FIELDCHECK_UPSTREAM_*`` settings. Its values enter as environment variables
that are not already set, which is what gives them the environment's meaning and a place just
below it. Relative paths in the file are relative to the file's folder.

``load_settings`` builds the nested settings once for a command and turns a validation error
into a ``ConfigError`` that names the environment variable (and the config file) to fix;
``check_files`` opens the files the settings name (mutual TLS, MOSIP certificates) so a missing
or unsafe one is refused before ``serve`` starts, not when the central link first connects.

``open_database`` is the one way a command reaches the database: it refuses to create an empty
one where the operator expected theirs (run from the wrong folder, a mistyped ``--data-dir``)
unless ``--create`` says so.
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV_PREFIX = "FIELDCHECK_"
CONFIG_ENV = "FIELDCHECK_CONFIG"
PATH_KEYS = {"data_dir", "stub_data_dir", "mosip_trusted_certs", "shared_data_dir",
             "client_cert", "client_key", "ca_bundle"}


class ConfigError(Exception):
    """A config file or option that cannot be used; the message names the file and the key."""


@dataclass
class CliState:
    create: bool = False
    config_file: Path | None = None


state = CliState()


def _known_keys() -> tuple[set[str], set[str]]:
    from gateway.settings import Settings
    from gateway.upstream.settings import UpstreamSettings

    return set(Settings.model_fields) - {"upstream"}, set(UpstreamSettings.model_fields)


_SECRET_WORDS = ("token", "key", "password", "url")  # a URL may carry a password


def describe_invalid(exc: Any) -> str:
    """A pydantic ``ValidationError`` from the settings as lines that name what to set."""
    prefix = f"{ENV_PREFIX}UPSTREAM_" if exc.title == "UpstreamSettings" else ENV_PREFIX
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        message = str(error.get("msg", "")).removeprefix("Value error, ")
        if loc and loc[0] == "upstream" and len(loc) > 1:
            name = f"{ENV_PREFIX}UPSTREAM_{loc[1].upper()}"
        elif loc:
            name = f"{prefix}{loc[0].upper()}"
        else:
            lines.append(f"- {message}")
            continue
        value = error.get("input")
        shown = "" if (any(w in name.lower() for w in _SECRET_WORDS) or value is None
                       or isinstance(value, dict) or repr(value) in message) else (
            f" (got {str(value)[:80]!r})")
        lines.append(f"- {name}: {message}{shown}")
    where = (f" or in {state.config_file}" if state.config_file is not None else "")
    return ("invalid settings (fix the environment variable" + where + "):\n"
            + "\n".join(lines))


def load_settings():
    """The process's settings (``get_settings``), or ConfigError saying which value to fix."""
    from pydantic import ValidationError

    from gateway.settings import get_settings

    try:
        return get_settings()
    except ValidationError as exc:
        raise ConfigError(describe_invalid(exc)) from None


def check_files(settings: Any) -> None:
    """Open the certificate and key files the settings name; ConfigError when one is missing,
    unreadable, malformed or (a private key) readable by every user of the machine."""
    import ssl

    from gateway.upstream.client import _tls_context

    up = settings.upstream
    named = [("FIELDCHECK_UPSTREAM_CLIENT_CERT", up.client_cert),
             ("FIELDCHECK_UPSTREAM_CLIENT_KEY", up.client_key),
             ("FIELDCHECK_UPSTREAM_CA_BUNDLE", up.ca_bundle),
             ("FIELDCHECK_MOSIP_TRUSTED_CERTS", settings.mosip_trusted_certs)]
    for name, path in named:
        if path is None:
            continue
        if not Path(path).is_file():
            raise ConfigError(f"{name}: {path} is not a file")
        try:
            Path(path).read_bytes()
        except OSError as exc:
            raise ConfigError(f"{name}: {path} cannot be read: {exc.strerror}") from None
    if up.client_key is not None and Path(up.client_key).stat().st_mode & 0o007:
        raise ConfigError(
            f"FIELDCHECK_UPSTREAM_CLIENT_KEY: the private key {up.client_key} is readable by "
            f"every user of this machine; chmod 600 {up.client_key}")
    cert = (str(up.client_cert), str(up.client_key)) if up.client_cert else None
    try:
        _tls_context(cert=cert, verify=str(up.ca_bundle) if up.ca_bundle else True)
    except (ssl.SSLError, OSError, ValueError) as exc:
        what = ("FIELDCHECK_UPSTREAM_CLIENT_CERT / _CLIENT_KEY (a PEM certificate and its "
                "private key)" if cert else "FIELDCHECK_UPSTREAM_CA_BUNDLE (PEM certificates)")
        raise ConfigError(f"{what} cannot be loaded: {exc}") from None


def _env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)


def read_config(path: Path) -> dict[str, str]:
    """The file's settings as ``FIELDCHECK_*`` environment names and values; unknown keys fail."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} cannot be read: {exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    main_keys, upstream_keys = _known_keys()
    env: dict[str, str] = {}

    def put(prefix: str, key: str, value: Any) -> None:
        if key in PATH_KEYS and isinstance(value, str) and not Path(value).is_absolute():
            value = str((path.parent / value).resolve())
        env[f"{prefix}{key.upper()}"] = _env_value(value)

    for key, value in data.items():
        if key == "upstream" and isinstance(value, dict):
            for sub, sub_value in value.items():
                if sub not in upstream_keys:
                    raise ConfigError(
                        f"{path}: unknown setting [upstream] {sub!r}; known: "
                        + ", ".join(sorted(upstream_keys)))
                put(f"{ENV_PREFIX}UPSTREAM_", sub, sub_value)
            continue
        if key not in main_keys:
            raise ConfigError(f"{path}: unknown setting {key!r}; known: "
                              + ", ".join(sorted(main_keys)) + ", [upstream]")
        put(ENV_PREFIX, key, value)
    return env


def apply_options(*, config: Path | None, data_dir: Path | None, create: bool) -> None:
    """Install the command line's choices for this process and its children."""
    from gateway.settings import get_settings

    state.create = create
    config = config or (Path(os.environ[CONFIG_ENV]) if os.environ.get(CONFIG_ENV) else None)
    state.config_file = config
    if config is not None:
        for name, value in read_config(config).items():
            os.environ.setdefault(name, value)  # the environment wins over the file
    if data_dir is not None:
        os.environ[f"{ENV_PREFIX}DATA_DIR"] = str(data_dir)
    get_settings.cache_clear()


def database_exists(url: str) -> bool:
    """True when ``url`` names a database that already holds a FieldCheck schema."""
    from sqlalchemy import create_engine, inspect
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if not database or database == ":memory:":
            return False
        path = Path(database)
        if not path.is_file():
            return False
    engine = create_engine(url)
    try:
        return inspect(engine).has_table("api_token")
    finally:
        engine.dispose()


def open_database(*, create: bool | None = None, upgrade: bool = True):
    """(settings, engine) for a command; refuses to make a new database unless asked, and
    brings its schema to the newest revision (unless ``upgrade=False``: ``fieldcheck db``)."""
    from gateway import db

    settings = load_settings()
    url = settings.effective_database_url
    allowed = state.create if create is None else create
    if not allowed and not database_exists(url):
        from sqlalchemy.engine import make_url

        where = (f"{Path(make_url(url).database or '').resolve()}"
                 if url.startswith("sqlite") else make_url(url).render_as_string(True))
        raise ConfigError(
            f"no FieldCheck database at {where} (data directory "
            f"{settings.data_dir.resolve()}); refusing to create an empty one. "
            "Run from the gateway's folder, or pass --data-dir DIR or --config FILE (or set "
            "FIELDCHECK_DATA_DIR / FIELDCHECK_DATABASE_URL); to start a new database on "
            "purpose: fieldcheck --create ..."
        )
    if url.startswith("sqlite"):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = db.make_engine(url)
    if upgrade:
        try:
            db.upgrade(engine)
        except db.SchemaError as exc:
            engine.dispose()
            raise ConfigError(str(exc)) from None
    return settings, engine


def open_session():
    """(settings, Session) for a CLI command, or exit 2 with the reason (never a new empty
    database unless --create): the one way commands open the database."""
    import typer
    from sqlmodel import Session

    try:
        settings, engine = open_database()
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings, Session(engine, expire_on_commit=False)
