"""One nested ``Settings``: the central link's settings inside it, validated before ``serve``
starts (exit 2, naming what to fix), and honoured when injected into ``create_app``."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import ADMIN_TOKEN


@pytest.fixture()
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    """A runner in an empty folder with no FIELDCHECK_ variable of the caller's."""
    from gateway.settings import get_settings

    for name in [n for n in os.environ if n.startswith("FIELDCHECK_")]:
        monkeypatch.delenv(name)
    # the CLI writes config-file values into the environment: make them restorable
    for name in ("FIELDCHECK_UPSTREAM_POLICY", "FIELDCHECK_DATA_DIR", "FIELDCHECK_CONFIG"):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FIELDCHECK_ADMIN_TOKEN", ADMIN_TOKEN)
    get_settings.cache_clear()
    yield CliRunner()
    get_settings.cache_clear()


def _serve(runner: CliRunner, args: list[str] | None = None):  # type: ignore[no-untyped-def]
    from gateway.cli import app

    return runner.invoke(app, [*(args or []), "--data-dir", "gw", "serve", "--port", "9"],
                         catch_exceptions=False)


def _flat(output: str) -> str:
    return " ".join(output.split())


def test_a_bad_policy_makes_serve_refuse_at_once_in_a_real_process(tmp_path: Path) -> None:
    """Before: the policy was read inside the lifespan, after the database, cache and model
    warm-up, and the process died with uvicorn's start-up traceback."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FIELDCHECK_")}
    env.update(FIELDCHECK_DATA_DIR=str(tmp_path / "data"), FIELDCHECK_ADMIN_TOKEN=ADMIN_TOKEN,
               FIELDCHECK_UPSTREAM_POLICY="hitz", COLUMNS="200")
    fieldcheck = Path(sys.executable).parent / "fieldcheck"
    result = subprocess.run([str(fieldcheck), "serve", "--port", "9"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    err = _flat(result.stderr)
    assert "cannot start" in err and "FIELDCHECK_UPSTREAM_POLICY" in err, err
    assert "'all', 'hits' or 'purpose:" in err and "Traceback" not in result.stderr
    assert not (tmp_path / "data" / "fieldcheck.db").exists()  # refused before the database


@pytest.mark.parametrize(("env", "expected"), [
    ({"FIELDCHECK_UPSTREAM_POLICY": "purpose:border_entry"},
     ["FIELDCHECK_UPSTREAM_POLICY", "'border_entry'", "write it as configured: 'border entry'"]),
    ({"FIELDCHECK_UPSTREAM_POLICY": "purpose:spying"},
     ["FIELDCHECK_UPSTREAM_POLICY", "'spying'", "FIELDCHECK_CHECK_PURPOSES", "patrol"]),
    ({"FIELDCHECK_UPSTREAM_LEASE_S": "5"},
     ["FIELDCHECK_UPSTREAM_LEASE_S=5 must exceed one delivery attempt", "13 s"]),
    ({"FIELDCHECK_UPSTREAM_BACKOFF_MAX_S": "0.5", "FIELDCHECK_UPSTREAM_BACKOFF_BASE_S": "2"},
     ["FIELDCHECK_UPSTREAM_BACKOFF_MAX_S=0.5 is below"]),
    ({"FIELDCHECK_UPSTREAM_WORKERS": "0"}, ["FIELDCHECK_UPSTREAM_WORKERS", "greater than"]),
    ({"FIELDCHECK_UPSTREAM_CLIENT_CERT": "/etc/hostname"},
     ["both FIELDCHECK_UPSTREAM_CLIENT_CERT and FIELDCHECK_UPSTREAM_CLIENT_KEY"]),
    ({"FIELDCHECK_UPSTREAM_URL": "central.example.org"},
     ["FIELDCHECK_UPSTREAM_URL", "http:// or https:// URL"]),
    ({"FIELDCHECK_UPSTREAM_URL": "https://user:pw@central.example.org"},
     ["FIELDCHECK_UPSTREAM_URL", "must not carry a user or password"]),
    ({"FIELDCHECK_COUNTRY": "Mauritius"}, ["FIELDCHECK_COUNTRY", "ISO 3166"]),
    # Refused for another reason before the credentials rule: the message quoted the whole URL
    # with its password (review finding).
    ({"FIELDCHECK_UPSTREAM_URL": "ftp://user:pw@central.example:99x"},
     ["FIELDCHECK_UPSTREAM_URL", "not a URL", "central.example:99x"]),
    ({"FIELDCHECK_UPSTREAM_URL": "ftp://user:pw@central.example:99"},
     ["FIELDCHECK_UPSTREAM_URL", "http:// or https:// URL", "central.example:99"]),
    ({"FIELDCHECK_UPSTREAM_URL": "ftp://user:p@w@central.example:99x"},
     ["FIELDCHECK_UPSTREAM_URL", "not a URL"]),
])
def test_unsafe_or_malformed_values_are_refused_in_the_preflight(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    env: dict[str, str], expected: list[str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    result = _serve(cli)
    assert result.exit_code == 2, result.output
    out = _flat(result.output)
    assert "cannot start" in out and "Traceback" not in out
    for text in expected:
        assert text in out, out
    assert "user:pw" not in out and "user:p@w" not in out  # a URL's credentials never echoed
    assert not (tmp_path / "gw").exists()


def test_a_bad_upstream_value_in_the_config_file_names_the_file(
    cli: CliRunner, tmp_path: Path
) -> None:
    config = tmp_path / "fc.toml"
    config.write_text('[upstream]\npolicy = "hits only"\n')
    result = _serve(cli, ["--config", str(config)])
    assert result.exit_code == 2, result.output
    out = _flat(result.output)
    assert "FIELDCHECK_UPSTREAM_POLICY" in out and "'hits only'" in out, out
    assert str(config) in result.output.replace("\n", ""), out


def test_mutual_tls_files_are_opened_before_start(cli: CliRunner, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "client.pem", tmp_path / "client.key"
    cert.write_text("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n")
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_URL", "https://central.example.org")
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_CLIENT_CERT", str(cert))
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_CLIENT_KEY", str(key))

    key.chmod(0o644)
    world = _serve(cli)
    assert world.exit_code == 2
    assert "readable by every user" in _flat(world.output) and "chmod 600" in world.output

    key.chmod(0o600)
    malformed = _serve(cli)
    assert malformed.exit_code == 2
    assert "cannot be loaded" in _flat(malformed.output)

    key.unlink()
    missing = _serve(cli)
    assert missing.exit_code == 2
    assert "FIELDCHECK_UPSTREAM_CLIENT_KEY" in _flat(missing.output) and "is not a file" in (
        _flat(missing.output))
    assert not (tmp_path / "gw").exists()


def test_the_nested_settings_read_the_documented_variables(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from gateway.settings import Settings

    monkeypatch.setenv("FIELDCHECK_UPSTREAM_POLICY", "purpose:patrol")
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_WORKERS", "7")
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_URL", "https://central.example.org")
    settings = Settings(data_dir=tmp_path)
    assert settings.upstream.policy == "purpose:patrol" and settings.upstream.workers == 7
    assert settings.upstream_url == "https://central.example.org"


def test_create_app_honours_injected_upstream_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Before: the lifespan built ``UpstreamSettings()`` from the environment, ignoring what the
    caller passed; here the environment says ``all`` and the injected settings say ``hits``."""
    from device_adapters.capture import Capture
    from gateway.checks.models import Check
    from gateway.settings import Settings
    from gateway.upstream.settings import UpstreamSettings
    from tests.conftest import LiveGateway

    monkeypatch.setenv("FIELDCHECK_UPSTREAM_POLICY", "all")
    injected = UpstreamSettings(policy="hits", workers=1, feed_interval_s=3600)
    with LiveGateway(tmp_path / "gw", start_upstream=True, upstream=injected,
                     upstream_url="http://127.0.0.1:9") as gw:
        service = gw.runtime.upstream
        assert service.upstream is injected
        assert isinstance(gw.settings, Settings) and gw.settings.upstream is injected
        templates = {"faces": [[0.0]], "fingers": {}}
        quiet = Check(device_id="d", purpose="patrol", decision="no_hit",
                      local_decision="no_hit", response={})
        loud = Check(device_id="d", purpose="patrol", decision="hit", local_decision="hit",
                     response={})
        capture = Capture(purpose="patrol")
        assert not service.forwards(quiet, capture, templates)  # "all" would forward it
        assert service.forwards(loud, capture, templates)
