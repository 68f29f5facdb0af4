"""The simulator's terminal summary shows false possibles beside false hits."""

from __future__ import annotations

from rich.console import Console

from simulator.report import summary_table


def test_summary_shows_false_possibles() -> None:
    report = {
        "scenario": "t", "duration_s": 60, "devices": 2, "wall_s": 61.0,
        "sent": 10, "acknowledged": 10, "late": 0, "lost": 0, "errors": 0, "true_hits": 4,
        "false_hits": 0, "false_possibles": 3, "misses": 1, "true_negatives": 2,
        "recaptures": 0, "latency_ms": {"p50": 300.0, "p95": 500.0, "p99": 600.0},
        "upstream": {"max_queue_depth": 2, "final_status": {"completed": 10}},
    }
    console = Console(record=True, width=120)
    console.print(summary_table(report))
    text = console.export_text()
    line = next(x for x in text.splitlines() if "false possibles" in x)
    assert line.rstrip(" │|").split()[-1] == "3"
