"""deploy/: the compose file, the systemd unit and the Grafana dashboard are checked against the
real command line and a real gateway's metrics; docker compose and systemd-analyze validate them
where those tools exist (skipped cleanly otherwise)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.conftest import LiveGateway

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
UNIT = DEPLOY / "fieldcheck.service"
SECRETS = {"FIELDCHECK_PG_PASSWORD": "pw-for-config-check", "FIELDCHECK_ADMIN_TOKEN": "a" * 40,
           "FIELDCHECK_METRICS_TOKEN": "m" * 40}


def _parse_cli(args: list[str]) -> None:
    """Parse ``fieldcheck ARGS`` with the real command tree (options must exist) without
    running it; raises click's usage error otherwise."""
    import typer

    from gateway.cli import app

    command = typer.main.get_command(app)
    def rest(ctx) -> list[str]:  # type: ignore[no-untyped-def]
        protected = getattr(ctx, "_protected_args", None) or getattr(ctx, "protected_args", None)
        return [*(protected or []), *ctx.args]

    ctx = command.make_context("fieldcheck", list(args))
    while getattr(command, "commands", None) and rest(ctx):
        name, *tail = rest(ctx)
        sub = command.commands[name]  # type: ignore[attr-defined]
        ctx = sub.make_context(name, tail, parent=ctx)
        command = sub
    assert not getattr(command, "commands", None), "the arguments name no command"


def test_compose_wires_gateway_postgres_and_stub() -> None:
    doc = yaml.safe_load(COMPOSE.read_text())
    services = doc["services"]
    assert set(services) == {"gateway", "postgres", "central-stub"}
    gateway = services["gateway"]
    env = gateway["environment"]
    assert "@postgres:5432/" in env["FIELDCHECK_DATABASE_URL"]
    assert env["FIELDCHECK_DATABASE_URL"].startswith("postgresql+psycopg://")
    stub_command = services["central-stub"]["command"]
    assert stub_command[0] == "fieldcheck"
    _parse_cli(stub_command[1:])
    stub_port = stub_command[stub_command.index("--port") + 1]
    assert env["FIELDCHECK_UPSTREAM_URL"] == f"http://central-stub:{stub_port}"
    assert env["FIELDCHECK_METRICS_TOKEN"] and env["FIELDCHECK_LOG_FORMAT"] == "json"
    # published on the host's loopback only
    assert all(str(p).startswith("127.0.0.1:") for p in gateway["ports"])
    assert gateway["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert gateway["depends_on"]["central-stub"]["condition"] == "service_healthy"
    from gateway.settings import Settings
    from gateway.upstream.settings import UpstreamSettings

    known = {f"FIELDCHECK_{k.upper()}" for k in Settings.model_fields} | {
        f"FIELDCHECK_UPSTREAM_{k.upper()}" for k in UpstreamSettings.model_fields}
    assert set(env) <= known, set(env) - known  # no misspelt setting


def test_docker_compose_config_validates() -> None:
    docker = shutil.which("docker")
    if docker is None or subprocess.run([docker, "compose", "version"], capture_output=True,
                                         timeout=60).returncode != 0:
        pytest.skip("docker compose is not installed")
    result = subprocess.run([docker, "compose", "-f", str(COMPOSE), "config", "--quiet"],
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, **SECRETS})
    assert result.returncode == 0, result.stderr


def _exec_start() -> list[str]:
    line = next(x for x in UNIT.read_text().splitlines() if x.startswith("ExecStart="))
    return shlex.split(line.split("=", 1)[1])


def test_systemd_unit_runs_a_real_command_line() -> None:
    argv = _exec_start()
    assert argv[0].endswith("/fieldcheck") and argv[1:].count("serve") == 1
    _parse_cli(argv[1:])
    text = UNIT.read_text()
    assert "KillSignal=SIGTERM" in text and "Restart=on-failure" in text
    assert "--host 127.0.0.1" in " ".join(argv)


def test_systemd_analyze_verify() -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        pytest.skip("systemd-analyze is not installed")
    # The unit names the installed path; point it at this checkout's command for the check.
    here = Path(sys.prefix) / "bin" / "fieldcheck"
    if not here.exists():
        pytest.skip("the fieldcheck script is not installed in this environment")
    unit = Path(os.environ.get("TMPDIR", "/tmp")) / f"fieldcheck-verify-{os.getpid()}.service"
    unit.write_text(UNIT.read_text().replace(_exec_start()[0], str(here)))
    try:
        result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True,
                                timeout=120)
    finally:
        unit.unlink()
    assert result.returncode == 0, result.stderr
    # warnings (unknown keys, bad values) do not fail verify: any line about the unit does
    problems = [x for x in result.stderr.splitlines() if unit.name in x]
    assert not problems, problems


def test_dashboard_queries_only_metrics_a_gateway_serves(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    dashboard = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    used = set(re.findall(r"\bfieldcheck_[a-z_]+", " ".join(exprs)))
    assert len(used) >= 10
    # a real gateway with its central link (bundled stub, small population) running
    monkeypatch.setenv("FIELDCHECK_UPSTREAM_STUB_SUBJECTS", "20")
    with LiveGateway(tmp_path, start_upstream=True, metrics_public=True) as gw:
        deadline = __import__("time").monotonic() + 120
        while gw.runtime.upstream.worker is None and __import__("time").monotonic() < deadline:
            __import__("time").sleep(0.2)
        text = httpx.get(gw.url + "/metrics", timeout=30).text
    served = {line.split("{")[0].split()[0] for line in text.splitlines()
              if line and not line.startswith("#")}
    # histogram families appear once a check was observed: their HELP line names them
    described = {line.split()[2] for line in text.splitlines() if line.startswith("# TYPE")}

    def present(name: str) -> bool:
        base = re.sub(r"_(bucket|count|sum|total)$", "", name)
        return name in served or base in described or name in described

    missing = sorted(n for n in used if not present(n))
    assert not missing, missing
