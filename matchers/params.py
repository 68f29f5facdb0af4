"""Every tuned algorithm constant of the matchers, in one place (deployment settings live in
``gateway.settings``). Change a value here, re-run ``fieldcheck evaluate`` and note the numbers.
"""

# --- Face capture (matchers/face.py: YuNet + SFace) ---------------------------------------
# YuNet runs on a copy whose longer side is at most this many pixels (it is trained on 10-300 px
# faces; a 1080p photo costs ~4x more at full size and finds no more faces); the landmarks are
# mapped back and the face is aligned on the full-resolution image.
FACE_DETECT_MAX_SIDE = 640
# Photos whose shorter side is below this many pixels cannot hold a usable face (28 px between
# the eyes needs a face box of ~70 px). The downscaled detection copy also keeps at least this
# shorter side (a 100 x 5000 strip is not shrunk to 13 x 640).
FACE_MIN_IMAGE_SIDE = 48
# YuNet's score threshold (its default) and the lower one faces are also accepted at: on the
# shared LFW photos 0.9 misses a few subjects that 0.5 finds (0 failures to enrol of 5,238), and
# a subject at 0.89 beside a smaller background face at 0.92 (Ariel_Sharon_0004) is kept.
FACE_DETECT_SCORE = 0.9
FACE_DETECT_RETRY_SCORE = 0.5
FACE_DETECT_NMS = 0.3  # YuNet's default non-maximum suppression IoU
FACE_DETECT_TOP_K = 5000  # YuNet's default candidate count before NMS
# Minimum face resolution, as a distance between the eye centres in full-resolution pixels.
# DOMAIN.md: matching works from about 40-60 px; below 30 the embedding is unreliable.
FACE_MIN_INTER_EYE_PX = 28.0
# A turned head shows its eyes closer together than its resolution warrants (lfw_open
# Allan_Houston_0001: 16 px between the eyes in a 67 px face box), so the face's size is the
# larger of the measured inter-eye distance and this fraction of the YuNet box width: the median
# inter-eye / box ratio of the LFW faces (0.467 on lfw, 0.465 on lfw_open).
FACE_EYE_TO_BOX_RATIO = 0.46
# Sharpness (variance of the Laplacian of the 112 px aligned chip) below which a face is refused
# as blurred: about half the least sharp of the 5,238 shared LFW photos (lfw 28.6, lfw_open 11.1;
# 1st percentile 40 and 34), where a Gaussian blur of sigma 3 px puts an LFW photo (~5; its
# embedding then keeps only ~0.6 cosine with the sharp photo's). Only a plainly out-of-focus or
# shaken photo is refused.
FACE_MIN_SHARPNESS = 6.0
# A second face whose box area is at least this fraction of the largest face makes the capture
# ambiguous (someone standing beside the subject); smaller background faces are ignored.
FACE_AMBIGUOUS_AREA_RATIO = 0.5
# ...unless one of them is framed in the centre (offset from the image centre at most this
# fraction of the diagonal) and the others are clearly off-centre (at least this fraction).
FACE_CENTRED_MAX = 0.12
FACE_OFF_CENTRE_MIN = 0.25
FACE_EMBEDDING_DIM = 128
# Model sets (detector + SFace network, ~40 MB each) used in parallel; one per core is enough.
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
# A capture below this resolution cannot be resampled to 500 ppi detail (ridges ~9 px apart at
# 500 ppi fall to ~6 px, where valleys and pores blur): refused naming the resolution, since
# capturing again with the same sensor cannot fix it.
FINGER_MIN_PPI = 350
# NFIQ 2 below this is refused at enrolment (0-100 scale; NFIQ 2 bins: 0-20 poor).
FINGER_MIN_NFIQ2_ENROL = 15
# A probe below this asks the officer to recapture instead of giving a possibly wrong "no hit".
FINGER_MIN_NFIQ2_CHECK = 10
# Re-checked for LEADER (issue 12): 4 of the 400 shared prints give fewer (mindtct: 2); below it
# LSS-R averages too few pairs and impostors scatter high (0.071 measured, FMR ~1e-4 at 0.034).
FINGER_MIN_MINUTIAE = 8
# Largest side accepted for a finger image after resampling (a plain print is < 1000 px).
FINGER_MAX_SIDE = 2000

# --- LEADER minutiae extractor (matchers/leader.py) ----------------------------------------
# Points of the network's NMS'd score channel kept as minutiae, and at most this many by score.
# Chosen leaving one set out over the 7 shared FVC sets (issue 12, docs/MATCHERS.md): for each
# set, the lowest mean EER on the other six over cuts 0.05-0.55 x at most 50/150 x LSS pairs
# 3-8/2-6/2-5 (ties to the smaller template): 0.1 / 50 / 2-6 in 6 of the 7 folds (the
# fvc2000_db4_b fold: a three-way tie at 0.05-0.25). The former 0.55 (first tuned on 5 sets over
# 0.45-0.75 only) threw away most minutiae of faint or noisy prints: fvc2000_db4_b's finger 101
# kept 4-20 and 18 of its 28 genuine pairs scored as impostors (set EER 6.55%; 2.18% left out).
# The cap bounds the template (mean 40 minutiae, sd 10, on the 560 shared prints; 44 uncapped,
# same EERs).
LEADER_MIN_SCORE = 0.1
LEADER_MAX_MINUTIAE = 50
# Channel 2 of LEADER's map is the minutia type: >= this is a ridge ending, below a bifurcation.
# Checked against NBIS mindtct's types on the same prints (16 fvc2002_db1_b prints, LEADER
# points within 6 px of a mindtct minutia): 292 of 311 mindtct endings and 101 of 117
# bifurcations agree (92%), the reverse reading would agree on 8%.
LEADER_ENDING_CUT = 0.5
# Threads of one inference. A check's fingers and face already run in parallel on the two cores
# (gateway extractor pool), so one thread per call avoids oversubscription (docs/MATCHERS.md).
LEADER_INTRA_OP_THREADS = 1
# Foreground crop before inference: 16 px blocks whose grey-level standard deviation reaches
# this value hold ridges; the box around them, plus a margin of about two ridge periods, is
# what the network sees (its cost is linear in pixels).
LEADER_FOREGROUND_BLOCK = 16
LEADER_FOREGROUND_STD = 12.0
LEADER_FOREGROUND_MARGIN = 24

# --- Fingerprint 1:N index (matchers/fingerprint_index.py, matchers/cylinder_hash.py) ------
# Shortlist: locality-sensitive hashing of cylinder bits (MCC indexing, Cappelli et al. 2011,
# with keys that are triples of set bits: matchers/cylinder_hash.py). Chosen on a 20,000
# synthetic + 40 real FVC gallery, all 280 other impressions searched with no position filter
# (docs/MATCHERS.md, "Stage 1"): the mate was in the top 300 for 93.6% of probes with triples
# of the first 16 set bits, 16 keys per cylinder; pairs: 90.7%; fixed-bit keys (256 tables x
# 24 bits, >= 6 set): 47.9%; the bag of 1,024 codewords it replaced: 69% at 100k. At 100,000
# distinct synthetic templates (`fieldcheck bench fingerprint`) the mate is in the top 300 for
# 95.4% of the 280 real probes (rank-1 95.0%). Changing them invalidates saved indexes.
FINGER_LSH_ORDER = 3  # set bits per key
FINGER_LSH_CAP = 16  # first set bits (in a fixed pseudo-random priority) combined
FINGER_LSH_PER_CYLINDER = 16  # smallest key hashes kept per cylinder (bottom-k sketch)
FINGER_LSH_SEED = 20261201
# Cylinders added since the last sort are compared directly (a linear scan of their keys);
# past this many they are sorted and inserted into the key table (~1 s at 100k templates).
FINGER_LSH_TAIL = 100_000
# Candidates verified with MCC LSS-R per probe finger (~0.15 ms each on an idle core of this
# machine). The shortlist's recall bounds 1:N accuracy: measured by `fieldcheck bench
# fingerprint` (recall at 300 and 1,000 of 100k).
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
# Minutia quality below this is dropped (tuned for mindtct; LEADER's minutiae are already cut at
# LEADER_MIN_SCORE and LEADER_MAX_MINUTIAE, whose tuning is in docs/MATCHERS.md), so
# MCC_MAX_MINUTIAE does not bind on LEADER templates.
MCC_MIN_MINUTIA_QUALITY = 0.0
# LSS consolidation: the number of top pairs averaged grows with the smaller template size
# from MCC_MIN_NP to MCC_MAX_NP, a sigmoid centred at MCC_MU_P minutiae. Chosen with
# LEADER_MIN_SCORE, leaving one of the 7 shared sets out: 2-6 in all 7 folds (3-8, the first
# tuning on 5 sets, and 2-5 also tried); fewer pairs keep a sparse print's few true pairs from
# being averaged with unrelated ones.
MCC_MIN_NP = 2
MCC_MAX_NP = 6
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
# Face: cosine similarity of unit SFace embeddings (matchers/face.py). Fitted on
# ../shared/data/faces/lfw_open (4,488 templates of 2,815 identities: every pair of templates of
# different identities, 10,065,191 impostor pairs; four people filed under two names each are
# one identity, matchers/evaluation.LFW_ALIASES): the score exceeded by FMR x pairs impostors,
# rounded up to 3 decimals. Impostors above each point: 1,006,519 / 100,652 / 10,065 / 1,007 /
# 101 / 10. Held out: ../shared/data/faces/lfw (276,760 impostor pairs) measures FMR 1.1e-1 /
# 1.25e-2 / 1.4e-3 / 3.0e-4 / 5.4e-5 / 0 at these scores (docs/CALIBRATION.md). Beyond 1e-6 the
# last slope (one decade per 0.068) is extrapolated: 1e-7 at 0.602, floored at FMR_FLOOR.
FACE_SCORE_FMR = (
    (0.199, 1e-1),
    (0.291, 1e-2),
    (0.358, 1e-3),
    (0.414, 1e-4),
    (0.466, 1e-5),
    (0.534, 1e-6),
)
# Fingerprint: MCC LSS-R similarity (matchers/mcc.py) of LEADER minutiae (score cut 0.1, at most
# 50, LSS pairs 2-6). Measured (issue 12, third pass) on every cross-finger impostor pair of the
# seven shared FVC sets (the four of ../shared/data, fvc2002_db2_b, fvc2000_db4_b_synthetic and
# fvc2002_db4_b_synthetic; 2,880 each): 20,160 pairs, all past the FINGER_MIN_MINUTIAE gate.
# FMR 1e-1 at 0.0185, 1e-2 at 0.0241, 1e-3 at 0.0299 (20 pairs above); 1e-4 at 0.0347 rests on
# 2 pairs, so the table takes 0.035; the highest pair (0.0384, FMR 5e-5) is above the 1e-3 ->
# 1e-4 slope, so 1e-5 is put at 0.045 (log-linear from 1e-4 that reads 0.0384 as 4.6e-5). The
# synthetic sets carry the tail (max 0.0347 and 0.0384; the real sets 0.0228-0.0311). The table
# before (0.55 cut, 3-8 pairs, 5 sets: 0.0169, 0.0216, 0.0265, 0.034, 0.041) measures 3.8e-3 at
# its 1e-3 point on these scores (docs/CALIBRATION.md).
FINGER_SCORE_FMR = (
    (0.0185, 1e-1),
    (0.0241, 1e-2),
    (0.0299, 1e-3),
    (0.035, 1e-4),
    (0.045, 1e-5),
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
# Minutiae per synthetic print (clipped at LEADER_MAX_MINUTIAE): LEADER gives 40 on average
# (sd 10, 5th-95th percentile 23-50) on the 560 prints of the seven shared FVC sets at
# LEADER_MIN_SCORE 0.1 / at most 50 (34, sd 14, at the former 0.55; mindtct gave 30-90, mean 44).
SYNTH_MEAN_MINUTIAE = 40.0
SYNTH_SD_MINUTIAE = 10.0
# Quality of synthetic minutiae: LEADER's scores, all >= LEADER_MIN_SCORE (median 0.91, 10th
# percentile 0.27 on the shared sets), as LEADER_MIN_SCORE + (1 - it) x Beta(a, b) with the
# Beta's moments matched to those scores.
SYNTH_QUALITY_BETA = (0.89, 0.31)
SYNTH_MIN_SPACING = 8.0  # px; ridges are about 9 px apart at 500 ppi
SYNTH_FINGER_SEED = 20261202  # seed of the benchmark's synthetic gallery

# --- Decoding budgets (matchers/images.py) -------------------------------------------------
# Pixel budget per capture kind: larger declared images are refused unread (413). A face is
# detected at FACE_DETECT_MAX_SIDE and embedded from a 112 px chip, so 4 MP keeps every detail
# used; photos up to FACE_MAX_PIXELS are accepted and decoded reduced to FACE_DECODE_PIXELS
# (JPEG at a fraction of the cost). Fingerprints keep every pixel (ridge spacing depends on the
# resolution): a 1000 ppi four-finger slap is ~3200 x 3000.
FACE_MAX_PIXELS = 40_000_000  # JPEG: decoded at 1/2, 1/4 or 1/8 scale
FACE_MAX_PIXELS_UNREDUCED = 12_000_000  # PNG, TIFF...: decoded in full, then reduced
FACE_DECODE_PIXELS = 4_000_000
FINGER_MAX_PIXELS = 16_000_000
