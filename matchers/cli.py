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
    directory: Path = typer.Argument(
        ..., help="Folder of <finger>_<impression>.<ext> prints, or a folder of such folders."
    ),
    ppi: int = typer.Option(500, "--ppi", help="Scan resolution of the prints."),
    baseline: str | None = typer.Option(
        None, "--baseline", help="'nbis': score with bozorth3 too."
    ),
    det: Path | None = typer.Option(
        None, "--det", help="Folder for the DET curve PNGs (<set>_det.png; default: none)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object last."),
    cache: Path | None = typer.Option(
        None, "--cache",
        help="Folder of cached minutiae (.npz per set), reused when made by this extractor "
        "from the same files.",
    ),
) -> None:
    """FVC protocol per set and their mean: EER, FMR100, FMR1000, rank-1 (MCC; NBIS beside
    with --baseline nbis, and the ratio of EERs)."""
    if baseline not in (None, "nbis"):
        raise typer.BadParameter("only 'nbis' is available as a baseline")
    try:
        report = evaluation.evaluate_fingerprint_sets(
            directory, ppi=ppi, baseline=baseline == "nbis", det_dir=det, cache=cache
        )
    except evaluation.MatcherError as exc:
        raise typer.BadParameter(str(exc), param_hint="DIRECTORY") from exc
    _fingerprint_table(report)
    if as_json:
        _emit(report, as_json)


def _fingerprint_table(report: dict) -> None:
    """Per-set EERs (and NBIS beside them) as a table; the JSON has the same numbers."""
    from rich.console import Console
    from rich.table import Table

    nbis = "mean_nbis_eer" in report
    table = Table(
        "set", "prints", "FTE", "EER", "FMR1000", "rank-1",
        *(("NBIS EER", "EER / NBIS") if nbis else ()),
        title=f"FVC protocol, {report['extractor']}",
    )
    for r in report["sets"]:
        table.add_row(
            r["set"], str(r["prints"]), str(r["failed_to_enrol"]), f"{r['eer']:.2%}",
            f"{r['fmr1000']:.2%}", f"{r['rank1']:.2%}",
            *((f"{r['nbis_eer']:.2%}", f"{r['eer_over_nbis']:.3f}") if nbis else ()),
        )
    table.add_row(
        "mean", "", "", f"{report['mean_eer']:.2%}", f"{report['mean_fmr1000']:.2%}",
        f"{report['mean_rank1']:.2%}",
        *((f"{report['mean_nbis_eer']:.2%}", f"{report['mean_eer_over_nbis']:.3f}")
          if nbis else ()),
    )
    Console(width=120).print(table)
    if nbis:
        Console(width=120).print(f"worst set EER / NBIS: {report['worst_eer_over_nbis']:.3f}")


@evaluate_app.command("faces")
def evaluate_faces(
    directory: Path = typer.Argument(..., help="Folder of <identity>/<images>."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object last."),
    seed: int = typer.Option(7, "--seed", help="Seed of the impostor pair sample."),
    open_set: bool = typer.Option(
        False, "--open-set",
        help="Open-set 1:N: FNIR at FPIR 1e-1/1e-2/1e-3, the gateway's hit/possible answers, DET.",
    ),
    det: Path | None = typer.Option(
        None, "--det", help="Open-set DET plot PNG (default <dir>_open_set_det.png)."
    ),
    cache: Path | None = typer.Option(
        None, "--cache", help="Embeddings .npz reused when made by this model for these files."
    ),
    split_half: bool = typer.Option(
        False, "--split-half",
        help="Open-set: fit the face table on half the identities, report on the other half.",
    ),
) -> None:
    """Verification (EER, FNMR at the calibrated FMRs, rank-1, failures to enrol) or, with
    --open-set, open-set identification as NIST FRTE reports it."""
    if open_set:
        report = evaluation.evaluate_faces_open_set(
            directory, cache=cache, det_png=det or Path(f"{directory.name}_open_set_det.png"),
            split_half=split_half,
        )
        if not as_json:
            _open_set_table(report)
            return
        _emit(report, as_json)
        return
    _emit(evaluation.evaluate_faces(directory, seed=seed, cache=cache), as_json)


def _open_set_table(report: dict) -> None:
    """The open-set report as a table (the JSON has the same numbers)."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]{report['set']}[/]: gallery N = {report['gallery_subjects']} subjects "
        f"({report['gallery_mated_identities']} mated + {report['gallery_distractors']} "
        f"distractors), {report['mated_searches']} mated and {report['non_mated_searches']} "
        f"non-mated searches, {report['failed_to_enrol']} failures to enrol"
    )
    det = Table("FPIR", "FNIR", "threshold", "non-mated above", title="FNIR at FPIR (rank 1)")
    for fpir, row in report["fnir_at_fpir"].items():
        det.add_row(fpir, f"{row['fnir']:.2%}", f"{row['threshold']:.3f}",
                    str(row["non_mated_above"]))
    console.print(det)
    rule = Table("searches", "hit", "possible", "hit or possible", "wrong subject (hit/possible)",
                 title="Answered by the gateway's decision rule")
    m, n = report["gateway_mated"], report["gateway_non_mated"]
    rule.add_row(f"mated ({m['searches']})", f"{m['hit']:.2%}", f"{m['possible']:.2%}",
                 f"{m['hit_or_possible']:.2%}",
                 f"{m['hit_wrong_subject']:.2%} / {m['possible_wrong_subject']:.2%}")
    rule.add_row(f"non-mated ({n['searches']})", f"{n['hit']:.2%}", f"{n['possible']:.2%}",
                 f"{n['hit_or_possible']:.2%}", "-")
    console.print(rule)
    console.print(f"rank-1 (mated): {report['rank1_mated']:.2%}; hit needs score >= "
                  f"{report['hit_score']:.3f}, possible >= {report['possible_score']:.3f}; "
                  f"DET: {report.get('det_png')}")


def _fingerprint_bench_table(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        "search", "rank-1", "recall@300", "recall@1000", "p50 ms", "p95 ms",
        title=f"1:N, {report['gallery']:,} templates ({report['synthetic']:,} synthetic), "
        f"{report['probes']} real probes",
    )
    table.add_row(
        "finger position given", f"{report['rank1']:.2%}", f"{report['recall_at_300']:.2%}",
        f"{report['recall_at_1000']:.2%}", str(report["p50_ms"]), str(report["p95_ms"]),
    )
    table.add_row(
        "position unknown", f"{report['rank1_unknown_position']:.2%}",
        f"{report['recall_at_300_unknown_position']:.2%}",
        f"{report['recall_at_1000_unknown_position']:.2%}",
        str(report["unknown_position_p50_ms"]), str(report["unknown_position_p95_ms"]),
    )
    Console(width=120).print(table)
    Console(width=120).print(
        f"peak RSS {report['peak_rss_mb']:,} MB (now {report['rss_mb']:,}); gallery "
        f"{'built' if report['gallery_built_this_run'] else 'loaded'} in "
        f"{report['gallery_seconds']} s; load average {report['load_avg']}"
    )


def register_bench(bench_app: typer.Typer) -> None:
    """Add the matcher benchmarks (fingerprint, face) to the ``bench`` group."""
    from matchers import bench

    @bench_app.command("fingerprint")
    def bench_fingerprint(
        gallery: int = typer.Option(
            100_000, "--gallery", help="Distinct synthetic templates in the gallery."
        ),
        cache: Path = typer.Option(
            Path(".cache/bench"), "--cache",
            help="Folder where the synthetic gallery (and the FVC minutiae) are kept between "
            "runs; reused only when made by the same generator and parameters.",
        ),
        no_cache: bool = typer.Option(False, "--no-cache", help="Build everything afresh."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Fingerprint 1:N: rank-1 of real FVC probes among N distinct synthetic templates,
        the shortlist's recall at 300/1,000, p50/p95/p99 search time, peak RSS."""
        report = bench.bench_fingerprint(gallery=gallery, cache=None if no_cache else cache)
        _fingerprint_bench_table(report)
        if as_json:
            _emit(report, as_json)

    @bench_app.command("face-extract")
    def bench_face_extract(
        photos: int = typer.Option(100, "--photos", help="250 x 250 LFW photos timed."),
        repeats: int = typer.Option(3, "--repeats", help="Times each photo is extracted."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Face extraction latency: 250 x 250 LFW photos and 1080p frames (p50/p95/p99)."""
        report = bench.bench_face_extract(photos=photos, repeats=repeats)
        if not as_json:
            for name in ("lfw_250x250", "lfw_250x250_cpu", "full_hd_1920x1080",
                         "full_hd_1920x1080_cpu"):
                row = report[name]
                typer.echo(f"{name:>18}: p50 {row['p50_ms']} ms, p95 {row['p95_ms']} ms, "
                           f"p99 {row['p99_ms']} ms")
            typer.echo(f"load average {report['load_average_1min']}")
            return
        _emit(report, as_json)

    @bench_app.command("face")
    def bench_face(
        gallery: int = typer.Option(
            50_000, "--gallery",
            help="Synthetic gallery size (the scale goal is measured with --gallery 1000000).",
        ),
        probes: int = typer.Option(200, "--probes", help="Probes searched (>= 100)."),
        batch: int = typer.Option(64, "--batch", help="Probes per batched search."),
        as_json: bool = typer.Option(False, "--json"),
    ) -> None:
        """Face 1:N: build, peak RSS, p50/p95/p99 beside a plain memory scan, batch throughput."""
        _emit(bench.bench_face(gallery=gallery, probes=probes, batch=batch), as_json)
