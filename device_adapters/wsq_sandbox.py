"""Decode WSQ in a separate process, because the NBIS decoder crashes on corrupt data.

The ``wsq`` Pillow plugin wraps the NBIS C decoder, which segfaults on some corrupt entropy-coded
data (found by mutating a valid file: a few changed bytes in the Huffman-coded blocks are enough).
A crash in-process would take the whole gateway down, so untrusted WSQ is decoded in a
long-lived worker process (``python -c`` with a tiny length-prefixed pipe protocol; not
``multiprocessing``, whose spawn mode re-imports the caller's ``__main__``). A crash or hang there
kills only the worker: the caller gets ``WsqDecodeError`` and the next call starts a new worker.
NBIS is deterministic, so bytes that decoded once in the worker decode again in-process safely.

Cost: one pipe round trip per image (the pixels come back raw), plus ~0.3 s to start a worker the
first time and after every crash. Thread-safe: one lock serialises the worker.
"""

from __future__ import annotations

import os
import selectors
import struct
import subprocess
import sys
import threading
import time

import numpy as np

DECODE_TIMEOUT_S = 20.0  # a 40 M pixel WSQ decodes in a few seconds; more means a hung decoder

_WORKER_SOURCE = r"""
import io, os, struct, sys
import wsq  # registers the WSQ codec with Pillow
from PIL import Image
rd, wr = sys.stdin.buffer, sys.stdout.buffer
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)  # NBIS prints every error on stderr
while True:
    head = rd.read(4)
    if len(head) < 4:
        break
    data = rd.read(struct.unpack(">I", head)[0])
    try:
        with Image.open(io.BytesIO(data)) as im:
            if im.size[0] * im.size[1] > 40_000_000:
                raise ValueError(f"{im.size[0]}x{im.size[1]} pixels is over the limit")
            im.load()
            pixels = im.convert("L").tobytes()
            w, h = im.size
        wr.write(b"\x00" + struct.pack(">II", w, h) + pixels)
    except Exception as exc:
        msg = f"{type(exc).__name__}: {exc}"[:500].encode("utf-8", "replace")
        wr.write(b"\x01" + struct.pack(">I", len(msg)) + msg)
    wr.flush()
"""


class WsqDecodeError(Exception):
    """The WSQ data could not be decoded (corrupt, or the decoder crashed or hung)."""


class _Worker:
    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", _WORKER_SOURCE],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
        self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def _read_exact(self, size: int, deadline: float) -> bytes:
        assert self.process.stdout is not None
        fd = self.process.stdout.fileno()
        chunks, remaining = [], size
        with selectors.DefaultSelector() as selector:
            selector.register(fd, selectors.EVENT_READ)
            while remaining:
                left = deadline - time.monotonic()
                if left <= 0 or not selector.select(left):
                    raise TimeoutError
                chunk = os.read(fd, min(remaining, 1 << 20))
                if not chunk:
                    raise EOFError
                chunks.append(chunk)
                remaining -= len(chunk)
        return b"".join(chunks)

    def decode(self, data: bytes, timeout: float) -> np.ndarray:
        assert self.process.stdin is not None
        self.process.stdin.write(struct.pack(">I", len(data)) + data)
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        status = self._read_exact(1, deadline)
        if status == b"\x01":
            (length,) = struct.unpack(">I", self._read_exact(4, deadline))
            raise WsqDecodeError(
                "the WSQ data is corrupt: " + self._read_exact(length, deadline).decode()
            )
        width, height = struct.unpack(">II", self._read_exact(8, deadline))
        pixels = self._read_exact(width * height, deadline)
        return np.frombuffer(pixels, dtype=np.uint8).reshape(height, width).copy()


_lock = threading.Lock()
_worker: _Worker | None = None


def decode_wsq(data: bytes, *, timeout: float = DECODE_TIMEOUT_S) -> np.ndarray:
    """Decode WSQ bytes to a uint8 (H, W) array in the worker; raise WsqDecodeError on failure.

    The caller must have checked the declared dimensions first (the worker allocates them).
    """
    global _worker
    with _lock:
        if _worker is None or not _worker.alive():
            _worker = _Worker()
        try:
            return _worker.decode(data, timeout)
        except WsqDecodeError:
            # NBIS may have scribbled over its heap before noticing the corruption: never let a
            # later, valid image be decoded by a worker that has seen a bad one.
            _worker.kill()
            _worker = None
            raise
        except TimeoutError as exc:
            _worker.kill()
            _worker = None
            raise WsqDecodeError(f"the WSQ decoder did not finish within {timeout:.0f} s") from exc
        except (EOFError, OSError, ValueError) as exc:
            # EOF / broken pipe: the decoder crashed on this data and took the worker with it.
            _worker.kill()
            _worker = None
            raise WsqDecodeError("the WSQ decoder crashed on this data (corrupt WSQ)") from exc


def pixels_if_wsq(data: bytes, *, field: str) -> np.ndarray | None:
    """Decode ``data`` in the worker when it is WSQ; None for any other format.

    Raises ``MalformedPayload`` naming ``field`` when the WSQ data is corrupt.
    """
    from device_adapters.errors import MalformedPayload

    if data[:2] != b"\xff\xa0":
        return None
    try:
        return decode_wsq(data)
    except WsqDecodeError as exc:
        raise MalformedPayload(
            f"the WSQ image is corrupt: {exc}", field=field,
            fix="send the WSQ file exactly as the sensor wrote it",
        ) from exc


def shutdown() -> None:
    """Stop the worker (tests and clean shutdown); the next decode starts a new one."""
    global _worker
    with _lock:
        if _worker is not None:
            _worker.kill()
            _worker = None
