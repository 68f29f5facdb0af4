"""Every tuned constant of the simulator, in one place.

Synthetic fingerprints follow SFinGe (Cappelli, Maio, Maltoni); the values below were tuned so that
NBIS (mindtct + bozorth3) behaves on the synthetic set as it does on real FVC "B" sets: see
docs/SIMULATOR.md and ``benchmarks/synth_realism.py`` for the measured numbers. Change a value
here, re-run the benchmark and update the document.
"""

from __future__ import annotations

# --- Canvas -------------------------------------------------------------------------------
SYNTH_PPI = 500
# The master fingerprint is grown on a canvas larger than the impression so that displacement,
# rotation and distortion never pull blank canvas into the sensor window.
MASTER_HEIGHT = 480
MASTER_WIDTH = 400
# Sensor window of an impression (FVC 2002 DB1 is 388x374, FVC 2004 DB2 328x364 at 500 ppi).
IMPRESSION_HEIGHT = 400
IMPRESSION_WIDTH = 320

# --- Classes ------------------------------------------------------------------------------
# Natural class frequencies (Wilson et al., used by SFinGe): arch 3.7%, tented arch 2.9%,
# left loop 33.8%, right loop 31.7%, whorl 27.9%.
CLASS_FREQUENCIES = {
    "arch": 0.037,
    "tented_arch": 0.029,
    "left_loop": 0.338,
    "right_loop": 0.317,
    "whorl": 0.279,
}

# --- Silhouette (px at 500 ppi): half-width and the top/bottom half-heights of the pad -------
SILHOUETTE_HALF_WIDTH = (135.0, 165.0)
SILHOUETTE_TOP = (180.0, 220.0)
SILHOUETTE_BOTTOM = (230.0, 300.0)

# Std (radians) of a smooth random deviation added to the model orientation field.
ORIENTATION_WOBBLE_RAD = 0.4

# --- Ridge-frequency map --------------------------------------------------------------------
# Mean inter-ridge distance of adult fingers at 500 ppi is about 9 px (0.45 mm); each finger
# draws its own mean, the map varies smoothly around it and widens a little above the core.
RIDGE_PERIOD_MEAN = (8.2, 10.0)
RIDGE_PERIOD_VARIATION = 0.9  # px, amplitude of the smooth random variation
RIDGE_PERIOD_BINS = (7.5, 8.75, 10.0, 11.25)  # Gabor banks; the map is interpolated between them

# --- Ridge growth by iterated Gabor filtering ------------------------------------------------
ORIENTATION_BINS = 12  # Gabor banks; responses are interpolated between the two nearest
GABOR_SIGMA_FACTOR = 0.42  # envelope sigma as a fraction of the ridge period
# Random seeds of the growth; where fronts of different phase meet, minutiae form.
GROWTH_SEEDS = (110, 200)
GROWTH_ITERATIONS = 24  # at most; growth stops earlier once the canvas is covered
GROWTH_GAIN = 4.0  # response gain before saturation: > 1 so that seeds grow into ridges
GROWTH_UNFILLED_STOP = 0.02  # share of still-flat pixels (|value| < 0.1) that ends the growth

# --- Impression variation --------------------------------------------------------------------
DISPLACEMENT_PX = 35.0  # std of the translation of the finger in the sensor window
ROTATION_DEG = 15.0  # std of the rotation; FVC asks volunteers for up to about +-35 deg
# Non-linear skin distortion (Cappelli, Maio, Maltoni 2001): an undistorted contact core of radius
# DISTORTION_CORE_PX around the contact centre, then a brake region of width
# DISTORTION_BRAKE_PX over which an extra small rigid motion fades in.
DISTORTION_CORE_PX = (30.0, 70.0)
DISTORTION_BRAKE_PX = (80.0, 140.0)
DISTORTION_SHIFT_PX = 11.0  # std of the extra translation of the periphery
DISTORTION_ROTATION_DEG = 5.0  # std of the extra rotation of the periphery
# Skin condition shares and strength (threshold shift of the ridge pattern: > 0 thickens ridges).
SKIN_CONDITION_SHARES = {"normal": 0.6, "dry": 0.2, "wet": 0.2}
SKIN_DRY_SHIFT = (-0.55, -0.25)
SKIN_WET_SHIFT = (0.25, 0.55)
# Contact area: semi-axes of the contact ellipse as a fraction of the silhouette, by pressure.
CONTACT_SCALE = (0.62, 1.0)
PARTIAL_CONTACT_SHARE = 0.3  # impressions whose contact centre is pushed off the finger centre
PARTIAL_CONTACT_SHIFT_PX = (60.0, 120.0)
# Rendering on the sensor.
BACKGROUND_GREY = (200.0, 240.0)
RIDGE_CONTRAST = (110.0, 190.0)
NOISE_STD = (4.0, 12.0)
NOISE_BLOBS = (60, 300)  # small bright spots on ridges (pores, dirt, dry skin)
# Amplitude (in ridge-level units, ridges saturate at +-1) of the fine skin texture that breaks and
# joins ridges differently on every touch.
SKIN_TEXTURE = (0.3, 0.8)
