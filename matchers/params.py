"""Every tuned algorithm constant of the matchers, in one place (deployment settings live in
``gateway.settings``). Change a value here, re-run ``fieldcheck evaluate`` and note the numbers.
"""

# --- Face capture -------------------------------------------------------------------------
# HOG detection runs on a copy whose longer side is at most this many pixels; landmarks and the
# 128-d embedding are then computed on the full-resolution image (dlib HOG costs 0.1-1 s on
# multi-megapixel photos, ~20 ms at this size).
FACE_DETECT_MAX_SIDE = 640
# Photos whose shorter side is below this many pixels cannot hold a usable face (28 px between
# the eyes needs a face box of ~70 px) and are not given to dlib, whose detectors raise or crash
# (heap corruption seen on a 640 x 1 array) on such slivers. The downscaled detection copy also
# keeps at least this shorter side (a 100 x 5000 strip is not shrunk to 13 x 640).
FACE_MIN_IMAGE_SIDE = 48
# Upsampling passes for the detector when the first pass finds nothing (small faces).
FACE_DETECT_UPSAMPLE_FALLBACK = 2
# Last resort when HOG finds no face at all: dlib's CNN (MMOD) detector (slower, more robust).
FACE_CNN_FALLBACK = True
# Minimum face resolution, as a distance between the eye centres in full-resolution pixels.
# DOMAIN.md: matching works from about 40-60 px; below 30 the embedding is unreliable.
FACE_MIN_INTER_EYE_PX = 28.0
# A turned head shows its eyes closer together than its resolution warrants (LFW Richard_Gere_0005:
# 25 px between the eyes in a 90 px face box), so the face's size is the larger of the measured
# inter-eye distance and this fraction of the face box width: the median inter-eye / box ratio of
# the 750 LFW faces (0.396; 5th percentile 0.32).
FACE_EYE_TO_BOX_RATIO = 0.40
# Aligned chip given to the ResNet (dlib.get_face_chip; dlib's own size and padding). The
# embedding is the mean of the unit embeddings of the chip and of its mirror image: on LFW, EER
# 1.19% -> 0.89% and rank-1 98.5% -> 99.1% for one more ResNet pass (~30 ms on an idle core).
FACE_CHIP_SIZE = 150
FACE_CHIP_PADDING = 0.25
FACE_MIRROR_AVERAGE = True
# A second face whose box area is at least this fraction of the largest face makes the capture
# ambiguous (someone standing beside the subject); smaller background faces are ignored.
FACE_AMBIGUOUS_AREA_RATIO = 0.5
# ...unless one of them is framed in the centre (offset from the image centre at most this
# fraction of the diagonal) and the others are clearly off-centre (at least this fraction).
FACE_CENTRED_MAX = 0.12
FACE_OFF_CENTRE_MIN = 0.25
# dlib's jitter count for the embedding (1 = no jitter). Jittering the enrolled photo 10 times
# on top of the mirror average changed nothing on LFW (rank-1 99.1% either way) for ~10x the time.
FACE_NUM_JITTERS = 1
FACE_EMBEDDING_DIM = 128
# Copies of the dlib models (~30 MB each) used in parallel; one per core is enough.
FACE_MODEL_SETS = 2

# --- Face 1:N index (matchers/face_index.py) -------------------------------------------------
# Prefix of rows whose k-th best score bounds the final top-k threshold from below (and the
# smallest block of a batched search). Smaller blocks cost BLAS thread start-up per call.
FACE_SEARCH_BLOCK = 65_536
# Score buffer of a batched search, in floats (64 MB): a batch of m probes walks the matrix in
# blocks of FACE_SCORE_BUFFER / m rows, so a big batch never allocates N x m scores.
FACE_SCORE_BUFFER = 16_000_000
# Rows kept per requested subject: enough for subjects enrolled with several photos.
FACE_ROWS_PER_SUBJECT_HINT = 4

# --- Fingerprint capture ------------------------------------------------------------------
FINGER_TARGET_PPI = 500
# NFIQ 2 below this is refused at enrolment (0-100 scale; NFIQ 2 bins: 0-20 poor).
FINGER_MIN_NFIQ2_ENROL = 15
# A probe below this asks the officer to recapture instead of giving a possibly wrong "no hit".
FINGER_MIN_NFIQ2_CHECK = 10
FINGER_MIN_MINUTIAE = 8
# Largest side accepted for a finger image after resampling (a plain print is < 1000 px).
FINGER_MAX_SIDE = 2000

# --- Fingerprint 1:N index (matchers/fingerprint_index.py) --------------------------------
# Shortlist: bag of cylinder codewords. More words discriminate better but cost 4 B each per
# template in RAM and per-probe scan time. 1024 words: 410 MB and ~11 ms per 100k templates; the
# real mate is in the top 300 of 100k for 69% of FVC probes (256 words: 54%, 100 MB, ~3 ms;
# `fieldcheck bench fingerprint` rank-1 63% -> 79%). Changing it invalidates saved indexes.
FINGER_BOW_WORDS = 1024
FINGER_BOW_ASSIGN = 3  # codewords each cylinder votes for (soft assignment tolerates noise)
FINGER_BOW_SEED = 20240607  # seed of the synthetic training prints (reproducible codebook)
FINGER_BOW_TRAIN_PRINTS = 1500  # synthetic prints whose cylinders train the codebook
FINGER_BOW_TRAIN_ITERATIONS = 15  # spherical k-means iterations
# Candidates verified with MCC LSS-R per probe finger (~0.15 ms each on an idle core of this
# machine). The shortlist's recall limits 1:N accuracy (docs/MATCHERS.md: at 100k templates the
# mate is in the top 300 for 54% of real probes, top 1,000 for 71%).
FINGER_SHORTLIST = 300

# --- Minutia Cylinder-Code (matchers/mcc.py) -----------------------------------------------
# Values from Cappelli et al. (TPAMI 2010) unless noted; the noted ones were tuned on the shared
# FVC sets with `fieldcheck evaluate fingerprints` (docs/MATCHERS.md).
MCC_RADIUS = 70.0  # cylinder radius in px at 500 ppi (about 7 ridge periods)
MCC_NS = 8  # cells per side; 16 in the paper, 8 keeps a cylinder to 6 uint64 words (tuned)
MCC_ND = 6  # direction sections per cell
MCC_SIGMA_S = 28.0 / 3.0  # spatial Gaussian of a minutia's contribution, px
MCC_SIGMA_D = 2.0 * 3.141592653589793 / 9.0  # directional Gaussian, rad
MCC_MU_PSI = 0.01  # a cell-section bit is set when its summed contribution exceeds this
MCC_HULL_MARGIN = 50.0  # cells farther than this (px) outside the minutiae hull are invalid
MCC_MIN_VALID_CELLS = 0.75  # fraction of the in-circle cells a cylinder needs to be kept
MCC_MIN_NEIGHBOURS = 2  # minutiae within R + 3 sigma_S a cylinder needs to be kept
MCC_MIN_COMMON_CELLS = 0.6  # fraction of in-circle cell-sections two cylinders must share
MCC_MAX_DIRECTION_DIFF = 3.141592653589793 / 2  # cylinders whose minutiae differ more don't match
# ISO angles turn counter-clockwise on screen while image y points down (measured on FVC:
# mean EER 7.4% with -1, 17% with +1).
MCC_ROTATION_SIGN = -1.0
MCC_MAX_MINUTIAE = 64  # most reliable minutiae kept per template (bounds memory and time)
MCC_MIN_MINUTIA_QUALITY = 0.0  # mindtct reliability below this is dropped (tuned)
# LSS consolidation: the number of top pairs averaged grows with the smaller template size
# from MCC_MIN_NP to MCC_MAX_NP, a sigmoid centred at MCC_MU_P minutiae.
MCC_MIN_NP = 4
MCC_MAX_NP = 12
MCC_MU_P = 20.0
MCC_TAU_P = 0.4
# LSS-R relaxation: pairs reinforce each other when their distances and angles agree.
MCC_RELAX_ITERATIONS = 5
MCC_RELAX_WEIGHT = 0.5
MCC_MAX_RELAX_PAIRS = 64  # cap on min(nA, nB) pairs relaxed (bounds the (S, nR, nR) tensor)
MCC_RHO_MU_DIST = 5.0  # px
MCC_RHO_TAU_DIST = -8.0 / 5.0
MCC_RHO_MU_ANGLE = 3.141592653589793 / 12
MCC_RHO_TAU_ANGLE = -30.0

# --- Calibration --------------------------------------------------------------------------
# Score -> false-match-rate tables measured on ../shared/data impostor pairs (see
# docs/CALIBRATION.md and `fieldcheck evaluate`). Scores between points are interpolated in
# log10(FMR); beyond the last measured point the tail is extrapolated with the last slope,
# floored at FMR_FLOOR.
FMR_FLOOR = 1e-9
# Face: cosine similarity of unit-normalised embeddings (mean of the dlib embeddings of the chip
# and its mirror image, matchers/face.py). Measured on LFW (750 templates, every image of
# ../shared/data/faces/lfw; 277,500 impostor pairs = all pairs of templates of different
# identities; 3,375 genuine): impostor quantiles 0.9/0.99/0.999/0.9999/0.99999 (0.8830, 0.9112,
# 0.9312, 0.9481, 0.9596), rounded to 3 decimals. The 1e-5 point rests on ~3 pairs.
# Note dlib embeddings are not zero-mean, so impostors already score ~0.84 on average.
FACE_SCORE_FMR = (
    (0.883, 1e-1),
    (0.911, 1e-2),
    (0.931, 1e-3),
    (0.948, 1e-4),
    (0.960, 1e-5),
)
# Fingerprint: MCC LSS-R similarity (matchers/mcc.py). Measured on 11,520 impostor pairs (all
# impressions of different fingers within each shared FVC set, mindtct minutiae): FMR 1e-1 at
# 0.0168, 1e-2 at 0.0219, 1e-3 at 0.0286. 1e-4 and 1e-5 extrapolate that tail's slope (0.0067 per
# decade), rounded up; 96,000 real-vs-synthetic pairs have a lighter tail (1e-4 at 0.0273).
FINGER_SCORE_FMR = (
    (0.0168, 1e-1),
    (0.0219, 1e-2),
    (0.0286, 1e-3),
    (0.036, 1e-4),
    (0.044, 1e-5),
)

# --- Decision -----------------------------------------------------------------------------
# Fused evidence = product of the per-modality FMR equivalents of one subject (independent
# modalities and fingers), i.e. the sum of -log10(FMR). The expected false positive
# identification rate of a search is about N * fused FMR (N = enrolled templates searched), so
# thresholds tighten as the watchlist grows.
# Per-capture evidence below this (FMR above 1e-2) is left out of the fused sum: with several
# captures, weak evidence from each summed up made strangers "possible" in simulation.
FUSION_MIN_EVIDENCE = 2.0
HIT_TARGET_FPIR = 1e-3
# 1:1 verification threshold of `fieldcheck evaluate faces`: the calibrated score at this FMR.
# Its "accuracy" is over balanced genuine/impostor pairs (LFW-style), which is maximised near the
# EER; 1e-2 is the standard operating point closest to it (on LFW 99.1%, the best threshold gives
# 99.1% too; at 1e-3 it is 97.2%). 1:N decisions never use it: they use FACE_SCORE_FMR.
FACE_VERIFY_FMR = 1e-2
# A 'possible' goes to an analyst; at 1e-1 one stranger in ten raised one on LFW (measured with
# tests/gateway/test_realdata_checks.py), too many for a review desk.
POSSIBLE_TARGET_FPIR = 5e-2

# --- Synthetic benchmark galleries (matchers/synthetic.py) -----------------------------------
# Minutiae per synthetic print: mindtct gives 30-90 (mean 44) on the shared FVC prints.
SYNTH_MEAN_MINUTIAE = 45.0
SYNTH_SD_MINUTIAE = 15.0
SYNTH_MIN_SPACING = 8.0  # px; ridges are about 9 px apart at 500 ppi
