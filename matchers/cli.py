"""CLI of the matchers: ``fieldcheck evaluate ...`` and ``fieldcheck bench fingerprint|face``.

Owned by the matchers work (issue 7). ``gateway.cli`` mounts ``evaluate_app`` and calls
``register_bench(bench_app)``. With ``--json`` the last line printed is one JSON object.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer

from matchers import evaluation

evaluate_app = typer.Typer(
    help="Measure matcher accuracy on a folder of real images.", no_args_is_help=True
)


def _emit(report: dict, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(report))
        return
    for key, value in report.items():
        if not isinstance(value, (list, dict)):
            typer.echo(f"{key:>22}: {value}")


@evaluate_app.command("fingerprints")
def evaluate_fingerprints(
    directory: Path = typer.Argument(..., help="Folder of <finger>_<impression>.<ext> prints."),
    ppi: int = typer.Option(500, "--ppi", help="Scan resolution of the prints."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="'nbis': score with bozorth3 too."
    ),
    det: Path | None = typer.Option(None, "--det", help="DET curve PNG (default <dir>_det.png)."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object last."),
) -> None:
    """FVC protocol: EER, FMR100, FMR1000, DET curve, rank-1 (MCC; NBIS beside with --baseline)."""
    if baseline not in (None, "nbis"):
        raise typer.BadParameter("only 'nbis' is available as a baseline")
    report = evaluation.evaluate_fingerprints(
        directory,
        ppi=ppi,
        baseline=baseline == "nbis",
        det_png=det or Path(f"{directory.name}_det.png"),
    )
    _emit(report, as_json)


@evaluate_app.command("faces")
def evaluate_faces(
    directory: Path = typer.Argument(..., help="Folder of <identity>/<images>."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object last."),
    seed: int = typer.Option(7, "--seed", help="Seed of the impostor pair sample."),
) -> None:
    """Verification accuracy at the calibrated threshold, EER, rank-1, failures to enrol."""
    _emit(evaluation.evaluate_faces(directory, seed=seed), as_json)


def register_bench(bench_app: typer.Typer) -> None:
    """Add the matcher benchmarks (fingerprint, face) to the ``bench`` group."""
    from matchers import bench

    @bench_app.command("fingerprint")
    def bench_fingerprint(
        gallery: int = typer.Option(100_000, "--gallery", help="Synthetic gallery size."),
        probes: int = typer.Option(200, "--probes", help="Genuine probes searched (>= 100)."),
        unique: int = typer.Option(
            20_000,
            "--unique",
            help="Distinct synthetic prints generated; the gallery cycles through them.",
        ),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Fingerprint 1:N: build time, peak RSS, p50/p95/p99, rank-1 of real genuine probes."""
        _emit(bench.bench_fingerprint(gallery=gallery, probes=probes, unique=unique), as_json)

    @bench_app.command("face")
    def bench_face(
        gallery: int = typer.Option(1_000_000, "--gallery", help="Synthetic gallery size."),
        probes: int = typer.Option(200, "--probes", help="Probes searched (>= 100)."),
        batch: int = typer.Option(64, "--batch", help="Probes per batched search."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Face 1:N: build, peak RSS, p50/p95/p99 beside a plain memory scan, batch throughput."""
        _emit(bench.bench_face(gallery=gallery, probes=probes, batch=batch), as_json)
