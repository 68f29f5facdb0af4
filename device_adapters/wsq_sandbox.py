"""Decode WSQ in a separate process, because the NBIS decoder crashes on corrupt data.

The ``wsq`` Pillow plugin wraps the NBIS C decoder, which segfaults on some corrupt entropy-coded
data (found by mutating a valid file: a few flipped bytes in the Huffman-coded blocks are enough).
A crash in-process would take the whole gateway down, so untrusted WSQ is decoded in one
long-lived worker process. A crash there breaks only the worker: the caller gets a
``WsqDecodeError`` and the next call starts a fresh worker. NBIS is deterministic, so bytes that
decoded once in the worker can be decoded again in-process safely.

Cost: one IPC round trip (the pixels are pickled back) per image, plus about half a second to
start a worker the first time and after every crash. Thread-safe: calls from several threads share
the pool; the pool is replaced under a lock.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool

import numpy as np

DECODE_TIMEOUT_S = 20.0  # a 40 M pixel WSQ decodes in a few seconds; more means a hung decoder


class WsqDecodeError(Exception):
    """The WSQ data could not be decoded (corrupt, or the decoder crashed or hung)."""


def _decode_in_worker(data: bytes) -> np.ndarray:
    # Runs in the worker process: import here so the parent never loads the plugin for this.
    import io

    import wsq  # noqa: F401  (registers the WSQ codec with Pillow)
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return np.asarray(image.convert("L"), dtype=np.uint8)


_lock = threading.Lock()
_pool: ProcessPoolExecutor | None = None


def _get_pool() -> ProcessPoolExecutor:
    global _pool
    with _lock:
        if _pool is None:
            # spawn, not fork: the gateway is multi-threaded and forking it is unsafe.
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn")
            )
        return _pool


def _discard_pool(pool: ProcessPoolExecutor, *, kill: bool) -> None:
    global _pool
    with _lock:
        if _pool is pool:
            _pool = None
    if kill:
        # A hung decoder never returns; shutdown() alone would wait for it forever.
        for process in list(getattr(pool, "_processes", {}).values()):
            process.kill()
    pool.shutdown(wait=False, cancel_futures=True)


def decode_wsq(data: bytes, *, timeout: float = DECODE_TIMEOUT_S) -> np.ndarray:
    """Decode WSQ bytes to a uint8 (H, W) array in the worker; raise WsqDecodeError on failure."""
    pool = _get_pool()
    try:
        future = pool.submit(_decode_in_worker, data)
    except (BrokenProcessPool, RuntimeError):
        _discard_pool(pool, kill=False)
        pool = _get_pool()
        future = pool.submit(_decode_in_worker, data)
    try:
        return future.result(timeout=timeout)
    except BrokenProcessPool as exc:
        _discard_pool(pool, kill=False)
        raise WsqDecodeError("the WSQ decoder crashed on this data (corrupt WSQ)") from exc
    except FutureTimeout as exc:
        _discard_pool(pool, kill=True)
        raise WsqDecodeError(f"the WSQ decoder did not finish within {timeout:.0f} s") from exc
    except Exception as exc:  # any codec error raised inside the worker
        raise WsqDecodeError(f"the WSQ data is corrupt: {exc}") from exc


def shutdown() -> None:
    """Stop the worker (tests and clean shutdown); the next decode starts a new one."""
    global _pool
    with _lock:
        pool, _pool = _pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=True)
