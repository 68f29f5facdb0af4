"""CLI commands of the simulator: ``fieldcheck synth ...`` and ``fieldcheck simulate``.

Owned by the simulator work (issue 8). ``gateway.cli`` mounts ``synth_app`` and calls
``register(app)`` to add ``simulate``.
"""

from __future__ import annotations

import typer

synth_app = typer.Typer(help="Generate synthetic test data.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add top-level simulator commands (``simulate``) to the main app."""
