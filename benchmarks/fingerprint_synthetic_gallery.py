"""How realistic is the 1:N benchmark's synthetic gallery (``matchers.synthetic.minutiae``)?

Compares the minutiae-level generator with LEADER's minutiae on the shared FVC prints: minutiae
per print, density (per 10,000 px^2 of the minutiae's convex hull), nearest-neighbour spacing,
scores, MCC cylinders and informative LSH keys per template, and, what matters for a 1:N
benchmark, how a real probe scores against a synthetic template compared with a real other
finger (MCC LSS-R impostor scores: a lenient gallery scores lower).

    uv run python benchmarks/fingerprint_synthetic_gallery.py [--synthetic 2000] [--cache DIR]

``--cache``: the folder of cached LEADER minutiae (``fieldcheck evaluate fingerprints --cache``).
Prints a table and one JSON object last.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

from matchers import mcc, synthetic
from matchers.evaluation import load_fvc
from matchers.fingerprint_index import hash_family


def _shared() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _stats(sets: list[np.ndarray]) -> dict:
    counts = np.array([len(m) for m in sets])
    density, spacing, quality, cylinders, keys = [], [], [], [], []
    family = hash_family()
    for m in sets:
        if len(m) < 3:
            continue
        area = cv2.contourArea(cv2.convexHull(m[:, :2].astype(np.float32)))
        density.append(len(m) / max(area, 1.0) * 10_000)
        d = np.hypot(*(m[:, None, :2] - m[None, :, :2]).transpose(2, 0, 1))
        np.fill_diagonal(d, np.inf)
        spacing.extend(d.min(axis=1))
        quality.extend(m[:, 3])
        cyl = mcc.cylinders(m)
        cylinders.append(len(cyl))
        if len(cyl):
            keys.append(float((family.keys(cyl.bits) != family.sentinel).sum()))

    def summary(values: list | np.ndarray) -> dict:
        v = np.asarray(values, dtype=np.float64)
        return {"mean": round(float(v.mean()), 2), "sd": round(float(v.std()), 2),
                "p5": round(float(np.percentile(v, 5)), 2),
                "p95": round(float(np.percentile(v, 95)), 2)}

    return {"prints": len(sets), "minutiae": summary(counts), "density": summary(density),
            "nn_spacing_px": summary(spacing), "score": summary(quality),
            "cylinders": summary(cylinders), "informative_keys": summary(keys)}


def main() -> None:
    n_synth = int(sys.argv[sys.argv.index("--synthetic") + 1]) if "--synthetic" in sys.argv else 2000
    cache = Path(sys.argv[sys.argv.index("--cache") + 1]) if "--cache" in sys.argv else None
    root = _shared() / "fingerprints"
    real: dict[str, dict] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        real[folder.name] = load_fvc(folder, cache=cache)
    real_sets = [t.minutiae for s in real.values() for t in s.values()]
    rng = np.random.default_rng(7)
    synth_sets = [synthetic.minutiae(rng) for _ in range(n_synth)]
    # Impostor scores of real probes (first impressions) against real other fingers of the
    # same set and against 200 synthetic templates.
    firsts = {(s, f): mcc.cylinders(t.minutiae) for s, ts in real.items()
              for (f, i), t in ts.items() if i == 1}
    synth_cyl = [mcc.cylinders(m) for m in synth_sets[:200]]
    real_imp, synth_imp = [], []
    for (s, f), cyl in firsts.items():
        others = [c for (s2, f2), c in firsts.items() if s2 == s and f2 != f]
        real_imp.extend(mcc.score_many(cyl, others))
        synth_imp.extend(mcc.score_many(cyl, synth_cyl))
    report = {
        "leader_fvc": _stats(real_sets),
        "synthetic": _stats(synth_sets),
        "impostor_score_real_vs_real": {
            "pairs": len(real_imp), "mean": round(float(np.mean(real_imp)), 4),
            "p99": round(float(np.percentile(real_imp, 99)), 4),
            "max": round(float(np.max(real_imp)), 4)},
        "impostor_score_real_vs_synthetic": {
            "pairs": len(synth_imp), "mean": round(float(np.mean(synth_imp)), 4),
            "p99": round(float(np.percentile(synth_imp, 99)), 4),
            "max": round(float(np.max(synth_imp)), 4)},
        "load_avg": round(os.getloadavg()[0], 2),
    }
    print(f"{'':<22} {'LEADER on FVC':>22} {'synthetic':>22}")
    for key in ("minutiae", "density", "nn_spacing_px", "score", "cylinders", "informative_keys"):
        a, b = report["leader_fvc"][key], report["synthetic"][key]
        print(f"{key:<22} {a['mean']:>9} sd {a['sd']:<9} {b['mean']:>9} sd {b['sd']:<9}")
    for key in ("impostor_score_real_vs_real", "impostor_score_real_vs_synthetic"):
        r = report[key]
        print(f"{key:<34} mean {r['mean']} p99 {r['p99']} max {r['max']} ({r['pairs']} pairs)")
    print(json.dumps(report))


if __name__ == "__main__":
    main()
