"""Plain thumbs and slaps: finger position codes 11-15 turned into single fingers.

ANSI/NIST finger positions 11 and 12 are plain (flat) right and left thumbs: single fingers,
read as positions 1 and 6. Positions 13 (right four fingers), 14 (left four) and 15 (both
thumbs) are slaps: one image holding several fingertips, which the matchers cannot use whole.
``segment_slap`` finds the fingertips and crops each one, so a ten-print card's flats are used.

How (every step is measurable on the image, nothing is guessed):

1. Ridge texture: the local standard deviation of grey levels over about 1/30 inch; where
   ridges are, it is high, on the bare platen or paper it is near zero. Otsu's threshold on it
   gives a foreground mask, cleaned by a closing (ridge gaps) and an opening (thin bridges
   between touching fingers, specks).
2. Connected regions of that mask large enough to be a fingertip (``MIN_TIP_AREA_IN2``).
3. Fingers point up the slap's axis; a region lying below another one that overlaps it across
   the axis is a lower joint of the same finger (the flexion crease separates them), not a
   fingertip, and is dropped.
4. If fewer fingertips than the slap holds remain (touching or missing fingers), the slap is
   not segmented: ``SegmentationError`` says how many were found. Extra regions (smudges)
   beyond the count: the largest are kept.
5. The fingertips in image order (left to right) get their positions from the slap's hand, as
   the images are laid out on a ten-print card and by live-scan devices (EBTS, INT-I): right
   hand index..little (2, 3, 4, 5), left hand little..index (10, 9, 8, 7), thumbs left then
   right (6, 1).
6. Each crop runs along the finger's own axis (the principal direction of its region's pixels)
   from the tip down at most ``TIP_HEIGHT_PER_WIDTH`` times its width (the distal joint; a
   merged middle joint is cut off), with a small margin; pixels of neighbouring fingers that
   fall inside the crop's box are blanked to the background grey.

When the record brings its own segmentation (Type-14 field 14.021: finger, left, right, top,
bottom) and every box is plausible for this slap, those boxes are used instead.

Constants are here rather than in ``matchers/params.py`` because this is part of reading the
record (``device_adapters`` may not depend on the matchers' tuning).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

PLAIN_THUMBS = {11: 1, 12: 6}  # plain right thumb, plain left thumb
# The fingers of each slap in image order, left to right.
SLAP_FINGERS: dict[int, tuple[int, ...]] = {13: (2, 3, 4, 5), 14: (10, 9, 8, 7), 15: (6, 1)}
SLAP_NAMES = {13: "right four-finger slap", 14: "left four-finger slap", 15: "two-thumb slap"}

TEXTURE_WINDOW_IN = 1 / 30  # local standard deviation window (about 3 ridge periods)
CLOSE_IN = 0.04  # closing fills gaps between ridges inside a fingertip
OPEN_IN = 0.05  # opening breaks thin bridges between touching fingers
MIN_TIP_AREA_IN2 = 0.06  # the smallest little-finger tip is about 0.35 x 0.45 inch
MIN_TIP_WIDTH_IN = 0.25
MAX_TIP_WIDTH_IN = 1.4  # a thumb is about an inch wide; wider is two fingers merged
TIP_HEIGHT_PER_WIDTH = 1.5  # the distal joint is about 1.3-1.6 times as tall as wide
MARGIN_IN = 0.03
WORK_PPI = 250  # regions are found at this resolution at most
SAME_FINGER_OVERLAP = 0.5  # across-axis overlap (of the narrower) making two regions one finger


class SegmentationError(ValueError):
    """The slap could not be segmented; the message says what was found."""


@dataclass
class Fingertip:
    position: int
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in the slap image (x1, y1 exclusive)
    pixels: np.ndarray
    source: str  # "segmented" or "record" (the record's own 14.021 boxes)


def segment_slap(pixels: np.ndarray, fgp: int, ppi: int,
                 hints: Sequence[tuple[int, int, int, int, int]] = ()) -> list[Fingertip]:
    """The fingertips of slap ``fgp`` (13, 14, 15) in ``pixels`` (8-bit grey, ``ppi``).

    ``hints``: the record's own (position, left, right, top, bottom) boxes, used when all are
    plausible. Raises ``SegmentationError`` when the fingertips cannot be told apart.
    """
    if fgp not in SLAP_FINGERS:
        raise ValueError(f"finger position {fgp} is not a slap")
    expected = SLAP_FINGERS[fgp]
    image = np.asarray(pixels, dtype=np.uint8)
    from_record = _record_boxes(image, expected, ppi, hints)
    if from_record is not None:
        return from_record
    found = _find_tips(image, ppi, len(expected), SLAP_NAMES[fgp])
    return [Fingertip(position=pos, box=box, pixels=crop, source="segmented")
            for pos, (box, crop) in zip(expected, found, strict=True)]


def _px(inches: float, ppi: int) -> int:
    return max(1, round(inches * ppi))


def _record_boxes(image: np.ndarray, expected: tuple[int, ...], ppi: int,
                  hints: Sequence[tuple[int, int, int, int, int]]) -> list[Fingertip] | None:
    if sorted(h[0] for h in hints) != sorted(expected):
        return None
    height, width = image.shape
    tips = []
    for position, left, right, top, bottom in hints:
        box_w, box_h = right - left, bottom - top
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            return None
        if box_w < _px(MIN_TIP_WIDTH_IN, ppi) or box_h < _px(MIN_TIP_WIDTH_IN, ppi):
            return None
        box = (left, top, right, bottom)
        tips.append(Fingertip(position=position, box=box, pixels=_crop(image, box),
                              source="record"))
    return sorted(tips, key=lambda t: expected.index(t.position))


def _odd(n: int) -> int:
    return n if n % 2 else n + 1


def _foreground(image: np.ndarray, ppi: int) -> np.ndarray:
    grey = image.astype(np.float32)
    window = _odd(_px(TEXTURE_WINDOW_IN, ppi))
    mean = cv2.blur(grey, (window, window))
    var = np.maximum(cv2.blur(grey * grey, (window, window)) - mean * mean, 0)
    texture = np.sqrt(var)
    scaled = np.clip(texture * (255.0 / max(float(texture.max()), 1e-6)), 0, 255).astype(np.uint8)
    _, mask = cv2.threshold(scaled, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
    close = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(_px(CLOSE_IN, ppi)),) * 2)
    opening = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(_px(OPEN_IN, ppi)),) * 2)
    mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, close)
    return cv2.morphologyEx(mask, cv2.MORPH_OPEN, opening)


def _find_tips(image: np.ndarray, ppi: int, count: int, name: str
               ) -> list[tuple[tuple[int, int, int, int], np.ndarray]]:
    """(box, crop) per fingertip, left to right; the crop shows only that finger's region.

    The regions are found on a copy at ``WORK_PPI`` at most (ridges are still 5 px apart
    there; four times fewer pixels to filter at 500 ppi), the crops cut from the original.
    """
    scale = min(1.0, WORK_PPI / ppi)
    work_ppi = ppi * scale
    small = image if scale == 1.0 else cv2.resize(image, None, fx=scale, fy=scale,
                                                  interpolation=cv2.INTER_AREA)
    mask = _foreground(small, round(work_ppi))
    n, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    min_area = MIN_TIP_AREA_IN2 * work_ppi * work_ppi
    regions = [
        (int(stats[i, cv2.CC_STAT_LEFT]), int(stats[i, cv2.CC_STAT_TOP]),
         int(stats[i, cv2.CC_STAT_LEFT] + stats[i, cv2.CC_STAT_WIDTH]),
         int(stats[i, cv2.CC_STAT_TOP] + stats[i, cv2.CC_STAT_HEIGHT]),
         int(stats[i, cv2.CC_STAT_AREA]), float(centroids[i][0]), float(centroids[i][1]), i)
        for i in range(1, n) if stats[i, cv2.CC_STAT_AREA] >= min_area
    ]
    tips = [r for r in regions if not any(_below(r, other) for other in regions if other != r)]
    if len(tips) < count:
        raise SegmentationError(
            f"the {name} shows {len(tips)} separable fingertip region(s) where it holds "
            f"{count} (fingers touching, or a finger missing)")
    tips = sorted(sorted(tips, key=lambda r: -r[4])[:count], key=lambda r: r[5])
    background = np.uint8(np.median(small[mask == 0])) if (mask == 0).any() else np.uint8(255)
    return [_tip_crop(image, labels, r, scale, work_ppi, name, background) for r in tips]


def _tip_crop(image: np.ndarray, labels: np.ndarray, region: tuple, scale: float,
              work_ppi: float, name: str, background: np.uint8
              ) -> tuple[tuple[int, int, int, int], np.ndarray]:
    """The distal joint of one finger region, measured along the finger's own axis."""
    x0, y0, x1, y1, *_, label = region
    ys, xs = np.nonzero(labels[y0:y1, x0:x1] == label)
    points = np.stack([xs, ys], axis=1).astype(np.float64)
    centre = points.mean(axis=0)
    # The finger's axis: the principal direction of its pixels, pointing up (to the tip).
    _, vectors = np.linalg.eigh(np.cov((points - centre).T))
    axis, across = vectors[:, 1], vectors[:, 0]
    if axis[1] > 0:
        axis = -axis
    along = (points - centre) @ axis
    side = (points - centre) @ across
    width = float(np.percentile(side, 95) - np.percentile(side, 5))
    if not MIN_TIP_WIDTH_IN * work_ppi <= width <= MAX_TIP_WIDTH_IN * work_ppi:
        raise SegmentationError(
            f"the {name} has a fingertip region {width / work_ppi:.2f} inch wide, not one "
            f"finger ({MIN_TIP_WIDTH_IN}-{MAX_TIP_WIDTH_IN} inch)")
    keep = along >= along.max() - TIP_HEIGHT_PER_WIDTH * width
    margin = _px(MARGIN_IN, round(work_ppi))
    tip = np.zeros((y1 - y0 + 2 * margin, x1 - x0 + 2 * margin), np.uint8)
    tip[ys[keep] + margin, xs[keep] + margin] = 255
    tip = cv2.dilate(tip, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (_odd(2 * margin),) * 2))
    ty, tx = np.nonzero(tip)
    # Back to the original image's pixels.
    height, width_px = image.shape
    left = max(0, int((x0 - margin + tx.min()) / scale))
    top = max(0, int((y0 - margin + ty.min()) / scale))
    right = min(width_px, int(np.ceil((x0 - margin + tx.max() + 1) / scale)))
    bottom = min(height, int(np.ceil((y0 - margin + ty.max() + 1) / scale)))
    box = (left, top, right, bottom)
    crop = _crop(image, box).copy()
    # Neighbouring fingers inside the box are not this finger: blank them to the background.
    full = cv2.resize(tip, None, fx=1 / scale, fy=1 / scale, interpolation=cv2.INTER_NEAREST)
    ox, oy = round((x0 - margin) / scale), round((y0 - margin) / scale)
    ix0, iy0 = max(left, ox), max(top, oy)
    ix1, iy1 = min(right, ox + full.shape[1]), min(bottom, oy + full.shape[0])
    own = np.zeros(crop.shape, np.uint8)
    own[iy0 - top:iy1 - top, ix0 - left:ix1 - left] = full[iy0 - oy:iy1 - oy, ix0 - ox:ix1 - ox]
    crop[own == 0] = background
    return box, crop


def _below(region: tuple, other: tuple) -> bool:
    """``region`` lies under ``other`` and overlaps it across the axis: a lower joint."""
    x0, _, x1, _, _, _, cy, _ = region
    ox0, _, ox1, oy1, _, _, ocy, _ = other
    overlap = min(x1, ox1) - max(x0, ox0)
    narrower = min(x1 - x0, ox1 - ox0)
    return ocy < cy and overlap >= SAME_FINGER_OVERLAP * narrower and oy1 <= cy


def _crop(image: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    x0, y0, x1, y1 = box
    return np.ascontiguousarray(image[y0:y1, x0:x1])
