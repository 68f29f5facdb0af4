"""Speed benchmarks on synthetic galleries with real genuine probes inserted.

Peak memory is the process's peak RSS (``ru_maxrss``), which includes the Python runtime and
the OpenCV/NBIS libraries. Latencies are wall-clock on a possibly shared machine: report them with
the machine's load.
"""

from __future__ import annotations

import os
import resource
import time
from pathlib import Path

import numpy as np

from matchers import mcc, params, synthetic


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


def bench_fingerprint(*, gallery: int, probes: int, unique: int) -> dict:
    """Gallery of ``gallery`` synthetic prints (``unique`` distinct ones, cycled: generating
    and encoding 100k distinct prints takes ~30 min here) plus the first impression of every
    shared FVC finger; probes are the other impressions of those fingers."""
    from matchers.evaluation import load_fvc
    from matchers.fingerprint_index import FingerprintIndex, bag_of_words

    rng = np.random.default_rng(params.FINGER_BOW_SEED + 1)
    index = FingerprintIndex()
    t0 = time.perf_counter()
    distinct = [mcc.cylinders(synthetic.minutiae(rng)) for _ in range(min(unique, gallery))]
    words = [bag_of_words(c) for c in distinct]
    for i in range(gallery):
        j = i % len(distinct)
        index.add_cylinders(
            f"synth-{i}", f"synth-{i}", distinct[j], position=int(rng.integers(1, 11)), bow=words[j]
        )
    build_s = time.perf_counter() - t0
    real: list[tuple[str, mcc.Cylinders, int]] = []
    root = _shared_data() / "fingerprints"
    for folder in sorted(p for p in root.iterdir() if p.is_dir()) if root.exists() else []:
        templates = load_fvc(folder)
        for (finger, impression), t in sorted(templates.items()):
            subject = f"{folder.name}/{finger}"
            position = 2 + (finger % 2) * 5  # right or left index, for position-aware search
            cyl = mcc.cylinders(t.minutiae)
            if impression == 1:
                index.add_cylinders(f"{subject}_1", subject, cyl, position)
            else:
                real.append((subject, cyl, position))
    probe_set = (
        [real[i % len(real)] for i in range(probes)]
        if real
        else [("synth-0", distinct[0], 0) for _ in range(probes)]
    )
    latencies, hits = [], 0
    for subject, cyl, position in probe_set:
        t = time.perf_counter()
        found = index.search_cylinders(cyl, position, 10)
        latencies.append(time.perf_counter() - t)
        hits += bool(found) and found[0].subject_id == subject
    t = time.perf_counter()
    for _subject, cyl, _ in probe_set[:50]:
        index.search_cylinders(cyl, 0, 10)
    unknown_position_s = (time.perf_counter() - t) / min(50, len(probe_set))
    return {
        "gallery": len(index),
        "synthetic_unique": len(distinct),
        "probes": len(probe_set),
        "build_s": round(build_s, 1),
        **_percentiles(latencies),
        "throughput_per_s": round(len(latencies) / sum(latencies), 1),
        "unknown_position_mean_ms": round(unknown_position_s * 1000, 2),
        "rank1": round(hits / len(probe_set), 4),
        "shortlist": params.FINGER_SHORTLIST,
        "peak_rss_mb": round(_peak_rss_mb(), 1),
        "load_avg": os.getloadavg()[0],
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
