"""Scenario files: strict keys, impossible values refused with the key's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulator.scenario import ScenarioError, load_scenario, parse_scenario

GOOD = """
name = "t"
duration_s = 60
[gateway]
url = "http://127.0.0.1:1"
admin_token = "x"
[central]
admin_url = "http://127.0.0.1:2"
[fleet]
devices = { multipart = 1, ansi-nist = 2 }
checks_per_device_per_min = 3
[captures]
modalities = { finger = 1.0 }
quality = { good = 0.8, poor = 0.2 }
[[faults]]
kind = "central_outage"
start_s = 10
end_s = 20
"""


def test_good_scenario(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text(GOOD)
    s = load_scenario(path)
    assert s.device_count == 3 and s.faults[0].kind == "central_outage"
    assert s.quality == {"good": 0.8, "poor": 0.2}


@pytest.mark.parametrize(("doc", "key"), [
    ({"durtion_s": 5}, "durtion_s"),
    ({"fleet": {"devices": {"multipart": 1}, "rate": 2}}, "fleet.rate"),
    ({"fleet": {"devices": {"palm-reader": 1}}}, "fleet.devices.palm-reader"),
    ({"duration_s": -1}, "duration_s"),
    ({"duration_s": "long"}, "duration_s"),
    ({"population": {"enrolled_share": 1.5}}, "population.enrolled_share"),
    ({"captures": {"quality": {"good": 0.5, "poor": 0.2}}}, "captures.quality"),
    ({"captures": {"modalities": {"face": 1.0}}}, "captures.modalities"),
    ({"faults": [{"kind": "central_outage", "start_s": 20, "end_s": 10}]}, "faults[0].end_s"),
    ({"faults": [{"kind": "meteor", "start_s": 1, "end_s": 2}]}, "faults[0].kind"),
    ({"faults": [{"kind": "central_outage", "start_s": 1, "end_s": 2}]}, "central.admin_url"),
    ({"gateway": {"url": "ftp://x"}}, "gateway.url"),
    ({"population": {"faces": "/no/such/folder"}}, "population.faces"),
])
def test_bad_scenarios_name_the_key(doc: dict, key: str) -> None:
    with pytest.raises(ScenarioError) as info:
        parse_scenario(doc)
    assert info.value.key == key
    assert key in str(info.value)


def test_invalid_toml_is_a_scenario_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text("name = \n")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        load_scenario(path)


def test_example_scenarios_are_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FIELDCHECK_ADMIN_TOKEN", "x")
    root = Path(__file__).resolve().parents[2] / "scenarios"
    paths = sorted(root.glob("*.toml"))
    assert len(paths) >= 2
    loaded = 0
    for path in paths:
        try:
            scenario = load_scenario(path)
        except ScenarioError as exc:
            if exc.key != "population.faces":  # the shared face folder may be absent
                raise
            continue
        loaded += 1
        assert scenario.duration_s > 0 and sum(scenario.devices.values()) > 0
        assert set(scenario.devices) <= {"multipart", "ansi-nist", "mosip-sbi", "seek-avenger"}
        assert all(0 <= f.start_s < f.end_s <= scenario.duration_s for f in scenario.faults)
    assert loaded >= 1


def _cli():  # type: ignore[no-untyped-def]
    import typer

    from simulator.cli import register

    app = typer.Typer()
    register(app)

    @app.command("noop")
    def _noop() -> None:  # a second command keeps typer from flattening the app
        """Placeholder."""

    return app


def test_cli_refuses_a_bad_scenario_naming_the_key(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    path = tmp_path / "s.toml"
    path.write_text('[fleet]\ncheks_per_device_per_min = 3\n')
    result = CliRunner().invoke(_cli(), ["simulate", str(path)])
    assert result.exit_code == 2
    assert "fleet.cheks_per_device_per_min" in result.output
    assert "Traceback" not in result.output


def test_cli_unreachable_gateway_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    from typer.testing import CliRunner

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = CliRunner().invoke(_cli(), [
        "simulate", "--gateway", f"http://127.0.0.1:{port}", "--token", "x", "--devices", "1",
        "--checks", "1", "--report", str(tmp_path),
    ])
    assert result.exit_code == 3
    assert "unreachable" in result.output and "Traceback" not in result.output
