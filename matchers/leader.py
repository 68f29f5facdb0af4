"""LEADER minutiae extraction with onnxruntime (Cappelli & Ferrara, University of Bologna, 2026).

LEADER is a small fully convolutional network (0.9 M parameters) that maps a 500 ppi greyscale
print to a per-pixel map of four channels; the model file and its MIT licence ship in
``matchers/data/models/`` (provenance in THIRD_PARTY_NOTICES.md). Inspected with onnxruntime:

- input ``input``: float32 NHWC ``(batch, H, W, 1)``, raw grey levels 0-255; H and W must be
  multiples of 32 (the network downsamples five times);
- output ``head_conc``: float32 ``(batch, H, W, 4)``: 0 position heat map, 1 minutia direction
  in radians (already an angle, counter-clockwise in image coordinates like ISO), 2 type
  (>= 0.5 ending), 3 the position score after the network's own non-maximum suppression, which
  is what selects minutiae.

Recipe (``minutiae``): crop to the finger's foreground -> pad to a multiple of 32 with the value
of pixel (0, 0) (the background the network saw in training) -> one ``run`` -> points whose
channel-3 score is at least ``LEADER_MIN_SCORE``, best ``LEADER_MAX_MINUTIAE`` by score ->
(x, y, direction, score) in the original image's pixel coordinates.

Thread-safety: one ``InferenceSession`` per process, created on first use under a lock;
``InferenceSession.run`` is documented by onnxruntime as safe to call from several threads at
once, and it releases the GIL while it computes, so the gateway's extraction threads share it.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path

import numpy as np

from matchers import iso19794, params

MODEL_PATH = Path(__file__).parent / "data" / "models" / "LEADER.onnx"
MODEL_SHA256 = "da96e1221eea4afdf153997d6c4854ed306c146cfac76046e66cdecc14b2a1bb"
_MULTIPLE = 32
_lock = threading.Lock()


@functools.cache
def _session_cached(threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(
        str(MODEL_PATH), sess_options=options, providers=["CPUExecutionProvider"]
    )


def session():
    """The process's LEADER session (created once; ``run`` is thread-safe)."""
    with _lock:
        return _session_cached(params.LEADER_INTRA_OP_THREADS)


def foreground_box(pixels: np.ndarray) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the finger in a greyscale print: blocks whose grey-level
    spread shows ridges, plus a margin. Cropping the blank frame costs nothing in accuracy (the
    network answers nothing there) and saves its inference time, which is linear in pixels."""
    h, w = pixels.shape
    b = params.LEADER_FOREGROUND_BLOCK
    if h < 2 * b or w < 2 * b:
        return 0, h, 0, w
    hb, wb = h // b, w // b
    blocks = pixels[: hb * b, : wb * b].astype(np.float32).reshape(hb, b, wb, b)
    spread = blocks.std(axis=(1, 3))
    fg = spread >= params.LEADER_FOREGROUND_STD
    if not fg.any():
        return 0, h, 0, w
    rows = np.flatnonzero(fg.any(axis=1))
    cols = np.flatnonzero(fg.any(axis=0))
    m = params.LEADER_FOREGROUND_MARGIN
    top = max(0, int(rows[0]) * b - m)
    bottom = min(h, (int(rows[-1]) + 1) * b + m)
    left = max(0, int(cols[0]) * b - m)
    right = min(w, (int(cols[-1]) + 1) * b + m)
    if bottom - top < 2 * b or right - left < 2 * b:
        return 0, h, 0, w
    return top, bottom, left, right


def _padded(pixels: np.ndarray, height: int, width: int) -> tuple[np.ndarray, int, int]:
    """Centre ``pixels`` in a (height, width) float32 canvas filled with pixel (0, 0)."""
    h, w = pixels.shape
    top, left = (height - h) // 2, (width - w) // 2
    canvas = np.full((height, width), float(pixels[0, 0]), dtype=np.float32)
    canvas[top : top + h, left : left + w] = pixels
    return canvas, top, left


def _round_up(v: int) -> int:
    return (v + _MULTIPLE - 1) // _MULTIPLE * _MULTIPLE


def _decode(out: np.ndarray) -> np.ndarray:
    """Network map ``(H, W, 4)`` -> float32 ``(n, 4)`` x, y, direction, score (best first)."""
    return _decode_typed(out)[0]


def _decode_typed(out: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``_decode`` and each minutia's ISO/IEC 19794-2 type code (uint8: ``RIDGE_ENDING`` or
    ``BIFURCATION``, from channel 2)."""
    score = out[..., 3]
    ys, xs = np.nonzero(score >= params.LEADER_MIN_SCORE)
    s = score[ys, xs]
    # Best score first; ties (frequent: scores are quantised by the sigmoid) by position.
    order = np.lexsort((xs, ys, -s))[: params.LEADER_MAX_MINUTIAE]
    ys, xs, s = ys[order], xs[order], s[order]
    theta = np.mod(out[ys, xs, 1], 2 * np.pi)
    types = np.where(out[ys, xs, 2] >= params.LEADER_ENDING_CUT, iso19794.RIDGE_ENDING,
                     iso19794.BIFURCATION).astype(np.uint8)
    return np.column_stack([xs, ys, theta, s]).astype(np.float32), types


def minutiae_batch(
    prints: list[np.ndarray], *, crop: bool = True, threads: int | None = None
) -> list[np.ndarray]:
    """Minutiae only (see ``typed_minutiae_batch``)."""
    return [m for m, _types in typed_minutiae_batch(prints, crop=crop, threads=threads)]


def typed_minutiae_batch(
    prints: list[np.ndarray], *, crop: bool = True, threads: int | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Minutiae of several 500 ppi greyscale prints in one ``run`` (one padded batch).

    Returns, per print, float32 ``(n, 4)`` minutiae (x, y, theta rad, score 0-1) in the print's
    own pixel coordinates and their ISO type codes (uint8 ``(n,)``). Batching prints of
    different sizes pads them to the largest: worth it for the fingers of one check (similar
    sizes), not for arbitrary mixes. ``threads``: onnxruntime
    intra-op threads of this call (default ``LEADER_INTRA_OP_THREADS``; for benchmarks).
    """
    if not prints:
        return []
    boxes = [
        foreground_box(p) if crop else (0, p.shape[0], 0, p.shape[1]) for p in prints
    ]
    crops = [p[t:b, lft:r] for p, (t, b, lft, r) in zip(prints, boxes, strict=True)]
    height = _round_up(max(c.shape[0] for c in crops))
    width = _round_up(max(c.shape[1] for c in crops))
    batch = np.empty((len(crops), height, width, 1), dtype=np.float32)
    offsets = []
    for i, c in enumerate(crops):
        canvas, top, left = _padded(c, height, width)
        batch[i, :, :, 0] = canvas
        offsets.append((top, left))
    run = session() if threads is None else _session_cached(threads)
    out = run.run(None, {"input": batch})[0]
    results = []
    for i, (c, (top, left), box) in enumerate(zip(crops, offsets, boxes, strict=True)):
        h, w = c.shape
        found, types = _decode_typed(out[i, top : top + h, left : left + w])
        found[:, 0] += box[2]
        found[:, 1] += box[0]
        results.append((found, types))
    return results


def minutiae(pixels: np.ndarray, *, crop: bool = True) -> np.ndarray:
    """Minutiae of one 500 ppi greyscale print (see ``minutiae_batch``)."""
    return minutiae_batch([pixels], crop=crop)[0]


def typed_minutiae(pixels: np.ndarray, *, crop: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Minutiae of one print and their ISO type codes (see ``typed_minutiae_batch``)."""
    return typed_minutiae_batch([pixels], crop=crop)[0]
