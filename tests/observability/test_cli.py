"""The fieldcheck command as an operator uses it: where its database is, a config file, --json,
--version, clean help, and no new empty database made by a command run from the wrong folder."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

ISOLATED = ("FIELDCHECK_DATA_DIR", "FIELDCHECK_COUNTRY", "FIELDCHECK_CONFIG",
            "FIELDCHECK_DATABASE_URL", "FIELDCHECK_LOG_FORMAT", "FIELDCHECK_UPSTREAM_POLICY",
            "FIELDCHECK_MAX_UPLOAD_MB")
# Commands that print no result of their own (servers, interactive runs) need no --json.
NO_RESULT = {("serve",), ("central-stub",)}
# Commands whose only output is already one JSON document (no text form to switch from).
JSON_ONLY = {("privacy", "export"), ("privacy", "erase")}


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner in an empty folder; the FIELDCHECK_ variables the CLI sets are restored after."""
    from gateway.settings import get_settings

    for name in ISOLATED:
        # setenv first: delenv of an absent name records nothing, so a value the CLI sets
        # (e.g. from a config file) would outlive the test and reach later gateways.
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _run(runner: CliRunner, args: list[str], **kw):  # type: ignore[no-untyped-def]
    from gateway.cli import app

    return runner.invoke(app, args, catch_exceptions=False, **kw)


def _flat(output: str) -> str:
    return " ".join(output.split())  # rich wraps error lines at the terminal width


def _last_json(output: str):  # type: ignore[no-untyped-def]
    return json.loads(output.strip().splitlines()[-1])


def test_version(cli: CliRunner) -> None:
    result = _run(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == "fieldcheck 0.1.0"


@pytest.mark.parametrize("args", [["token", "list"], ["watchlist", "status"], ["user", "list"],
                                  ["token", "create", "--role", "device", "--name", "x"],
                                  ["privacy", "purge"], ["privacy", "reencrypt"],
                                  ["watchlist", "reextract"]])
def test_no_new_database_from_the_wrong_folder(cli: CliRunner, tmp_path: Path,
                                               args: list[str]) -> None:
    result = _run(cli, args)
    assert result.exit_code == 2, result.output
    assert "no FieldCheck database" in _flat(result.output) and "--data-dir" in result.output
    assert not (tmp_path / "fieldcheck-data").exists()  # nothing was created


def test_create_on_purpose_then_full_ids_and_revoke(cli: CliRunner, tmp_path: Path) -> None:
    data = tmp_path / "gw-data"
    created = _run(cli, ["--data-dir", str(data), "--create", "token", "create", "--role",
                         "device", "--name", "SEEK-" + "X" * 60, "--json"])
    assert created.exit_code == 0, created.output
    token = _last_json(created.output)
    assert token["id"] and token["token"] and token["role"] == "device"
    assert (data / "fieldcheck.db").is_file()

    listed = _run(cli, ["--data-dir", str(data), "token", "list", "--json"])
    ids = [row["id"] for row in _last_json(listed.output)]
    assert token["id"] in ids
    # the table at 60 columns still shows every id whole (it used to end in "…")
    table = _run(cli, ["--data-dir", str(data), "token", "list"], env={"COLUMNS": "60"})
    assert table.exit_code == 0 and token["id"] in table.output.replace("\n", "")
    shown = next(word for line in table.output.splitlines() for word in line.split()
                 if word.startswith(token["id"][:6]))
    revoked = _run(cli, ["--data-dir", str(data), "token", "revoke", shown, "--json"])
    assert revoked.exit_code == 0, revoked.output
    assert _last_json(revoked.output)["id"] == token["id"]
    after = _last_json(_run(cli, ["--data-dir", str(data), "token", "list", "--json"]).output)
    assert next(r for r in after if r["id"] == token["id"])["revoked_at"]


def test_config_file_and_its_precedence(cli: CliRunner, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    conf_dir = tmp_path / "etc"
    conf_dir.mkdir()
    config = conf_dir / "fieldcheck.toml"
    # a relative data_dir is relative to the file, not to the current folder
    config.write_text('data_dir = "state"\ncountry = "KE"\n[upstream]\npolicy = "hits"\n')
    first = _run(cli, ["--config", str(config), "--create", "watchlist", "status", "--json"])
    assert first.exit_code == 0, first.output
    status = _last_json(first.output)
    assert status["country"] == "KE"
    assert (conf_dir / "state" / "fieldcheck.db").is_file()
    assert os.environ["FIELDCHECK_UPSTREAM_POLICY"] == "hits"  # [upstream] reaches its settings

    # the environment beats the file ...
    monkeypatch.setenv("FIELDCHECK_COUNTRY", "TZ")
    from gateway.settings import get_settings

    get_settings.cache_clear()
    second = _run(cli, ["--config", str(config), "watchlist", "status", "--json"])
    assert _last_json(second.output)["country"] == "TZ"
    # ... and --data-dir beats both: an empty folder there, so it refuses
    other = tmp_path / "elsewhere"
    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(conf_dir / "state"))
    third = _run(cli, ["--config", str(config), "--data-dir", str(other), "watchlist", "status"])
    assert third.exit_code == 2 and str(other) in third.output.replace("\n", "").replace(" ", "")


def test_config_file_errors_name_the_file_and_key(cli: CliRunner, tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text('data_dri = "x"\n')
    result = _run(cli, ["--config", str(config), "token", "list"])
    assert result.exit_code == 2
    assert "unknown setting 'data_dri'" in _flat(result.output) and "bad.toml" in result.output
    config.write_text("data_dir = \n")
    assert "not valid TOML" in _flat(_run(cli, ["--config", str(config), "token", "list"]).output)
    missing = _run(cli, ["--config", str(tmp_path / "none.toml"), "token", "list"])
    assert missing.exit_code == 2 and "does not exist" in _flat(missing.output)


def _commands():  # type: ignore[no-untyped-def]
    import typer

    from gateway.cli import app

    def walk(command, path):  # type: ignore[no-untyped-def]
        yield path, command
        for name, sub in getattr(command, "commands", {}).items():
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


def test_help_texts_have_no_raw_markup(cli: CliRunner) -> None:
    checked = 0
    for path, _command in _commands():
        result = _run(cli, [*path, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, path
        assert "`" not in result.output, (path, [x for x in result.output.splitlines()
                                                  if "`" in x])
        checked += 1
    assert checked > 20


def test_every_command_that_prints_a_result_has_json(cli: CliRunner) -> None:
    missing = [
        " ".join(path) for path, command in _commands()
        if path and not hasattr(command, "commands") and path not in NO_RESULT | JSON_ONLY
        and not any("--json" in getattr(p, "opts", ()) for p in command.params)
    ]
    assert not missing, missing


def test_option_help_says_what_the_options_are(cli: CliRunner) -> None:
    result = _run(cli, ["watchlist", "import", "--help"], env={"COLUMNS": "200"})
    assert "worker processes" in result.output and "threads" not in result.output
    for args, option, limit in ((["bench", "face", "--help"], "--gallery", 100_000),
                                (["bench", "startup", "--help"], "--faces", 100_000)):
        text = _run(cli, args, env={"COLUMNS": "200"}).output
        line = next(x for x in text.splitlines() if option in x)
        default = int(line.split("[default:")[1].split("]")[0].strip())
        assert default <= limit, (args, default)
