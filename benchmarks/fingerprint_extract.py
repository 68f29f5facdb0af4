"""CPU time of fingerprint extraction per image at three capture sizes (issue 12).

Each size is a real FVC print (fvc2002_db1_b) centred on a blank platen frame of that size:
300x300, 400x500 (W x H) and 640x480. Measured per image, in CPU ms of this process
(``time.process_time``, all threads) and wall ms, median of ``--repeat`` runs:

- ``mindtct``: NBIS mindtct + NFIQ 2 through nbis-py (the extractor before issue 12);
- ``leader_raw``: LEADER on the whole frame, onnxruntime default session options;
- ``leader``: LEADER as shipped (foreground crop, graph optimisation, ``LEADER_INTRA_OP_THREADS``);
- ``extract``: the whole ``matchers.fingerprint.extract`` (LEADER + NBIS NFIQ 2);
- ``batch2``: two fingers of one check in one ``minutiae_batch`` call, per image.

``--check``: the two fingers of one check (101_1 and 102_1 of fvc2002_db1_b, 388x374), the
ways the gateway could run them on 2 cores, wall and CPU ms per check (median):

- ``threads_separate``: two ``extract`` calls on a pool of 2 threads, 1 intra-op thread each
  (the gateway before the batching);
- ``batched_1_thread``: one ``extract_many`` (one LEADER call for both), 1 intra-op thread;
- ``leader_*``: LEADER alone: separate calls on 2 threads, one batch with 1 or 2 intra-op
  threads, and separate calls in a pool of 2 processes (arrays pickled to the workers).

    uv run python benchmarks/fingerprint_extract.py [--repeat 5] [--json]

Report the machine's load with the numbers (printed): the machine is shared.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

from matchers import fingerprint, leader
from matchers.images import decode_image

SIZES = ((300, 300), (400, 500), (640, 480))  # width x height


def _shared() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared" / "data"


def _framed(px: np.ndarray, width: int, height: int) -> np.ndarray:
    px = px[: min(px.shape[0], height), : min(px.shape[1], width)]
    frame = np.full((height, width), int(np.median(px[:8, :8])), np.uint8)
    top, left = (height - px.shape[0]) // 2, (width - px.shape[1]) // 2
    frame[top : top + px.shape[0], left : left + px.shape[1]] = px
    return frame


def _time(fn, repeat: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    fn()  # warm-up (session creation, allocations)
    cpu, wall = [], []
    for _ in range(repeat):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return round(float(np.median(cpu)) * 1000, 1), round(float(np.median(wall)) * 1000, 1)


def _check_path(repeat: int) -> dict:
    from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

    folder = _shared() / "fingerprints" / "fvc2002_db1_b"
    images = [(folder / f"{n}_1.tif").read_bytes() for n in (101, 102)]
    pixels = [decode_image(b, mode="L") for b in images]
    threads = ThreadPoolExecutor(2)
    processes = ProcessPoolExecutor(2)
    list(processes.map(leader.minutiae, pixels))  # start the workers and their sessions
    items = [(b, None, 500, 2 + 5 * i) for i, b in enumerate(images)]
    cases = {
        "threads_separate": lambda: list(
            threads.map(lambda b: fingerprint.extract(b, ppi=500), images)
        ),
        "batched_1_thread": lambda: fingerprint.extract_many(items),
        "leader_threads_separate": lambda: list(threads.map(leader.minutiae, pixels)),
        "leader_batch_1_thread": lambda: leader.minutiae_batch(pixels, threads=1),
        "leader_batch_2_threads": lambda: leader.minutiae_batch(pixels, threads=2),
        "leader_process_pool": lambda: list(processes.map(leader.minutiae, pixels)),
    }
    out = {}
    for name, fn in cases.items():
        cpu, wall = _time(fn, repeat)
        # CPU of this process only: the process pool's work is in its workers (wall only).
        out[name] = {"wall_ms": wall, "cpu_ms": None if "process" in name else cpu}
    processes.shutdown()
    threads.shutdown()
    return out


def main() -> None:
    repeat = int(sys.argv[sys.argv.index("--repeat") + 1]) if "--repeat" in sys.argv else 5
    if "--check" in sys.argv:
        report = {"check_two_fingers": _check_path(repeat), "repeat": repeat,
                  "load_avg": os.getloadavg()[0], "cores": os.cpu_count()}
        print(f"{'two fingers of one check':<26} {'wall ms':>9} {'cpu ms':>9}")
        for name, row in report["check_two_fingers"].items():
            print(f"{name:<26} {row['wall_ms']:>9} {row['cpu_ms'] if row['cpu_ms'] is not None else '-':>9}")
        print(f"load average {report['load_avg']:.2f} (shared machine)")
        print(json.dumps(report))
        return
    import onnxruntime as ort

    raw = ort.InferenceSession(str(leader.MODEL_PATH), providers=["CPUExecutionProvider"])
    src = _shared() / "fingerprints" / "fvc2002_db1_b" / "101_1.tif"
    px = decode_image(src.read_bytes(), mode="L")
    rows = []
    for width, height in SIZES:
        img = _framed(px, width, height)
        ok, png = cv2.imencode(".png", img)
        padded_h, padded_w = -(-height // 32) * 32, -(-width // 32) * 32
        full = np.full((1, padded_h, padded_w, 1), float(img[0, 0]), np.float32)
        full[0, :height, :width, 0] = img
        row = {"size": f"{width}x{height}"}
        for name, fn in (
            ("mindtct", lambda img=img: fingerprint.nfiq2_and_mindtct(img)),
            ("leader_raw", lambda full=full: raw.run(None, {"input": full})),
            ("leader", lambda img=img: leader.minutiae(img)),
            ("extract", lambda png=png: fingerprint.extract(png.tobytes(), ppi=500)),
        ):
            row[f"{name}_cpu_ms"], row[f"{name}_wall_ms"] = _time(fn, repeat)
        cpu, wall = _time(lambda img=img: leader.minutiae_batch([img, img]), repeat)
        row["batch2_cpu_ms_per_image"], row["batch2_wall_ms_per_image"] = cpu / 2, wall / 2
        rows.append(row)
    report = {"rows": rows, "repeat": repeat, "load_avg": os.getloadavg()[0],
              "intra_op_threads": leader.session().get_session_options().intra_op_num_threads}
    if "--json" in sys.argv:
        print(json.dumps(report))
        return
    keys = [k for k in rows[0] if k != "size"]
    print("size      " + " ".join(f"{k:>24}" for k in keys))
    for row in rows:
        print(f"{row['size']:<9} " + " ".join(f"{row[k]:>24}" for k in keys))
    print(f"load average {report['load_avg']:.2f} (shared machine)")


if __name__ == "__main__":
    main()
