"""Speed benchmarks on synthetic galleries with real genuine probes inserted.

Peak memory is the process's peak RSS (``ru_maxrss``), which includes the Python runtime and
the OpenCV/NBIS libraries. Latencies are wall-clock on a possibly shared machine: report them with
the machine's load.
"""

from __future__ import annotations

import json
import os
import resource
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from matchers import mcc, params, synthetic

if TYPE_CHECKING:
    from matchers.fingerprint_index import FingerprintIndex


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _percentiles(seconds: list[float]) -> dict:
    ms = np.array(seconds) * 1000.0
    return {
        "p50_ms": round(float(np.percentile(ms, 50)), 2),
        "p95_ms": round(float(np.percentile(ms, 95)), 2),
        "p99_ms": round(float(np.percentile(ms, 99)), 2),
    }


def _shared_data() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


_CHUNK = 10_000


def _synthetic_tag() -> str:
    """What a cached synthetic chunk depends on: the generator's code, its parameters, MCC's."""
    import hashlib
    import inspect

    mcc_params = {k: v for k, v in vars(params).items() if k.startswith("MCC_")}
    source = inspect.getsource(synthetic.minutiae) + json.dumps(mcc_params, sort_keys=True)
    source += json.dumps([params.SYNTH_MEAN_MINUTIAE, params.SYNTH_SD_MINUTIAE,
                          params.SYNTH_QUALITY_BETA, params.SYNTH_MIN_SPACING,
                          params.LEADER_MIN_SCORE])
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def synthetic_cylinders(
    count: int, cache: Path | None, seed: int = params.SYNTH_FINGER_SEED
) -> Iterator[tuple[mcc.Cylinders, int]]:
    """``count`` distinct synthetic prints as (cylinders, finger position), generated in chunks
    of 10,000 (each from its own seed: the same prints whatever ``count``), each chunk saved
    under ``cache`` and reused when made by the same generator and MCC parameters (generating
    and encoding 100k prints takes ~5-20 min on this machine, depending on its load)."""
    tag = _synthetic_tag()
    for chunk in range((count + _CHUNK - 1) // _CHUNK):
        n = min(_CHUNK, count - chunk * _CHUNK)
        path = cache / f"synthetic-{tag}-{seed}-{chunk}.npz" if cache is not None else None
        if path is not None and path.exists():
            z = np.load(path)
            counts = z["counts"]
        else:
            rng = np.random.default_rng([seed, chunk])
            cyls = [mcc.cylinders(synthetic.minutiae(rng)) for _ in range(_CHUNK)]
            counts = np.array([len(c) for c in cyls], np.int64)
            z = {
                "bits": np.concatenate([c.bits for c in cyls]),
                "valid": np.concatenate([c.valid for c in cyls]),
                "xyt": np.concatenate([c.minutiae for c in cyls]),
                "counts": counts,
                "positions": rng.integers(1, 11, _CHUNK),
            }
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npz")
                np.savez(tmp, **z)
                tmp.replace(path)
        ends = np.cumsum(counts)
        starts = ends - counts
        bits, valid, xyt = z["bits"], z["valid"], z["xyt"]
        for i in range(n):
            s, e = starts[i], ends[i]
            yield mcc.Cylinders(bits[s:e], valid[s:e], xyt[s:e]), int(z["positions"][i])


def _current_rss_mb() -> float:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return float("nan")


def synthetic_index(gallery: int, cache: Path | None) -> tuple[FingerprintIndex, bool, float]:
    """The synthetic part of the benchmark gallery: loaded (memory-mapped) from ``cache`` when
    saved there by this build's parameters, else built and saved. Returns the index, whether it
    was built in this run, and the seconds it took."""
    from matchers.fingerprint_index import FingerprintIndex, _signature, hash_family

    t0 = time.perf_counter()
    name = f"index-{_synthetic_tag()}-{_hash_tag(_signature())}-{gallery}"
    saved = cache / name if cache is not None else None
    if saved is not None and (saved / "manifest.json").exists():
        return FingerprintIndex.load(saved, mmap=True), False, time.perf_counter() - t0
    index = FingerprintIndex()
    family = hash_family()
    batch: list[tuple[mcc.Cylinders, int]] = []

    def flush() -> None:
        if not batch:
            return
        keys = family.keys(np.concatenate([c.bits for c, _ in batch]))
        start = len(index)
        at = 0
        for j, (cyl, position) in enumerate(batch):
            i = start + j
            index.add_cylinders(
                f"synth-{i}", f"synth-{i}", cyl, position, keys=keys[at : at + len(cyl)]
            )
            at += len(cyl)
        batch.clear()

    for cyl, position in synthetic_cylinders(gallery, cache):
        batch.append((cyl, position))
        if len(batch) == 2000:
            flush()
    flush()
    if saved is not None:
        index.save(saved)
        index = FingerprintIndex.load(saved, mmap=True)
    return index, True, time.perf_counter() - t0


def _hash_tag(value: object) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:12]


def bench_fingerprint(
    *, gallery: int, cache: Path | None, shortlists: tuple[int, ...] = (300, 1000)
) -> dict:
    """1:N at ``gallery`` distinct synthetic templates plus the first impression of every
    shared FVC finger (at a finger position, as the gateway enrols them); every other
    impression of those fingers is a probe. Measures rank-1 (position-aware, and with the
    position unknown: the whole gallery), the stage-1 shortlist's recall (mate among the
    first 300 / 1,000 candidates), search latency and memory."""
    from matchers.evaluation import load_fvc

    rss_before = _current_rss_mb()
    index, built, build_s = synthetic_index(gallery, cache)
    synthetic_count = len(index)
    real: list[tuple[str, mcc.Cylinders, int]] = []
    root = _shared_data() / "fingerprints"
    sets = sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []
    for folder in sets:
        templates = load_fvc(folder, cache=cache / "minutiae" if cache is not None else None)
        for (finger, impression), t in sorted(templates.items()):
            subject = f"{folder.name}/{finger}"
            position = 2 + (finger % 2) * 5  # right or left index, for position-aware search
            cyl = mcc.cylinders(t.minutiae)
            if impression == 1:
                index.add_cylinders(f"{subject}_1", subject, cyl, position)
            else:
                real.append((subject, cyl, position))
    if not real:
        raise FileNotFoundError(f"FVC sets are needed under {root} for real probes")
    index.search_cylinders(real[0][1], real[0][2], 10)  # first touch of the mapped arrays
    latencies: list[float] = []
    unknown_latencies: list[float] = []
    rank1 = rank1_unknown = 0
    within = dict.fromkeys(shortlists, 0)
    within_unknown = dict.fromkeys(shortlists, 0)
    widest = max(shortlists)
    for subject, cyl, position in real:
        mate = f"{subject}_1"
        started = time.perf_counter()
        found = index.search_cylinders(cyl, position, 10)
        latencies.append(time.perf_counter() - started)
        rank1 += bool(found) and found[0].subject_id == subject
        started = time.perf_counter()
        found = index.search_cylinders(cyl, 0, 10)
        unknown_latencies.append(time.perf_counter() - started)
        rank1_unknown += bool(found) and found[0].subject_id == subject
        for counts, pos in ((within, position), (within_unknown, 0)):
            short = index.shortlist(cyl, pos, widest)
            place = short.index(mate) if mate in short else widest
            for size in shortlists:
                counts[size] += place < size
    n = len(real)
    return {
        "gallery": len(index),
        "synthetic": synthetic_count,
        "real_enrolled": len(index) - synthetic_count,
        "probes": n,
        "gallery_built_this_run": built,
        "gallery_seconds": round(build_s, 1),
        "rank1": round(rank1 / n, 4),
        **{f"recall_at_{s}": round(within[s] / n, 4) for s in shortlists},
        **_percentiles(latencies),
        "rank1_unknown_position": round(rank1_unknown / n, 4),
        **{f"recall_at_{s}_unknown_position": round(within_unknown[s] / n, 4) for s in shortlists},
        **{f"unknown_position_{k}": v for k, v in _percentiles(unknown_latencies).items()},
        "shortlist": params.FINGER_SHORTLIST,
        "lsh": f"triples of the first {params.FINGER_LSH_CAP} set bits, "
        f"{params.FINGER_LSH_PER_CYLINDER} keys per cylinder",
        "filed_keys": int(len(index._hash.keys)),
        "rss_before_mb": round(rss_before, 1),
        "rss_mb": round(_current_rss_mb(), 1),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default"),
        "load_avg": round(os.getloadavg()[0], 2),
    }


def bench_face(*, gallery: int, probes: int, batch: int) -> dict:
    """Random unit embeddings with the probes' mates inserted (noisy copies, as a genuine
    second photo); search vs a plain BLAS scan of the same matrix, in the same run."""
    from matchers.face_index import FaceIndex

    rng = np.random.default_rng(11)
    t0 = time.perf_counter()
    matrix = synthetic.face_embeddings(rng, gallery)
    index = FaceIndex()
    index.add_many([f"t{i}" for i in range(gallery)], [f"s{i}" for i in range(gallery)], matrix)
    del matrix
    build_s = time.perf_counter() - t0
    targets = rng.integers(0, gallery, probes)
    base = index._matrix[targets]
    noise = rng.standard_normal(base.shape, dtype=np.float32) * 0.04
    queries = base + noise
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    index.search(queries[0], 10)  # warm the page cache / BLAS threads
    search_s, scan_s, read_s, hits = [], [], [], 0
    for q, target in zip(queries, targets, strict=False):
        t = time.perf_counter()
        found = index.search(q, 10)
        search_s.append(time.perf_counter() - t)
        hits += bool(found) and found[0].subject_id == f"s{target}"
        t = time.perf_counter()
        index.scan(q)
        scan_s.append(time.perf_counter() - t)
    for _ in range(min(20, probes)):
        t = time.perf_counter()
        index._matrix[: len(index)].max()
        read_s.append(time.perf_counter() - t)
    t = time.perf_counter()
    done = 0
    for start in range(0, probes, batch):
        done += len(index.search_batch(queries[start : start + batch], 10))
    batch_s = time.perf_counter() - t
    search = _percentiles(search_s)
    scan = _percentiles(scan_s)
    return {
        "gallery": len(index),
        "probes": probes,
        "build_s": round(build_s, 1),
        **search,
        "scan_ms": scan["p50_ms"],
        "scan_p95_ms": scan["p95_ms"],
        "read_ms": round(float(np.median(read_s)) * 1000, 2),
        "p95_over_scan": round(search["p95_ms"] / max(scan["p50_ms"], 1e-9), 3),
        "p95_over_scan_p95": round(search["p95_ms"] / max(scan["p95_ms"], 1e-9), 3),
        "batch": batch,
        "batch_throughput_per_s": round(done / batch_s, 1),
        "rank1": round(hits / probes, 4),
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "load_avg": os.getloadavg()[0],
    }


def bench_face_extract(*, photos: int, repeats: int) -> dict:
    """Time ``face.extract`` (decode, detect, align, embed; one thread) on ``photos`` 250 x 250
    LFW photos and on the full-size sample photos fitted into a 1920 x 1080 frame (JPEG, as a
    device sends them), each ``repeats`` times."""
    import cv2

    from matchers import face

    root = _shared_data() / "faces"
    lfw = sorted((root / "lfw").glob("*/*.jpg"))[:: max(1, 750 // max(photos, 1))][:photos]
    samples = sorted(p for p in (root / "samples").rglob("*.jpg"))
    if not lfw or not samples:
        raise FileNotFoundError(f"faces/lfw and faces/samples are needed under {root}")
    full_hd = []
    for path in samples:
        image = cv2.imread(str(path))
        if image is None:
            raise FileNotFoundError(f"{path} is not a readable image")
        scale = min(1920 / image.shape[1], 1080 / image.shape[0])
        fitted = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)))
        frame = np.zeros((1080, 1920, 3), np.uint8)
        y, x = (1080 - fitted.shape[0]) // 2, (1920 - fitted.shape[1]) // 2
        frame[y : y + fitted.shape[0], x : x + fitted.shape[1]] = fitted
        full_hd.append(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes())
    face.warm_up()

    def timed(images: list[bytes]) -> tuple[list[float], list[float]]:
        wall, cpu = [], []
        for _ in range(repeats):
            for data in images:
                start, start_cpu = time.perf_counter(), time.process_time()
                try:
                    face.extract(data)
                except Exception:  # noqa: BLE001 - a refusal costs time too; it is timed
                    pass
                wall.append(time.perf_counter() - start)
                cpu.append(time.process_time() - start_cpu)
        return wall, cpu

    # On a shared, loaded machine wall-clock time includes waiting for a core; the process's CPU
    # time (all its threads) is what an idle machine would take at most.
    small, small_cpu = timed([p.read_bytes() for p in lfw])
    large, large_cpu = timed(full_hd)
    return {
        "model": face.MODEL_ID,
        "lfw_250x250_photos": len(lfw),
        "lfw_250x250": _percentiles(small),
        "lfw_250x250_cpu": _percentiles(small_cpu),
        "full_hd_photos": len(full_hd),
        "full_hd_1920x1080": _percentiles(large),
        "full_hd_1920x1080_cpu": _percentiles(large_cpu),
        "repeats": repeats,
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
