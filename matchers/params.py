"""Every tuned algorithm constant of the matchers, in one place (deployment settings live in
``gateway.settings``). Change a value here, re-run ``fieldcheck evaluate`` and note the numbers.
"""

# --- Face capture -------------------------------------------------------------------------
# HOG detection runs on a copy whose longer side is at most this many pixels; landmarks and the
# 128-d embedding are then computed on the full-resolution image (dlib HOG costs 0.1-1 s on
# multi-megapixel photos, ~20 ms at this size).
FACE_DETECT_MAX_SIDE = 640
# Upsampling passes for the detector when the first pass finds nothing (small faces).
FACE_DETECT_UPSAMPLE_FALLBACK = 1
# Minimum distance between the eye centres, in full-resolution pixels. DOMAIN.md: matching works
# from about 40-60 px; below 30 the embedding is unreliable.
FACE_MIN_INTER_EYE_PX = 28.0
# A second face whose box area is at least this fraction of the largest face makes the capture
# ambiguous (someone standing beside the subject); smaller background faces are ignored.
FACE_AMBIGUOUS_AREA_RATIO = 0.5
# dlib's jitter count for the embedding (1 = no jitter; more is slower and slightly better).
FACE_NUM_JITTERS = 1
FACE_EMBEDDING_DIM = 128

# --- Fingerprint capture ------------------------------------------------------------------
FINGER_TARGET_PPI = 500
# NFIQ 2 below this is refused at enrolment (0-100 scale; NFIQ 2 bins: 0-20 poor).
FINGER_MIN_NFIQ2_ENROL = 15
# A probe below this asks the officer to recapture instead of giving a possibly wrong "no hit".
FINGER_MIN_NFIQ2_CHECK = 10
FINGER_MIN_MINUTIAE = 8
# Largest side accepted for a finger image after resampling (a plain print is < 1000 px).
FINGER_MAX_SIDE = 2000

# --- First fingerprint search: minutia-pair histogram shortlist + bozorth3 verification -------
# Each template is summarised by a histogram of minutia-pair features (distance, two relative
# angles), quantised and hashed into PAIR_BINS bins; a vectorised dot product against the whole
# gallery shortlists candidates, which bozorth3 (nbis) then scores exactly.
PAIR_MAX_DIST = 160.0  # px at 500 ppi
PAIR_DIST_STEP = 10.0
PAIR_ANGLE_BINS = 12
PAIR_MAX_MINUTIAE = 60  # most reliable minutiae used for pairs
FINGER_SHORTLIST = 40  # candidates re-scored with bozorth3 per probe finger

# --- Calibration --------------------------------------------------------------------------
# Score -> false-match-rate tables measured on ../shared/data impostor pairs (see
# docs/CALIBRATION.md and `fieldcheck evaluate`). Scores between points are interpolated in
# log10(FMR); beyond the last measured point the tail is extrapolated with the last slope,
# floored at FMR_FLOOR.
FMR_FLOOR = 1e-9
# Face: cosine similarity of unit-normalised dlib embeddings (sim = 1 - d^2/2, d the dlib distance;
# dlib's 0.6 distance threshold is sim 0.82).
FACE_SCORE_FMR = (
    (0.70, 1e-1),
    (0.76, 1e-2),
    (0.80, 1e-3),
    (0.83, 1e-4),
    (0.86, 1e-5),
)
# Fingerprint: bozorth3 score (NBIS documents ~40 as a usual match threshold).
FINGER_SCORE_FMR = (
    (12.0, 1e-1),
    (20.0, 1e-2),
    (28.0, 1e-3),
    (36.0, 1e-4),
    (46.0, 1e-5),
)

# --- Decision -----------------------------------------------------------------------------
# Fused evidence = product of the per-modality FMR equivalents of one subject (independent
# modalities and fingers), i.e. the sum of -log10(FMR). The expected false positive
# identification rate of a search is about N * fused FMR (N = enrolled templates searched), so
# thresholds tighten as the watchlist grows.
HIT_TARGET_FPIR = 1e-3
POSSIBLE_TARGET_FPIR = 1e-1
