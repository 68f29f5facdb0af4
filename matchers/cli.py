"""CLI commands of the matchers: ``fieldcheck evaluate ...`` and ``fieldcheck bench fingerprint|face``.

Owned by the matchers work (issue 7). ``gateway.cli`` mounts ``evaluate_app`` and calls
``register_bench(bench_app)``.
"""

from __future__ import annotations

import typer

evaluate_app = typer.Typer(help="Measure matcher accuracy on a folder of real images.", no_args_is_help=True)


def register_bench(bench_app: typer.Typer) -> None:
    """Add the matcher benchmarks (fingerprint, face) to the ``bench`` group."""
