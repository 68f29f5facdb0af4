"""Accuracy evaluations on real folders (FVC-layout fingerprints, <identity>/<image> faces).

Fingerprints follow the FVC protocol: genuine = every impression pair of a finger, impostor =
first impressions of different fingers. A print that gives no usable template scores 0 in all
its pairs (counted, not dropped: FVC counts failures to enrol as rejections).
"""

from __future__ import annotations

import itertools
import logging
import re
from pathlib import Path

import numpy as np

from matchers import calibration, iso19794, mcc, params
from matchers.errors import MatcherError
from matchers.templates import FingerprintTemplate

log = logging.getLogger(__name__)
_FVC_NAME = re.compile(r"^(\d+)_(\d+)$")
_IMAGE_EXT = {".tif", ".tiff", ".png", ".bmp", ".jpg", ".jpeg", ".pgm", ".wsq", ".jp2"}


# --- error rates ------------------------------------------------------------------------------
def error_rates(genuine: np.ndarray, impostor: np.ndarray) -> dict:
    """EER, FMR100, FMR1000 (FNMR at the lowest threshold with FMR <= 1% / 0.1%), and the
    (FMR, FNMR) curve, for scores where higher means more similar."""
    g = np.sort(np.asarray(genuine, dtype=np.float64))
    i = np.sort(np.asarray(impostor, dtype=np.float64))
    thresholds = np.unique(np.concatenate([g, i, [np.inf]]))
    fnmr = np.searchsorted(g, thresholds, side="left") / max(len(g), 1)
    fmr = 1.0 - np.searchsorted(i, thresholds, side="left") / max(len(i), 1)
    gap = np.abs(fnmr - fmr)
    j = int(np.argmin(gap))
    eer = float((fnmr[j] + fmr[j]) / 2)

    def fnmr_at(target: float) -> float:
        ok = fmr <= target
        return float(fnmr[ok].min()) if ok.any() else 1.0

    return {"eer": eer, "fmr100": fnmr_at(0.01), "fmr1000": fnmr_at(0.001), "curve": (fmr, fnmr)}


def _det_png(path: Path, curves: dict[str, tuple[np.ndarray, np.ndarray]], title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    for name, (fmr, fnmr) in curves.items():
        ax.step(np.clip(fmr, 1e-4, 1), np.clip(fnmr, 1e-4, 1), where="post", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("FMR")
    ax.set_ylabel("FNMR")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


# --- fingerprints -----------------------------------------------------------------------------
def load_fvc(directory: Path, ppi: int = 500) -> dict[tuple[int, int], FingerprintTemplate]:
    """Templates keyed by (finger, impression); unusable prints get an empty template."""
    from matchers import fingerprint

    out: dict[tuple[int, int], FingerprintTemplate] = {}
    for path in sorted(Path(directory).iterdir()):
        match = _FVC_NAME.match(path.stem)
        if not match or path.suffix.lower() not in _IMAGE_EXT:
            continue
        key = (int(match.group(1)), int(match.group(2)))
        try:
            out[key] = fingerprint.extract(path.read_bytes(), ppi=ppi)
        except MatcherError as exc:
            log.warning("%s: no template (%s)", path.name, exc)
            out[key] = FingerprintTemplate(np.zeros((0, 4), np.float32), 0, 0)
    return out


def fvc_pairs(keys: list[tuple[int, int]]) -> tuple[list, list]:
    """FVC protocol pairs: (genuine, impostor) lists of key pairs."""
    fingers = sorted({f for f, _ in keys})
    by_finger = {f: sorted(i for g, i in keys if g == f) for f in fingers}
    genuine = [
        ((f, a), (f, b)) for f in fingers for a, b in itertools.combinations(by_finger[f], 2)
    ]
    firsts = [(f, by_finger[f][0]) for f in fingers if by_finger[f]]
    impostor = list(itertools.combinations(firsts, 2))
    return genuine, impostor


def _nbis_scores(templates: dict, pairs: list) -> np.ndarray:
    import nbis

    extractor = nbis.new_nbis_extractor(
        nbis.NbisExtractorSettings(
            min_quality=0.0,
            get_center=False,
            check_fingerprint=False,
            compute_nfiq2=False,
            ppi=None,
        )
    )
    native = {}
    for key, t in templates.items():
        if len(t.minutiae):
            record = iso19794.to_nbis(t.minutiae, width=t.width, height=t.height)
            native[key] = extractor.load_iso_19794_2_2005(record)
    return np.array(
        [
            float(native[a].compare(native[b])) if a in native and b in native else 0.0
            for a, b in pairs
        ]
    )


def evaluate_fingerprints(
    directory: Path, *, ppi: int = 500, baseline: bool = False, det_png: Path | None = None
) -> dict:
    from matchers.fingerprint_index import FingerprintIndex

    templates = load_fvc(directory, ppi)
    if not templates:
        raise MatcherError(f"{directory}: no <finger>_<impression> images found")
    cyl = {k: mcc.cylinders(t.minutiae) for k, t in templates.items()}
    genuine_pairs, impostor_pairs = fvc_pairs(list(templates))
    gen = np.array([mcc.score_many(cyl[a], [cyl[b]])[0] for a, b in genuine_pairs])
    imp = np.array([mcc.score_many(cyl[a], [cyl[b]])[0] for a, b in impostor_pairs])
    rates = error_rates(gen, imp)
    curves = {"MCC (FieldCheck)": rates.pop("curve")}
    report: dict = {
        "set": Path(directory).name,
        "matcher": "mcc-lssr",
        "prints": len(templates),
        "failed_to_enrol": sum(1 for c in cyl.values() if len(c) == 0),
        "genuine_pairs": len(gen),
        "impostor_pairs": len(imp),
        **{k: round(v, 4) for k, v in rates.items()},
    }
    # Rank-1: first impressions enrolled, every other impression searched through the index.
    index = FingerprintIndex()
    firsts = {}
    for finger, imp_no in sorted(templates):
        if finger not in firsts:
            firsts[finger] = imp_no
            index.add_cylinders(f"{finger}_{imp_no}", str(finger), cyl[(finger, imp_no)])
    probes = [(f, i) for (f, i) in sorted(templates) if i != firsts[f]]
    hits = 0
    for key in probes:
        found = index.search_cylinders(cyl[key], 0, 1)
        hits += bool(found) and found[0].subject_id == str(key[0])
    report["rank1"] = round(hits / max(len(probes), 1), 4)
    if baseline:
        b_rates = error_rates(
            _nbis_scores(templates, genuine_pairs), _nbis_scores(templates, impostor_pairs)
        )
        curves["NBIS bozorth3"] = b_rates.pop("curve")
        report["nbis"] = {k: round(v, 4) for k, v in b_rates.items()}
        report["nbis_eer"] = report["nbis"]["eer"]
    if det_png is not None:
        _det_png(det_png, curves, f"DET {Path(directory).name}")
        report["det_png"] = str(det_png)
    return report


# --- faces ------------------------------------------------------------------------------------
def load_faces(directory: Path) -> tuple[dict[str, list[np.ndarray | None]], list[str]]:
    """Embeddings per identity (None where no template), plus the failed image paths."""
    from matchers import face

    out: dict[str, list[np.ndarray | None]] = {}
    failed: list[str] = []
    for person in sorted(p for p in Path(directory).iterdir() if p.is_dir()):
        rows: list[np.ndarray | None] = []
        for path in sorted(person.iterdir()):
            if path.suffix.lower() not in _IMAGE_EXT:
                continue
            try:
                rows.append(face.extract(path.read_bytes()).embedding)
            except MatcherError as exc:
                log.warning("%s: no template (%s)", path, exc)
                rows.append(None)
                failed.append(str(path))
        out[person.name] = rows
    return out, failed


def evaluate_faces(directory: Path, *, seed: int = 7) -> dict:
    from matchers.face_index import FaceIndex

    people, failed = load_faces(directory)
    names = sorted(people)
    genuine = []
    for name in names:
        embs = [e for e in people[name] if e is not None]
        genuine += [float(a @ b) for a, b in itertools.combinations(embs, 2)]
    rng = np.random.default_rng(seed)
    flat = [(n, e) for n in names for e in people[n] if e is not None]
    impostor: list[float] = []
    while len(impostor) < len(genuine) and len({n for n, _ in flat}) > 1:
        a, b = rng.integers(0, len(flat), 2)
        if flat[a][0] != flat[b][0]:
            impostor.append(float(flat[a][1] @ flat[b][1]))
    g, i = np.array(genuine), np.array(impostor)
    rates = error_rates(g, i)
    rates.pop("curve")
    threshold = calibration.FACE.score_at(params.FACE_VERIFY_FMR)

    def accuracy_at(t: float) -> float:
        return float((np.sum(g >= t) + np.sum(i < t)) / max(len(g) + len(i), 1))

    accuracy = accuracy_at(threshold)
    # Calibration data (params.FACE_SCORE_FMR): every pair of templates of different identities.
    labels = np.array([n for n, _ in flat])
    matrix = np.array([e for _, e in flat], dtype=np.float32).reshape(-1, params.FACE_EMBEDDING_DIM)
    upper = np.triu_indices(len(flat), 1)
    all_impostors = (matrix @ matrix.T)[upper][labels[upper[0]] != labels[upper[1]]]
    quantiles = (
        {
            f"{fmr:g}": round(float(np.quantile(all_impostors, 1 - fmr)), 4)
            for fmr in (1e-1, 1e-2, 1e-3, 1e-4, 1e-5)
        }
        if len(all_impostors)
        else {}
    )
    index = FaceIndex()
    probes: list[tuple[str, np.ndarray]] = []
    for name in names:
        embs = [e for e in people[name] if e is not None]
        if embs:
            index.add(f"{name}/0", name, embs[0])
            probes += [(name, e) for e in embs[1:]]
    results = index.search_batch(np.array([e for _, e in probes]), 1) if probes else []
    hits = sum(bool(r) and r[0].subject_id == n for (n, _), r in zip(probes, results, strict=False))
    return {
        "set": Path(directory).name,
        "identities": len(names),
        "images": sum(len(v) for v in people.values()),
        "failed_to_enrol": len(failed),
        "failed_images": failed,
        "genuine_pairs": len(g),
        "impostor_pairs": len(i),
        "threshold": round(threshold, 4),
        "threshold_fmr": params.FACE_VERIFY_FMR,
        "accuracy": round(float(accuracy), 4),
        "accuracy_by_fmr": {
            f"{fmr:g}": round(accuracy_at(calibration.FACE.score_at(fmr)), 4)
            for fmr in (1e-2, 1e-3)
        },
        "calibration_impostor_pairs": len(all_impostors),
        "impostor_score_at_fmr": quantiles,
        "eer": round(rates["eer"], 4),
        "fmr100": round(rates["fmr100"], 4),
        "fmr1000": round(rates["fmr1000"], 4),
        "rank1": round(hits / max(len(probes), 1), 4),
        "probes": len(probes),
    }
