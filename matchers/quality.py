"""One quality assessment per modality, the same for enrolment and checks.

A capture is refused with ``UnusableCapture(reason, message, measured)``; ``reason`` is the
stable code clients see (enrolment's 422 ``reason``, a check's ``quality.<capture>.reason``),
so one rule has one code wherever it is applied. Only the thresholds differ by ``Stage``: a
watchlist reference must be better than a field probe (``params.FINGER_MIN_NFIQ2_ENROL`` vs
``FINGER_MIN_NFIQ2_CHECK``).

Face captures are judged inside ``matchers.face.extract`` (no face, several faces, too small,
blurred): the detector's measurements are what decide, so ``face_quality`` only reports them.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from matchers import params
from matchers.errors import UnusableCapture
from matchers.templates import FaceTemplate, FingerprintTemplate


class Stage(StrEnum):
    ENROL = "enrol"
    CHECK = "check"


MIN_NFIQ2 = {Stage.ENROL: params.FINGER_MIN_NFIQ2_ENROL, Stage.CHECK: params.FINGER_MIN_NFIQ2_CHECK}
WHY = {Stage.ENROL: "needed to enrol", Stage.CHECK: "needed for a check"}


def finger_quality(template: FingerprintTemplate, stage: Stage) -> dict[str, Any]:
    """The measured quality of a print; raises ``UnusableCapture`` ``low_quality`` (NFIQ 2
    measured below the stage's minimum) or ``too_few_minutiae`` (below
    ``FINGER_MIN_MINUTIAE``), carrying the measurements.

    NFIQ 2 None means it could not be computed: unknown, not low, so such a print is judged by
    its minutiae only.
    """
    measured: dict[str, Any] = {"nfiq2": template.nfiq2, "minutiae": len(template.minutiae),
                                "ppi": template.capture_ppi, "ppi_source": template.ppi_source}
    minimum = MIN_NFIQ2[stage]
    if template.nfiq2 is not None and template.nfiq2 < minimum:
        raise UnusableCapture(
            "low_quality",
            f"NFIQ 2 quality {template.nfiq2} is below {minimum} {WHY[stage]}; clean the sensor "
            "and the finger and capture again",
            measured,
        )
    if len(template.minutiae) < params.FINGER_MIN_MINUTIAE:
        raise UnusableCapture(
            "too_few_minutiae",
            f"only {len(template.minutiae)} minutiae found; at least "
            f"{params.FINGER_MIN_MINUTIAE} are needed; press the whole finger pad on the sensor",
            measured,
        )
    return measured


def face_quality(template: FaceTemplate) -> dict[str, Any]:
    """The measurements ``matchers.face.extract`` judged the face by (it refuses unusable ones)."""
    return dict(template.quality)
