"""Synthetic fingerprints in the manner of SFinGe (Cappelli, Maio, Maltoni).

A *master fingerprint* is the noise-free ridge pattern of one finger:

1. a silhouette (the fingertip pad),
2. a class-dependent orientation field: the zero-pole model of Sherlock and Monro with cores and
   deltas placed per class (arch, tented arch, left loop, right loop, whorl; an arch has no
   singular points and uses an analytic arch field),
3. a ridge-period map that varies smoothly around a per-finger mean,
4. ridges grown from random seeds by iterated, spatially variant Gabor filtering: each pixel is
   filtered with the Gabor kernel tuned to its local orientation and period, then saturated.
   Where growth fronts of different phase meet, ridge endings and bifurcations appear, so the
   minutiae come out of the process instead of being drawn.

An *impression* is one touch of that finger on a sensor: displacement and rotation, non-linear
skin distortion (an undistorted contact core, a brake region, a rigidly moved periphery), skin
condition (dry: thin broken ridges; wet: thick merged ridges), a pressure-dependent and possibly
partial contact area, noise and a sensor background. Images are 8-bit greyscale at 500 ppi.

Everything is deterministic given a ``numpy.random.Generator``; ``finger_rng(seed, finger)``
derives independent streams so a set can be generated in parallel and still be reproducible.
Cost: about one second per master (48 Gabor banks x ~11 iterations on a 480x400 canvas) and a
few tens of milliseconds per impression.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import wsq  # noqa: F401  (registers the WSQ codec with Pillow)
from PIL import Image

from simulator import params as p

FingerprintClass = Literal["arch", "tented_arch", "left_loop", "right_loop", "whorl"]
SkinCondition = Literal["normal", "dry", "wet"]
ImageFormat = Literal["png", "wsq"]
FINGERPRINT_CLASSES: tuple[FingerprintClass, ...] = (
    "arch",
    "tented_arch",
    "left_loop",
    "right_loop",
    "whorl",
)


@dataclass(frozen=True)
class MasterFingerprint:
    """The noise-free ridge pattern of one synthetic finger (canvas coordinates, y down)."""

    ridges: np.ndarray  # float32 (H, W) in [-1, 1]; > 0 is ridge
    silhouette: np.ndarray  # float32 (H, W) in [0, 1]
    orientation: np.ndarray  # float32 (H, W) ridge direction in radians, [0, pi)
    period: np.ndarray  # float32 (H, W) inter-ridge distance in px
    fingerprint_class: FingerprintClass
    centre: tuple[float, float]  # (x, y) of the pad centre
    cores: list[tuple[float, float]] = field(default_factory=list)
    deltas: list[tuple[float, float]] = field(default_factory=list)


@dataclass(frozen=True)
class ImpressionParams:
    """How one touch differs from the master; draw with ``random_impression_params``."""

    dx: float = 0.0
    dy: float = 0.0
    rotation_deg: float = 0.0
    distortion_shift: tuple[float, float] = (0.0, 0.0)
    distortion_rotation_deg: float = 0.0
    distortion_core_px: float = 50.0
    distortion_brake_px: float = 110.0
    skin: SkinCondition = "normal"
    skin_shift: float = 0.0
    contact_scale: float = 1.0
    contact_offset: tuple[float, float] = (0.0, 0.0)
    background: float = 220.0
    contrast: float = 150.0
    noise_std: float = 6.0
    noise_blobs: int = 60
    texture: float = 0.3


def finger_rng(seed: int, finger: int) -> np.random.Generator:
    """An independent, reproducible random stream for one finger of a set."""
    return np.random.default_rng([seed, finger])


# --- master fingerprint ------------------------------------------------------------------------


def choose_class(rng: np.random.Generator) -> FingerprintClass:
    """Draw a class with its natural frequency."""
    probs = np.array([p.CLASS_FREQUENCIES[c] for c in FINGERPRINT_CLASSES])
    return FINGERPRINT_CLASSES[int(rng.choice(len(probs), p=probs / probs.sum()))]


def _silhouette(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, tuple[float, float]]:
    cx = w / 2 + rng.normal(0, 5)
    cy = h * 0.5 + rng.normal(0, 8)
    a = rng.uniform(*p.SILHOUETTE_HALF_WIDTH)
    top = rng.uniform(*p.SILHOUETTE_TOP)
    bottom = rng.uniform(*p.SILHOUETTE_BOTTOM)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    b = np.where(yy < cy, top, bottom)
    r = np.sqrt(((xx - cx) / a) ** 2 + ((yy - cy) / b) ** 2)
    # Soft edge: the pad's border fades over a few ridges instead of a hard cut.
    sil = np.clip((1.0 - r) / 0.08, 0.0, 1.0).astype(np.float32)
    return sil, (float(cx), float(cy))


def _singular_points(
    cls: FingerprintClass, rng: np.random.Generator, centre: tuple[float, float]
) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    cx, cy = centre
    # The core sits a little above the pad centre in most prints.
    kx, ky = cx + rng.normal(0, 10), cy - rng.uniform(0, 40)
    if cls == "arch":
        return [], []
    if cls == "tented_arch":
        return [(kx, ky)], [(kx + rng.normal(0, 6), ky + rng.uniform(60, 100))]
    if cls in ("left_loop", "right_loop"):
        # A left loop opens to the left and has its delta below and to the right of the core.
        side = 1.0 if cls == "left_loop" else -1.0
        kx -= side * rng.uniform(0, 25)
        return [(kx, ky)], [(kx + side * rng.uniform(85, 135), ky + rng.uniform(85, 135))]
    # Whorl: two cores close together (a circle or a spiral) and two deltas low on both sides.
    sep = rng.uniform(10, 35)
    tilt = rng.uniform(-0.6, 0.6)
    c1 = (kx + sep * math.sin(tilt), ky - sep * math.cos(tilt))
    c2 = (kx - sep * math.sin(tilt), ky + sep * math.cos(tilt))
    dy = ky + rng.uniform(90, 130)
    return [c1, c2], [
        (kx - rng.uniform(95, 135), dy + rng.normal(0, 12)),
        (kx + rng.uniform(95, 135), dy + rng.normal(0, 12)),
    ]


def _orientation_field(
    cls: FingerprintClass,
    cores: list[tuple[float, float]],
    deltas: list[tuple[float, float]],
    centre: tuple[float, float],
    rng: np.random.Generator,
    h: int,
    w: int,
) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    if cls == "arch":
        # Ridges y = A(y) cos(pi (x - cx) / L): flat at the top and bottom, most bent mid-pad.
        cx, cy = centre
        amp = rng.uniform(0.6, 1.1) * np.exp(-(((yy - cy - rng.normal(0, 20)) / 150.0) ** 2))
        length = rng.uniform(300, 400)
        slope = amp * math.pi * np.sin(math.pi * (xx - cx) / length)
        theta = np.arctan(slope)
    else:
        # Zero-pole model (Sherlock and Monro): a core adds half the argument around it, a delta
        # subtracts it; orientation is defined modulo pi, so the branch cuts of arg vanish.
        z = xx + 1j * yy
        theta = np.zeros_like(xx)
        for c in cores:
            theta += 0.5 * np.angle(z - complex(*c))
        for d in deltas:
            theta -= 0.5 * np.angle(z - complex(*d))
        if cls == "whorl":
            # A small twist turns concentric circles into the more common spiral whorls.
            kx = sum(c[0] for c in cores) / 2
            ky = sum(c[1] for c in cores) / 2
            r = np.hypot(xx - kx, yy - ky)
            theta += rng.uniform(-0.25, 0.25) * np.exp(-r / 120.0)
    # Real orientation fields deviate smoothly from any model; without this every synthetic loop
    # has the same ridge flow, and bozorth3 finds too much in common between different fingers.
    wobble = cv2.resize(rng.normal(0, 1, (7, 6)).astype(np.float64), (w, h),
                        interpolation=cv2.INTER_CUBIC)
    theta = theta + p.ORIENTATION_WOBBLE_RAD * wobble
    return np.mod(theta, math.pi).astype(np.float32)


def _period_map(
    rng: np.random.Generator, cores: list[tuple[float, float]], h: int, w: int
) -> np.ndarray:
    mean = rng.uniform(*p.RIDGE_PERIOD_MEAN)
    small = rng.normal(0, 1, size=(6, 5)).astype(np.float32)
    smooth = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    smooth /= max(float(np.abs(smooth).max()), 1e-6)
    period = mean + p.RIDGE_PERIOD_VARIATION * smooth
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    for kx, ky in cores:
        # Ridges above the core are sparser than elsewhere (lower frequency, as in SFinGe).
        above = (yy < ky).astype(np.float32)
        period += 0.8 * above * np.exp(-((xx - kx) ** 2 + (yy - ky) ** 2) / (2 * 90.0**2))
    lo, hi = p.RIDGE_PERIOD_BINS[0], p.RIDGE_PERIOD_BINS[-1]
    return np.clip(period, lo, hi).astype(np.float32)


def _gabor_kernel(theta: float, period: float) -> np.ndarray:
    """Even Gabor kernel for ridges running along ``theta``, normalised to unit gain on them."""
    sigma = p.GABOR_SIGMA_FACTOR * period
    half = int(math.ceil(2.6 * sigma))
    ky, kx = np.mgrid[-half : half + 1, -half : half + 1].astype(np.float64)
    across = -kx * math.sin(theta) + ky * math.cos(theta)
    env = np.exp(-(kx**2 + ky**2) / (2 * sigma**2))
    wave = np.cos(2 * math.pi * across / period)
    kernel = env * wave
    kernel -= env * (kernel.sum() / env.sum())  # zero DC: flat areas must not grow
    gain = float((kernel * wave).sum())  # response to the ideal ridge pattern it is tuned to
    return (kernel / gain).astype(np.float32)


_BANK: dict[tuple[int, int], np.ndarray] = {}


def _bank(oi: int, fi: int) -> np.ndarray:
    # Kernels depend only on constants: build once per process and reuse (read-only afterwards).
    key = (oi, fi)
    if key not in _BANK:
        _BANK[key] = _gabor_kernel(math.pi * oi / p.ORIENTATION_BINS, p.RIDGE_PERIOD_BINS[fi])
    return _BANK[key]


def _interp_weights(
    values: np.ndarray, bins: int, cyclic: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lower bin index, upper bin index and weight of the upper one, per pixel."""
    lo = np.floor(values).astype(np.int32)
    frac = (values - lo).astype(np.float32)
    if cyclic:
        return lo % bins, (lo + 1) % bins, frac
    lo = np.clip(lo, 0, bins - 1)
    hi = np.clip(lo + 1, 0, bins - 1)
    return lo, hi, frac


def grow_ridges(
    orientation: np.ndarray,
    period: np.ndarray,
    rng: np.random.Generator,
    iterations: int | None = None,
) -> np.ndarray:
    """Grow a ridge pattern from random seeds by iterated, spatially variant Gabor filtering."""
    iterations = p.GROWTH_ITERATIONS if iterations is None else iterations
    h, w = orientation.shape
    img = np.zeros((h, w), np.float32)
    n_seeds = int(rng.integers(*p.GROWTH_SEEDS))
    ys = rng.integers(0, h, n_seeds)
    xs = rng.integers(0, w, n_seeds)
    img[ys, xs] = rng.choice([-1.0, 1.0], n_seeds)
    img = cv2.GaussianBlur(img, (0, 0), 1.5) * 10.0

    o_lo, o_hi, o_w = _interp_weights(
        orientation / math.pi * p.ORIENTATION_BINS, p.ORIENTATION_BINS, True
    )
    bins = np.asarray(p.RIDGE_PERIOD_BINS, np.float32)
    f_pos = np.interp(period, bins, np.arange(len(bins), dtype=np.float32)).astype(np.float32)
    f_lo, f_hi, f_w = _interp_weights(f_pos, len(bins), False)
    # Only the period bins the map actually touches are filtered (usually two or three of four).
    used_f = sorted(set(np.unique(f_lo).tolist()) | set(np.unique(f_hi).tolist()))
    weights: dict[tuple[int, int], np.ndarray] = {}
    for oi in range(p.ORIENTATION_BINS):
        w_o = np.where(o_lo == oi, 1.0 - o_w, 0.0) + np.where(o_hi == oi, o_w, 0.0)
        if not w_o.any():
            continue
        for fi in used_f:
            w_f = np.where(f_lo == fi, 1.0 - f_w, 0.0) + np.where(f_hi == fi, f_w, 0.0)
            wt = (w_o * w_f).astype(np.float32)
            if wt.any():
                weights[(oi, fi)] = wt

    for _ in range(iterations):
        acc = np.zeros_like(img)
        for (oi, fi), wt in weights.items():
            acc += wt * cv2.filter2D(img, cv2.CV_32F, _bank(oi, fi), borderType=cv2.BORDER_REFLECT)
        img = np.clip(p.GROWTH_GAIN * acc, -1.0, 1.0)
        # Stop once ridges cover the canvas: further passes only cost time (the last percent or so,
        # around deltas where orientations clash, stays flat as smudges do on real prints).
        if float((np.abs(img) < 0.1).mean()) < p.GROWTH_UNFILLED_STOP:
            break
    return img


def generate_master(
    rng: np.random.Generator,
    fingerprint_class: FingerprintClass | None = None,
    height: int = p.MASTER_HEIGHT,
    width: int = p.MASTER_WIDTH,
) -> MasterFingerprint:
    """Generate one master fingerprint (class drawn with natural frequencies unless given)."""
    cls = fingerprint_class or choose_class(rng)
    sil, centre = _silhouette(rng, height, width)
    cores, deltas = _singular_points(cls, rng, centre)
    orientation = _orientation_field(cls, cores, deltas, centre, rng, height, width)
    period = _period_map(rng, cores, height, width)
    ridges = grow_ridges(orientation, period, rng)
    return MasterFingerprint(
        ridges=ridges,
        silhouette=sil,
        orientation=orientation,
        period=period,
        fingerprint_class=cls,
        centre=centre,
        cores=cores,
        deltas=deltas,
    )


# --- impressions ---------------------------------------------------------------------------


def random_impression_params(rng: np.random.Generator) -> ImpressionParams:
    """Draw the variation of one touch: placement, distortion, skin, contact and sensor."""
    skins = list(p.SKIN_CONDITION_SHARES)
    shares = np.array([p.SKIN_CONDITION_SHARES[s] for s in skins])
    skin: SkinCondition = skins[int(rng.choice(len(skins), p=shares / shares.sum()))]  # type: ignore[assignment]
    shift = {"normal": (-0.12, 0.12), "dry": p.SKIN_DRY_SHIFT, "wet": p.SKIN_WET_SHIFT}[skin]
    offset = (rng.normal(0, 12), rng.normal(0, 12))
    if rng.random() < p.PARTIAL_CONTACT_SHARE:
        angle = rng.uniform(0, 2 * math.pi)
        dist = rng.uniform(*p.PARTIAL_CONTACT_SHIFT_PX)
        offset = (dist * math.cos(angle), dist * math.sin(angle))
    return ImpressionParams(
        dx=float(rng.normal(0, p.DISPLACEMENT_PX)),
        dy=float(rng.normal(0, p.DISPLACEMENT_PX)),
        rotation_deg=float(np.clip(rng.normal(0, p.ROTATION_DEG), -35, 35)),
        distortion_shift=(
            float(rng.normal(0, p.DISTORTION_SHIFT_PX)),
            float(rng.normal(0, p.DISTORTION_SHIFT_PX)),
        ),
        distortion_rotation_deg=float(rng.normal(0, p.DISTORTION_ROTATION_DEG)),
        distortion_core_px=float(rng.uniform(*p.DISTORTION_CORE_PX)),
        distortion_brake_px=float(rng.uniform(*p.DISTORTION_BRAKE_PX)),
        skin=skin,
        skin_shift=float(rng.uniform(*shift)),
        contact_scale=float(rng.uniform(*p.CONTACT_SCALE)),
        contact_offset=(float(offset[0]), float(offset[1])),
        background=float(rng.uniform(*p.BACKGROUND_GREY)),
        contrast=float(rng.uniform(*p.RIDGE_CONTRAST)),
        noise_std=float(rng.uniform(*p.NOISE_STD)),
        noise_blobs=int(rng.integers(*p.NOISE_BLOBS)),
        texture=float(rng.uniform(*p.SKIN_TEXTURE)),
    )


def _source_maps(
    master: MasterFingerprint, prm: ImpressionParams, out_h: int, out_w: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Canvas coordinates seen by each sensor pixel, and sensor coordinates of the pad centre."""
    cx, cy = master.centre
    v, u = np.mgrid[0:out_h, 0:out_w].astype(np.float32)
    # Rigid placement: the pad centre lands at the window centre moved by (dx, dy), rotated.
    a = math.radians(prm.rotation_deg)
    px = u - (out_w / 2 + prm.dx)
    py = v - (out_h / 2 + prm.dy)
    sx = math.cos(a) * px + math.sin(a) * py + cx
    sy = -math.sin(a) * px + math.cos(a) * py + cy
    # Skin distortion: inside the contact core the skin sticks to the sensor (no distortion);
    # across the brake region an extra rigid motion of the periphery fades in smoothly.
    kx = cx + prm.contact_offset[0]
    ky = cy + prm.contact_offset[1]
    d = np.hypot(sx - kx, sy - ky)
    t = np.clip((d - prm.distortion_core_px) / prm.distortion_brake_px, 0.0, 1.0)
    brake = t * t * (3 - 2 * t)
    b = math.radians(prm.distortion_rotation_deg)
    rx = math.cos(b) * (sx - kx) - math.sin(b) * (sy - ky) + kx + prm.distortion_shift[0]
    ry = math.sin(b) * (sx - kx) + math.cos(b) * (sy - ky) + ky + prm.distortion_shift[1]
    map_x = (sx + brake * (rx - sx)).astype(np.float32)
    map_y = (sy + brake * (ry - sy)).astype(np.float32)
    return map_x, map_y, sx.astype(np.float32), sy.astype(np.float32)


def render_impression(
    master: MasterFingerprint,
    prm: ImpressionParams,
    rng: np.random.Generator,
    height: int = p.IMPRESSION_HEIGHT,
    width: int = p.IMPRESSION_WIDTH,
) -> np.ndarray:
    """Render one impression of ``master`` as an 8-bit greyscale image at 500 ppi."""
    map_x, map_y, sx, sy = _source_maps(master, prm, height, width)
    ridges = cv2.remap(master.ridges, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)
    sil = cv2.remap(master.silhouette, map_x, map_y, cv2.INTER_LINEAR, borderValue=0.0)

    # Contact area: an ellipse around the (possibly off-centre) contact point whose size grows
    # with pressure; its soft border is where the ridges fade out on a real sensor.
    cx, cy = master.centre
    kx = cx + prm.contact_offset[0]
    ky = cy + prm.contact_offset[1]
    ax = 150.0 * prm.contact_scale
    ay = 210.0 * prm.contact_scale
    r = np.sqrt(((sx - kx) / ax) ** 2 + ((sy - ky) / ay) ** 2)
    contact = np.clip((1.0 - r) / 0.25, 0.0, 1.0) * sil
    # Pressure falls off towards the border of the contact: ridges there look drier.
    dryness = (1.0 - contact) * 0.5

    # Skin condition moves the ridge/valley threshold: dry skin leaves thin, broken ridges,
    # wet skin thick ridges that merge across valleys.
    level = cv2.GaussianBlur(ridges, (0, 0), 0.9) + prm.skin_shift - dryness
    if prm.skin == "dry":
        # Dry skin touches the sensor in patches: modulate with a blotchy low-frequency field.
        blot = cv2.resize(
            rng.normal(0, 1, (40, 32)).astype(np.float32),
            (width, height),
            interpolation=cv2.INTER_CUBIC,
        )
        level -= 0.35 * np.maximum(blot, 0)
    elif prm.skin == "wet":
        level = cv2.GaussianBlur(level, (0, 0), 1.2)
    # Skin texture: fine-scale variation of the ridge level makes ridges break and touch in
    # different places on each touch, which is where real impressions disagree on minutiae.
    texture = cv2.GaussianBlur(rng.normal(0, 1, (height, width)).astype(np.float32), (0, 0), 2.2)
    level += prm.texture * texture / max(float(texture.std()), 1e-6)
    ink = 1.0 / (1.0 + np.exp(-6.0 * level))
    ink *= np.clip(contact * 1.6, 0.0, 1.0)

    # Bright blobs on ridges: pores, dirt and dry flakes break ridges like in real captures.
    blobs = np.zeros((height, width), np.float32)
    n = prm.noise_blobs
    blobs[rng.integers(0, height, n), rng.integers(0, width, n)] = 1.0
    blobs = cv2.GaussianBlur(blobs, (0, 0), 1.1)
    blobs = np.clip(blobs / max(float(blobs.max()), 1e-6) * 1.5, 0, 1)
    ink *= 1.0 - blobs

    # Sensor background: uneven illumination and a faint fixed pattern.
    shade = cv2.resize(
        rng.normal(0, 1, (4, 4)).astype(np.float32), (width, height), interpolation=cv2.INTER_CUBIC
    )
    bg = prm.background + 6.0 * shade
    img = bg - prm.contrast * ink
    img += rng.normal(0, prm.noise_std, (height, width)).astype(np.float32)
    img = cv2.GaussianBlur(img, (0, 0), 0.6)
    return np.clip(img, 0, 255).astype(np.uint8)


def generate_impression(master: MasterFingerprint, rng: np.random.Generator) -> np.ndarray:
    """One impression with randomly drawn variation."""
    return render_impression(master, random_impression_params(rng), rng)


def generate_finger(
    seed: int, finger: int, impressions: int
) -> tuple[MasterFingerprint, list[np.ndarray]]:
    """The master of ``finger`` in the set ``seed`` and its first ``impressions`` impressions."""
    rng = finger_rng(seed, finger)
    master = generate_master(rng)
    return master, [generate_impression(master, rng) for _ in range(impressions)]


# --- encoding ------------------------------------------------------------------------------


def encode(pixels: np.ndarray, fmt: ImageFormat = "png") -> bytes:
    """Encode a 500 ppi greyscale print as PNG (with its resolution recorded) or WSQ."""
    image = Image.fromarray(np.asarray(pixels, np.uint8), mode="L")
    buf = io.BytesIO()
    if fmt == "png":
        image.save(buf, format="PNG", dpi=(p.SYNTH_PPI, p.SYNTH_PPI))
    elif fmt == "wsq":
        image.save(buf, format="WSQ")
    else:
        raise ValueError(f"unknown image format {fmt!r}; use 'png' or 'wsq'")
    return buf.getvalue()


def fvc_name(finger: int, impression: int, fmt: ImageFormat = "png") -> str:
    """File name in the FVC layout: fingers from 101, impressions from 1."""
    return f"{100 + finger}_{impression}.{fmt}"


def write_finger(
    out_dir: Path, seed: int, finger: int, impressions: int, fmt: ImageFormat
) -> list[Path]:
    """Generate finger ``finger`` (1-based) of set ``seed`` and write its impressions."""
    _, images = generate_finger(seed, finger, impressions)
    paths = []
    for k, img in enumerate(images, start=1):
        path = out_dir / fvc_name(finger, k, fmt)
        path.write_bytes(encode(img, fmt))
        paths.append(path)
    return paths


# --- captures for the device simulator ------------------------------------------------------


def enrolment_impression_params(rng: np.random.Generator) -> ImpressionParams:
    """A careful, centred, full-contact capture as taken at enrolment."""
    return ImpressionParams(
        dx=float(rng.normal(0, 5)),
        dy=float(rng.normal(0, 5)),
        rotation_deg=float(rng.normal(0, 3)),
        contact_scale=1.0,
        skin="normal",
        skin_shift=0.0,
        texture=0.25,
        noise_std=5.0,
        noise_blobs=60,
    )


def field_probe_params(rng: np.random.Generator, quality: str = "good") -> ImpressionParams:
    """A handheld capture: "good" is a cooperative touch, "poor" smudged, partial and faint."""
    prm = random_impression_params(rng)
    if quality == "poor":
        return replace(
            prm,
            contrast=float(rng.uniform(25, 50)),
            noise_std=float(rng.uniform(18, 30)),
            contact_scale=float(rng.uniform(0.45, 0.65)),
            texture=0.9,
        )
    return replace(
        prm,
        dx=prm.dx / 2,
        dy=prm.dy / 2,
        rotation_deg=prm.rotation_deg / 2,
        distortion_shift=(prm.distortion_shift[0] / 2, prm.distortion_shift[1] / 2),
        skin="normal",
        skin_shift=float(rng.uniform(-0.1, 0.1)),
        contact_scale=float(rng.uniform(0.85, 1.0)),
        contact_offset=(float(rng.normal(0, 8)), float(rng.normal(0, 8))),
        texture=float(rng.uniform(0.2, 0.4)),
    )
