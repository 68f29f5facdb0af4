"""CLI commands of the simulator: ``fieldcheck synth ...`` and ``fieldcheck simulate``.

``gateway.cli`` mounts ``synth_app`` and calls ``register(app)`` to add ``simulate``. Heavy
imports (numpy, OpenCV, httpx) happen inside the commands so that ``fieldcheck --help`` stays fast.
"""

from __future__ import annotations

import time
from pathlib import Path

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


@synth_app.command("faces")
def synth_faces(
    faces: Path = typer.Option(..., help="folder of <identity>/<photos>"),
    out: Path = typer.Option(..., help="output folder (<identity>/<photo>_v<k>.jpg)"),
    variants: int = typer.Option(3, min=1, max=100, help="captures per photo"),
    poor_share: float = typer.Option(0.0, min=0.0, max=1.0, help="share of poor captures"),
    seed: int = typer.Option(0, help="random seed"),
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


def simulate() -> None:
    """Run a fleet of virtual devices against a gateway (scenario file or quick form)."""
    console.print("[red]error:[/red] the fleet runner is not built yet")
    raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    """Add top-level simulator commands (``simulate``) to the main app."""
    app.command("simulate")(simulate)
