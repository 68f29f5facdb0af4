"""How realistic are the synthetic fingerprints? NBIS on the synthetic set, beside real ones.

Generates an FVC-style set (``--fingers`` x ``--impressions``), times the generation, runs NBIS
mindtct (minutiae, NFIQ 2) on every impression and bozorth3 with the FVC protocol: genuine pairs =
all impression pairs of the same finger, impostor pairs = first impressions of different fingers.
Prints JSON (stdout) and a table (stderr). ``--real DIR`` runs the same measurement on a real FVC
folder (``<finger>_<impression>.tif``) for comparison.

    uv run python benchmarks/synth_realism.py --fingers 20 --impressions 8 --seed 1 \
        --contact-sheet docs/img/synth_contact_sheet.png
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import nbis
import numpy as np
from rich.console import Console
from rich.table import Table

from simulator import synth


def _make_finger(args: tuple[int, int, int]) -> tuple[str, list[np.ndarray]]:
    seed, finger, impressions = args
    master, images = synth.generate_finger(seed, finger, impressions)
    return master.fingerprint_class, images


def generate(seed: int, fingers: int, impressions: int, workers: int) -> tuple[dict, float]:
    """{finger: (class, [images])} and the wall time it took."""
    start = time.perf_counter()
    jobs = [(seed, f, impressions) for f in range(1, fingers + 1)]
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            results = list(pool.map(_make_finger, jobs))
    else:
        results = [_make_finger(j) for j in jobs]
    elapsed = time.perf_counter() - start
    return {100 + f: r for f, r in zip(range(1, fingers + 1), results, strict=True)}, elapsed


def load_real(folder: Path) -> dict:
    out: dict[int, tuple[str, list[np.ndarray]]] = {}
    for path in sorted(folder.iterdir()):
        m = re.fullmatch(r"(\d+)_(\d+)\.(tif|png|bmp)", path.name)
        if m:
            img = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
            out.setdefault(int(m[1]), ("real", []))[1].append(img)
    return out


def equal_error_rate(genuine: np.ndarray, impostor: np.ndarray) -> tuple[float, float]:
    """EER (as in FVC: the mean of FMR and FNMR where they are closest) and its threshold."""
    best = (2.0, 0.0, 0.0)
    for t in np.unique(np.concatenate([genuine, impostor, [genuine.max() + 1]])):
        fmr = float((impostor >= t).mean())
        fnmr = float((genuine < t).mean())
        if abs(fmr - fnmr) < best[0]:
            best = (abs(fmr - fnmr), (fmr + fnmr) / 2, float(t))
    return best[1], best[2]


def measure(dataset: dict) -> dict:
    def extractor(nfiq2: bool) -> nbis.NbisExtractor:
        return nbis.new_nbis_extractor(
            nbis.NbisExtractorSettings(
                min_quality=0.0,
                get_center=False,
                check_fingerprint=False,
                compute_nfiq2=nfiq2,
                ppi=None,
            )
        )

    ex, ex_plain = extractor(True), extractor(False)
    templates: dict[int, list] = {}
    counts, nfiq = [], []
    start = time.perf_counter()
    for finger, (_, images) in dataset.items():
        for img in images:
            ok, png = cv2.imencode(".png", img)
            try:
                found = ex.extract_minutiae(png.tobytes())
                nfiq.append(int(found.quality().score))
            except nbis.NbisError:
                # NFIQ 2 refuses some real prints (too little usable area); keep their minutiae.
                found = ex_plain.extract_minutiae(png.tobytes())
            templates.setdefault(finger, []).append(found)
            counts.append(len(found.get()))
    extract_s = time.perf_counter() - start
    genuine = np.array(
        [a.compare(b) for ts in templates.values() for a, b in itertools.combinations(ts, 2)],
        dtype=np.float64,
    )
    firsts = [ts[0] for ts in templates.values()]
    impostor = np.array([a.compare(b) for a, b in itertools.combinations(firsts, 2)], np.float64)
    eer, threshold = equal_error_rate(genuine, impostor)
    c = np.array(counts)
    classes: dict[str, int] = {}
    for cls, _ in dataset.values():
        classes[cls] = classes.get(cls, 0) + 1
    return {
        "fingers": len(dataset),
        "impressions": len(counts),
        "classes": classes,
        "minutiae": {
            "mean": float(c.mean()),
            "p5": float(np.percentile(c, 5)),
            "p95": float(np.percentile(c, 95)),
            "min": int(c.min()),
            "max": int(c.max()),
        },
        "nfiq2_mean": float(np.mean(nfiq)),
        "genuine_pairs": len(genuine),
        "impostor_pairs": len(impostor),
        "genuine_score_median": float(np.median(genuine)),
        "impostor_score_median": float(np.median(impostor)),
        "impostor_score_max": float(impostor.max()),
        "eer": eer,
        "eer_threshold": threshold,
        "extract_ms_per_image": 1000 * extract_s / max(len(counts), 1),
    }


def contact_sheet(dataset: dict, path: Path, fingers: int = 6, impressions: int = 4) -> None:
    """A grid: one row per finger (class on the first tile), one column per impression."""
    rows = []
    for finger, (cls, images) in list(dataset.items())[:fingers]:
        tiles = []
        for k, img in enumerate(images[:impressions]):
            tile = cv2.resize(
                img, (img.shape[1] // 2, img.shape[0] // 2), interpolation=cv2.INTER_AREA
            )
            tile = cv2.copyMakeBorder(tile, 2, 2, 2, 2, cv2.BORDER_CONSTANT, value=255)
            label = f"{finger}_{k + 1}" + (f" {cls}" if k == 0 else "")
            cv2.putText(tile, label, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.42, 0, 1, cv2.LINE_AA)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fingers", type=int, default=20)
    ap.add_argument("--impressions", type=int, default=8)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--real",
        type=Path,
        action="append",
        default=[],
        help="a real FVC folder to measure the same way (repeatable)",
    )
    ap.add_argument("--contact-sheet", type=Path)
    args = ap.parse_args()

    dataset, gen_s = generate(args.seed, args.fingers, args.impressions, args.workers)
    n = args.fingers * args.impressions
    results = {
        "synthetic": {
            **measure(dataset),
            "seed": args.seed,
            "workers": args.workers,
            "generation_s": gen_s,
            "impressions_per_s": n / gen_s,
        }
    }
    for folder in args.real:
        results[folder.name] = measure(load_real(folder))
    if args.contact_sheet:
        contact_sheet(dataset, args.contact_sheet)

    print(json.dumps(results, indent=2))
    table = Table(title="NBIS on synthetic vs real fingerprints (FVC protocol)")
    for col in (
        "set",
        "prints",
        "minutiae mean [p5-p95]",
        "NFIQ2",
        "genuine med",
        "impostor med/max",
        "EER",
    ):
        table.add_column(col)
    for name, r in results.items():
        m = r["minutiae"]
        table.add_row(
            name,
            str(r["impressions"]),
            f"{m['mean']:.0f} [{m['p5']:.0f}-{m['p95']:.0f}]",
            f"{r['nfiq2_mean']:.0f}",
            f"{r['genuine_score_median']:.0f}",
            f"{r['impostor_score_median']:.0f}/{r['impostor_score_max']:.0f}",
            f"{100 * r['eer']:.2f}%",
        )
    Console(file=sys.stderr).print(table)
    s = results["synthetic"]
    Console(file=sys.stderr).print(
        f"generation: {s['impressions']} impressions in {s['generation_s']:.1f} s "
        f"= {s['impressions_per_s']:.2f} impressions/s on {args.workers} worker(s)"
    )


if __name__ == "__main__":
    main()
