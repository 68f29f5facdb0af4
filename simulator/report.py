"""The run report: numbers against the known truth, a terminal table and PNG plots.

Outcome of an acknowledged check, compared to its ground truth (``expected_subject``):

- true_hit: decision hit/possible and the top candidate is the expected subject;
- false_hit: decision hit for a stranger, or with another subject on top;
- false_possible: decision possible for a stranger or with another subject on top (a reviewer
  sees it before anyone acts, so it is counted apart from false hits);
- miss: the person is enrolled (in a modality captured) but the answer is no_hit;
- true_negative: a stranger answered no_hit; recapture: the gateway asked for a new capture.

A late check was acknowledged after more than one attempt; a lost one never was.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from matchers.calibration import Decision
from simulator.devices import CheckRecord
from simulator.fleet import RunResult

POSITIVE = (Decision.HIT, Decision.POSSIBLE)


def outcome(r: CheckRecord) -> str | None:
    if r.status != "acknowledged":
        return None
    if r.decision == Decision.RECAPTURE:
        return "recapture"
    expected = r.plan.expected_subject
    if r.decision in POSITIVE and expected is not None and r.top_subject == expected:
        return "true_hit"
    if r.decision == Decision.HIT:
        return "false_hit"
    if r.decision == Decision.POSSIBLE:
        # A "possible" candidate is reviewed by a person before anyone acts (DOMAIN: yellow);
        # counted apart from false hits, which would send an officer after the wrong person.
        return "false_possible"
    return "miss" if expected is not None else "true_negative"


def _pct(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"p50": None, "p95": None, "p99": None, "mean": None, "max": None}
    a = np.asarray(values)
    return {
        "p50": round(float(np.percentile(a, 50)), 1),
        "p95": round(float(np.percentile(a, 95)), 1),
        "p99": round(float(np.percentile(a, 99)), 1),
        "mean": round(float(a.mean()), 1),
        "max": round(float(a.max()), 1),
    }


def build_report(result: RunResult) -> dict[str, Any]:
    s = result.scenario
    recs = result.records
    outcomes = [outcome(r) for r in recs]
    count = {
        k: outcomes.count(k)
        for k in ("true_hit", "false_hit", "false_possible", "miss", "true_negative", "recapture")
    }
    acked = [r for r in recs if r.status == "acknowledged"]
    by_quality: dict[str, dict[str, int]] = {}
    for r, o in zip(recs, outcomes, strict=True):
        q = by_quality.setdefault(f"{r.plan.modality}/{r.plan.quality}", {})
        q[o or r.status] = q.get(o or r.status, 0) + 1
    by_adapter: dict[str, dict[str, int]] = {}
    for r in recs:
        kind = next(d["adapter"] for d in result.devices if d["serial"] == r.plan.device)
        a = by_adapter.setdefault(kind, {"sent": 0, "acknowledged": 0, "errors": 0, "lost": 0})
        a["sent"] += 1
        a[{"acknowledged": "acknowledged", "error": "errors"}.get(r.status, "lost")] += 1
    upstream_final: dict[str, int] = {}
    for r in acked:
        key = r.upstream_status or "unknown"
        upstream_final[key] = upstream_final.get(key, 0) + 1
    depths = [x["queue_depth"] for x in result.upstream_samples if x.get("queue_depth") is not None]
    return {
        "scenario": s.name,
        "started_at": result.started_at.isoformat(),
        "duration_s": s.duration_s,
        "wall_s": round(result.wall_s, 1),
        "devices": len(result.devices),
        "sent": len(recs),
        "acknowledged": len(acked),
        "errors": sum(r.status == "error" for r in recs),
        "lost": sum(r.status not in ("acknowledged", "error") for r in recs),
        "late": sum(r.status == "acknowledged" and r.attempts > 1 for r in recs),
        "retries": sum(max(0, r.attempts - 1) for r in recs),
        "true_hits": count["true_hit"],
        "false_hits": count["false_hit"],
        "false_possibles": count["false_possible"],
        "misses": count["miss"],
        "true_negatives": count["true_negative"],
        "recaptures": count["recapture"],
        "latency_ms": _pct([r.latency_ms for r in acked if r.latency_ms is not None]),
        "capture_to_answer_ms": _pct(
            [1000 * (r.acked_t - r.plan.captured_t) for r in acked if r.acked_t is not None]
        ),
        "by_modality_quality": by_quality,
        "by_adapter": by_adapter,
        "upstream": {
            "max_queue_depth": max(depths) if depths else None,
            "final_status": upstream_final,
            "queue_depth_over_time": result.upstream_samples,
        },
        "faults": result.fault_log,
        "enrolment": result.enrolment,
        "device_list": result.devices,
        "error_samples": [
            {"device": r.plan.device, "seq": r.plan.seq, "http": r.http_status, "error": r.error}
            for r in recs
            if r.status == "error"
        ][:20],
        "checks": [
            {
                "seq": r.plan.seq,
                "device": r.plan.device,
                "t": round(r.plan.captured_t, 2),
                "modality": r.plan.modality,
                "quality": r.plan.quality,
                "document": r.plan.mrz is not None,
                "expected": r.plan.expected_subject,
                "status": r.status,
                "attempts": r.attempts,
                "decision": r.decision,
                "top": r.top_subject,
                "outcome": o,
                "latency_ms": r.latency_ms and round(r.latency_ms, 1),
                "acked_t": r.acked_t and round(r.acked_t, 2),
                "upstream": r.upstream_status,
                "check_id": r.check_id,
                "error": r.error,
            }
            for r, o in zip(recs, outcomes, strict=True)
        ],
    }


def write_plots(report: dict[str, Any], out: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    lat = [c["latency_ms"] for c in report["checks"] if c["latency_ms"] is not None]
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.hist(lat or [0], bins=40, color="#3a7bd5")
    for key, style in (("p50", "-"), ("p95", "--"), ("p99", ":")):
        if report["latency_ms"][key] is not None:
            ax.axvline(report["latency_ms"][key], color="k", linestyle=style, label=key)
    ax.set_xlabel("request latency (ms)")
    ax.set_ylabel("checks")
    ax.set_title("Check latency")
    ax.legend()
    fig.tight_layout()
    paths.append(out / "latency_histogram.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)

    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    samples = report["upstream"]["queue_depth_over_time"]
    if samples:
        ax1.plot(
            [x["t"] for x in samples], [x["queue_depth"] or 0 for x in samples], color="#d55e00"
        )
    for f in report["faults"]:
        ax1.axvline(f["t"], color="grey", linestyle=":")
        ax1.annotate(f["note"], (f["t"], 0), rotation=90, fontsize=7, va="bottom")
    ax1.set_ylabel("central queue depth")
    ax1.set_title("Upstream queue and decisions over time")
    kinds = ("true_hit", "true_negative", "miss", "false_hit", "false_possible", "recapture",
             None)
    colors = ("#009e73", "#56b4e9", "#e69f00", "#d55e00", "#cc79a7", "#999999", "#000000")
    for kind, color in zip(kinds, colors, strict=True):
        ts = [
            c["acked_t"] if c["acked_t"] is not None else c["t"]
            for c in report["checks"]
            if c["outcome"] == kind
        ]
        if ts:
            ax2.hist(
                ts, bins=30, histtype="step", color=color, label=kind or "error/lost", linewidth=1.5
            )
    ax2.set_xlabel("seconds since start")
    ax2.set_ylabel("answers per bin")
    ax2.legend(fontsize=8)
    fig.tight_layout()
    paths.append(out / "queue_and_decisions.png")
    fig.savefig(paths[-1], dpi=100)
    plt.close(fig)
    return paths


def write_report(result: RunResult, out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    report = build_report(result)
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str), encoding="utf-8")
    report["plots"] = [str(p) for p in write_plots(report, out)]
    return report


def summary_table(report: dict[str, Any]) -> Table:
    t = Table(
        title=f"Simulation '{report['scenario']}': {report['devices']} devices, "
        f"{report['duration_s']:g} s"
    )
    t.add_column("measure")
    t.add_column("value", justify="right")
    lat = report["latency_ms"]
    rows = [
        ("sent", report["sent"]),
        ("acknowledged", report["acknowledged"]),
        ("late (acknowledged after retries)", report["late"]),
        ("lost", report["lost"]),
        ("errors (4xx)", report["errors"]),
        ("true hits", report["true_hits"]),
        ("false hits", report["false_hits"]),
        ("false possibles (reviewed before anyone acts)", report["false_possibles"]),
        ("misses", report["misses"]),
        ("true negatives", report["true_negatives"]),
        ("recapture asked", report["recaptures"]),
        ("latency p50 / p95 / p99 (ms)", f"{lat['p50']} / {lat['p95']} / {lat['p99']}"),
        ("max central queue depth", report["upstream"]["max_queue_depth"]),
        (
            "central status at the end",
            ", ".join(f"{k} {v}" for k, v in sorted(report["upstream"]["final_status"].items())),
        ),
    ]
    for name, value in rows:
        t.add_row(name, str(value))
    return t


def print_summary(report: dict[str, Any], console: Console) -> None:
    console.print(summary_table(report))
