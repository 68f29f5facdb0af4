"""CLI commands of the simulator: ``fieldcheck synth ...`` and ``fieldcheck simulate``.

``gateway.cli`` mounts ``synth_app`` and calls ``register(app)`` to add ``simulate``. Heavy
imports (numpy, OpenCV, httpx) happen inside the commands so that ``fieldcheck --help`` stays fast.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

synth_app = typer.Typer(help="Generate synthetic test data.", no_args_is_help=True)
console = Console(stderr=True)


def _write_finger_job(job: tuple[Path, int, int, int, str]) -> int:
    from simulator import synth

    out, seed, finger, impressions, fmt = job
    return len(synth.write_finger(out, seed, finger, impressions, fmt))  # type: ignore[arg-type]


@synth_app.command("fingerprints")
def synth_fingerprints(
    fingers: int = typer.Option(10, min=1, max=100_000, help="number of fingers (101, 102, ...)"),
    impressions: int = typer.Option(8, min=1, max=100, help="impressions per finger"),
    out: Path = typer.Option(..., help="output folder (FVC layout <finger>_<impression>.<fmt>)"),
    seed: int = typer.Option(0, help="random seed: the same seed gives the same set"),
    fmt: str = typer.Option("png", "--format", help="png or wsq (both 500 ppi)"),
    workers: int = typer.Option(2, min=1, help="processes generating fingers in parallel"),
    json_out: bool = typer.Option(False, "--json", help="last line: one JSON object"),
) -> None:
    """Synthetic fingerprints (SFinGe method): masters per finger, K impressions of each."""
    from concurrent.futures import ProcessPoolExecutor

    from rich.progress import Progress

    if fmt not in ("png", "wsq"):
        console.print(f"[red]error:[/red] --format must be png or wsq, not {fmt!r}")
        raise typer.Exit(2)
    out.mkdir(parents=True, exist_ok=True)
    jobs = [(out, seed, f, impressions, fmt) for f in range(1, fingers + 1)]
    start = time.perf_counter()
    written = 0
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("fingers", total=fingers)
        if workers == 1:
            results = map(_write_finger_job, jobs)
            for n in results:
                written += n
                progress.advance(task)
        else:
            with ProcessPoolExecutor(workers) as pool:
                for n in pool.map(_write_finger_job, jobs):
                    written += n
                    progress.advance(task)
    elapsed = time.perf_counter() - start
    console.print(
        f"wrote {written} impressions of {fingers} fingers to {out} in {elapsed:.1f} s "
        f"({written / elapsed:.1f} impressions/s)"
    )
    if json_out:
        typer.echo(json.dumps({"impressions": written, "fingers": fingers, "out": str(out),
                               "elapsed_s": round(elapsed, 2)}))


@synth_app.command("faces")
def synth_faces(
    faces: Path = typer.Option(..., help="folder of <identity>/<photos>"),
    out: Path = typer.Option(..., help="output folder (<identity>/<photo>_v<k>.jpg)"),
    variants: int = typer.Option(3, min=1, max=100, help="captures per photo"),
    poor_share: float = typer.Option(0.0, min=0.0, max=1.0, help="share of poor captures"),
    seed: int = typer.Option(0, help="random seed"),
    json_out: bool = typer.Option(False, "--json", help="last line: one JSON object"),
) -> None:
    """Handheld-camera captures of a tester's face photos (scale, blur, light, JPEG, rotation)."""
    import numpy as np

    from simulator import faces as face_lib

    try:
        identities = face_lib.load_face_folder(faces)
    except (FileNotFoundError, ValueError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    rng = np.random.default_rng(seed)
    count = 0
    for ident in identities:
        (out / ident.name).mkdir(parents=True, exist_ok=True)
        for photo in ident.photos:
            for k in range(1, variants + 1):
                quality = "poor" if rng.random() < poor_share else "good"
                variation = face_lib.random_face_variation(rng, quality)
                data = face_lib.vary_face(photo.read_bytes(), variation)
                (out / ident.name / f"{photo.stem}_v{k}.jpg").write_bytes(data)
                count += 1
    console.print(f"wrote {count} face captures of {len(identities)} identities to {out}")
    if json_out:
        typer.echo(json.dumps({"captures": count, "identities": len(identities),
                               "out": str(out)}))


def simulate(
    scenario: Path | None = typer.Argument(None, help="scenario TOML file"),
    gateway: str | None = typer.Option(None, help="quick form: gateway URL"),
    token: str | None = typer.Option(
        None, envvar="FIELDCHECK_ADMIN_TOKEN", help="quick form: admin token"
    ),
    devices: int = typer.Option(4, min=1, max=1000, help="quick form: number of devices"),
    checks: int = typer.Option(40, min=1, help="quick form: total checks"),
    faces: Path | None = typer.Option(None, help="quick form: folder of <identity>/<photos>"),
    central: str | None = typer.Option(None, help="central stub URL (faults)"),
    rate: float = typer.Option(20.0, min=0.01, help="quick form: checks per device per minute"),
    seed: int = typer.Option(0, help="quick form: random seed"),
    report: Path = typer.Option(Path("simulation-report"), help="report folder"),
    workers: int = typer.Option(2, min=1, help="processes generating fingerprints"),
    json_out: bool = typer.Option(
        False, "--json", help="last line: the summary (counts, latency, central) as JSON"),
) -> None:
    """Run a fleet of virtual devices against a gateway and write a report.

    Either a scenario file (fieldcheck simulate SCENARIO.toml) or the quick form
    (--gateway URL --token T --devices N --checks M --faces DIR), which enrols half the
    identities, uses the other half as strangers, and gives every person synthetic fingerprints.
    """
    from rich.live import Live

    from simulator import report as report_lib
    from simulator.fleet import Fleet, GatewayUnreachable, SimulationError
    from simulator.scenario import ADAPTERS, ScenarioError, load_scenario, parse_scenario

    try:
        if scenario is not None:
            sc = load_scenario(scenario)
            if token and not sc.admin_token:
                from dataclasses import replace

                sc = replace(sc, admin_token=token)
        else:
            if gateway is None:
                console.print("[red]error:[/red] give a SCENARIO file or --gateway (quick form)")
                raise typer.Exit(2)
            per_kind = {
                k: devices // len(ADAPTERS) + (i < devices % len(ADAPTERS))
                for i, k in enumerate(ADAPTERS)
            }
            doc: dict = {
                "name": "quick",
                "seed": seed,
                "duration_s": max(60.0, 60.0 * checks / (devices * rate) * 1.5),
                "gateway": {"url": gateway},
                "fleet": {
                    "devices": {k: v for k, v in per_kind.items() if v},
                    "checks_per_device_per_min": rate,
                    "max_checks": checks,
                },
                "population": {"identities": 20, "enrolled_share": 0.5},
                "captures": {"modalities": {"finger": 1.0}},
            }
            if token:
                doc["gateway"]["admin_token"] = token
            if faces is not None:
                doc["population"]["faces"] = str(faces)
                doc["captures"]["modalities"] = {"finger": 0.4, "face": 0.2, "both": 0.4}
            if central:
                doc["central"] = {"admin_url": central}
            sc = parse_scenario(doc)
    except ScenarioError as exc:
        console.print(f"[red]error in scenario:[/red] {exc}")
        raise typer.Exit(2) from None

    state: dict = {}

    def render() -> str:
        if not state:
            return "preparing the population and the watchlist..."
        return (
            f"t={state['t']:.0f}/{state['duration_s']:.0f}s  sent {state['sent']}  "
            f"acknowledged {state['acknowledged']}  errors {state['errors']}  "
            f"in device outboxes {state['outbox']}  central queue {state['queue_depth']}"
        )

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    # Preparation (synthetic prints, enrolment) takes minutes: a bar per phase, then the
    # live run line.
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console)
    tasks: dict[str, Any] = {}

    def prepare(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bars.add_task(phase, total=total)
        bars.update(tasks[phase], completed=done, total=total)

    try:
        with Live(bars, console=console, refresh_per_second=2) as live:

            def progress(snapshot: dict) -> None:
                state.update(snapshot)
                live.update(render())

            result = Fleet(sc, workers=workers, on_progress=progress,
                           on_prepare=prepare).run()
    except GatewayUnreachable as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(3) from None
    except SimulationError as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(4) from None
    out = report_lib.write_report(result, report)
    report_lib.print_summary(out, console)
    console.print(f"report written to {report / 'report.json'}")
    if json_out:
        # The per-check list and time series stay in report.json; this is the summary.
        skip = {"checks", "device_list", "error_samples"}
        summary = {k: v for k, v in out.items() if k not in skip}
        summary["upstream"] = {k: v for k, v in out.get("upstream", {}).items()
                               if k != "queue_depth_over_time"}
        typer.echo(json.dumps(summary, default=str))


def register(app: typer.Typer) -> None:
    """Add top-level simulator commands (``simulate``) to the main app."""
    app.command("simulate")(simulate)
