"""Device adapters: each device payload format in, one canonical ``Capture`` out.

Never imports ``gateway``; may use the pure ``matchers`` codecs (e.g. ISO 19794-2).
"""

from device_adapters.capture import (
    FINGER_POSITIONS,
    Capture,
    DeviceInfo,
    DocumentData,
    FaceImage,
    FingerImage,
    FingerTemplate,
)

__all__ = [
    "FINGER_POSITIONS",
    "Capture",
    "DeviceInfo",
    "DocumentData",
    "FaceImage",
    "FingerImage",
    "FingerTemplate",
]
