"""Test fixtures built at test time: synthetic prints, real FVC/LFW images, signed SBI data.

Nothing here is committed data: images come from numpy or from ../shared/data at run time.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import os
import random
import struct
from pathlib import Path

import numpy as np
import wsq  # noqa: F401  (registers the WSQ codec with Pillow)
from PIL import Image

from device_adapters.capture import Capture, DeviceInfo, FaceImage, FingerImage
from device_adapters.mosip_sbi import EMPTY_HASH, chain_hash
from device_adapters.mrz import parse_mrz
from matchers import iso19794

TD3 = ["P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
       "L898902C36UTO7408122F1204159ZE184226B<<<<<10"]
TD1 = ["I<UTOD231458907<<<<<<<<<<<<<<<", "7408122F1204159UTO<<<<<<<<<<<6",
       "ERIKSSON<<ANNA<MARIA<<<<<<<<<<"]


def shared_data_dir() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "data"


def fvc_print(finger: int = 101, impression: int = 1,
              db: str = "fvc2000_db1_b") -> np.ndarray | None:
    path = shared_data_dir() / "fingerprints" / db / f"{finger}_{impression}.tif"
    if not path.exists():
        return None
    return np.asarray(Image.open(path).convert("L"), dtype=np.uint8)


def lfw_face() -> bytes | None:
    root = shared_data_dir() / "faces" / "lfw"
    if not root.is_dir():
        return None
    first = sorted(p for p in root.iterdir() if p.is_dir())[0]
    return sorted(first.glob("*.jpg"))[0].read_bytes()


def ridge_image(width: int = 300, height: int = 300, seed: int = 0) -> np.ndarray:
    """A fingerprint-like pattern: sinusoidal ridges bent around a core, plus noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    cx, cy = width * (0.4 + 0.2 * rng.random()), height * (0.4 + 0.2 * rng.random())
    r = np.hypot(x - cx, y - cy)
    theta = np.arctan2(y - cy, x - cx)
    phase = r / 9.0 * 2 * np.pi + 0.8 * np.sin(theta * 2 + seed)
    ridges = 127 + 100 * np.sin(phase)
    mask = ((x - width / 2) / (width * 0.45)) ** 2 + ((y - height / 2) / (height * 0.48)) ** 2 < 1
    image = np.where(mask, ridges, 235) + rng.normal(0, 8, (height, width))
    return np.clip(image, 0, 255).astype(np.uint8)


def encode(pixels: np.ndarray, fmt: str) -> bytes:
    out = io.BytesIO()
    image = Image.fromarray(pixels)
    if fmt == "wsq":
        image.convert("L").save(out, "WSQ")
    elif fmt == "jpeg":
        image.save(out, "JPEG", quality=90)
    elif fmt == "jp2":
        image.save(out, "JPEG2000")
    else:
        image.save(out, "PNG")
    return out.getvalue()


def face_jpeg() -> bytes:
    real = lfw_face()
    if real is not None:
        return real
    rng = np.random.default_rng(7)
    img = np.full((240, 200, 3), 180, np.uint8)
    img[60:200, 50:150] = (200, 160, 140)
    img = np.clip(img + rng.normal(0, 5, img.shape), 0, 255).astype(np.uint8)
    return encode(img, "jpeg")


def finger_pixels(i: int) -> np.ndarray:
    real = fvc_print(100 + i) if 1 <= i <= 10 else None
    return real if real is not None else ridge_image(seed=i)


def sample_capture(fingers: int = 2, fmt: str = "wsq", face: bool = True,
                   mrz: list[str] | None = TD3) -> Capture:
    positions = [2, 7] if fingers == 2 else list(range(1, fingers + 1))
    finger_list = [FingerImage(position=p, image=encode(finger_pixels(p), fmt), ppi=500,
                               device_quality=60.0, source_format=fmt) for p in positions]
    return Capture(
        fingers=finger_list,
        faces=[FaceImage(image=face_jpeg(), source_format="jpeg")] if face else [],
        document=parse_mrz(mrz) if mrz else None,
        device=DeviceInfo(serial="SA4-00123", model="SEEK Avenger", firmware="4.2.1",
                          operator_id="MU-PF-0042", latitude=-20.16, longitude=57.5),
        purpose="port entry",
    )


def type4_transaction(pixels: np.ndarray, *, position: int = 2, compression: int = 1) -> bytes:
    """A Type-1 + Type-4 transaction built by hand (the writer emits Type-14 only)."""
    import nistitl

    data = encode(pixels, "wsq") if compression == 1 else pixels.tobytes()
    height, width = pixels.shape
    msg = nistitl.Message()
    msg[0].TOT = "CAR"
    record = nistitl.BinaryRecord(4)
    record.IDC = 1
    fgp = bytes([position, 255, 255, 255, 255, 255])
    record.value = struct.pack(">B6sBHHB", 1, fgp, 0, width, height, compression) + data
    msg += record
    return msg.NIST


# --- ISO 19794-4 and MOSIP SBI ---------------------------------------------------------------

def iso_19794_4_2011(image: bytes, width: int, height: int, *, position: int = 7,
                     compression: int = 4) -> bytes:
    """A minimal ISO/IEC 19794-4:2011 record around one finger image."""
    rep = (b"\x00" * 9 + b"\x01" + b"\x00\x00" + b"\x00\x00" + b"\x00"  # no quality blocks
           + struct.pack(">BBBHHHHBBBHH", position, 1, 1, 500, 500, 500, 500, 8, compression,
                         0, width, height)
           + struct.pack(">I", len(image)) + image)
    rep = struct.pack(">I", 4 + len(rep)) + rep
    header = b"FIR\x00020\x00" + struct.pack(">IHBB", 16 + len(rep), 1, 0, 1)
    return header + rep


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _is_probable_prime(n: int, rnd: random.Random) -> bool:
    if n < 4:
        return n in (2, 3)
    for p in (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37):
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for _ in range(24):
        x = pow(rnd.randrange(2, n - 2), d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = pow(x, 2, n)
            if x == n - 1:
                break
        else:
            return False
    return True


@functools.cache
def rsa_key(seed: int = 1, bits: int = 1024) -> tuple[int, int, int]:
    """(n, e, d) of a deterministic test RSA key (pure Python: no crypto package needed)."""
    rnd = random.Random(seed)
    e = 65537

    def prime() -> int:
        while True:
            candidate = rnd.getrandbits(bits // 2) | (1 << (bits // 2 - 1)) | 1
            if _is_probable_prime(candidate, rnd) and (candidate - 1) % e:
                return candidate

    p, q = prime(), prime()
    return p * q, e, pow(e, -1, (p - 1) * (q - 1))


def _der(tag: int, content: bytes) -> bytes:
    n = len(content)
    if n < 0x80:
        return bytes([tag, n]) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(size)]) + size + content


def _der_int(value: int) -> bytes:
    return _der(0x02, value.to_bytes(value.bit_length() // 8 + 1, "big"))


def public_key_pem(seed: int = 1) -> str:
    n, e, _ = rsa_key(seed)
    rsa = _der(0x30, _der_int(n) + _der_int(e))
    alg = _der(0x30, _der(0x06, bytes.fromhex("2a864886f70d010101")) + b"\x05\x00")
    spki = _der(0x30, alg + _der(0x03, b"\x00" + rsa))
    body = base64.encodebytes(spki).decode().replace("\n", "")
    lines = "\n".join(body[i:i + 64] for i in range(0, len(body), 64))
    return f"-----BEGIN PUBLIC KEY-----\n{lines}\n-----END PUBLIC KEY-----\n"


def sign_rs256(signing_input: bytes, seed: int = 1) -> bytes:
    n, _, d = rsa_key(seed)
    k = (n.bit_length() + 7) // 8
    tail = bytes.fromhex("3031300d060960864801650304020105000420") + hashlib.sha256(
        signing_input).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(tail) - 3) + b"\x00" + tail
    return pow(int.from_bytes(em, "big"), d, n).to_bytes(k, "big")


def jws_compact(payload: dict, *, seed: int | None = 1) -> str:
    header = {"alg": "RS256" if seed is not None else "none", "typ": "JWT"}
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(payload).encode())}"
    signature = b"" if seed is None else sign_rs256(signing_input.encode(), seed)
    return f"{signing_input}.{b64url(signature)}"


def sbi_response(items: list[tuple[str, str, bytes]], *, seed: int | None = 1,
                 mrz: list[str] | None = None) -> bytes:
    """A MOSIP SBI RCAPTURE response for (bioType, bioSubType, bioValue) items."""
    digital_id = b64url(json.dumps({"serialNo": "MOSIP-SN-77", "make": "Acme",
                                    "model": "FP-2", "type": "Finger"}).encode())
    previous = EMPTY_HASH
    biometrics = []
    for bio_type, sub_type, value in items:
        payload = {
            "digitalId": digital_id, "deviceCode": "DEV-1", "deviceServiceVersion": "1.0.0",
            "bioType": bio_type, "bioSubType": sub_type, "purpose": "Registration",
            "env": "Staging", "bioValue": b64url(value), "transactionId": "t-1",
            "timestamp": "2025-03-01T08:15:00.000Z", "requestedScore": "40",
            "qualityScore": "72",
        }
        previous = chain_hash(previous, value)
        biometrics.append({"specVersion": "0.9.5", "data": jws_compact(payload, seed=seed),
                           "hash": previous, "sessionKey": "", "thumbprint": "",
                           "error": {"errorCode": "0", "errorInfo": "Success"}})
    doc: dict = {"biometrics": biometrics}
    if mrz:
        doc["mrz"] = mrz
    return json.dumps(doc).encode()


def sbi_sample(seed: int | None = 1) -> bytes:
    left = finger_pixels(7)
    right = finger_pixels(2)
    h, w = left.shape
    return sbi_response([
        ("Finger", "Left IndexFinger", iso_19794_4_2011(encode(left, "jp2"), w, h, position=7)),
        ("Finger", "Right IndexFinger", iso_19794_4_2011(encode(right, "wsq"), right.shape[1],
                                                         right.shape[0], position=2,
                                                         compression=2)),
        ("Face", "", face_jpeg()),
    ], seed=seed, mrz=TD3)


def seek_document(fingers: int = 2, mrz: list[str] | None = TD3) -> dict:
    positions = [2, 7][:fingers] if fingers <= 2 else list(range(1, fingers + 1))
    return {
        "schema": "seek-avenger/1",
        "device": {"serial": "SA4-00123", "model": "SEEK Avenger", "firmware": "4.2.1",
                   "operatorId": "MU-PF-0042"},
        "location": {"lat": -20.16, "lon": 57.5},
        "capturedAt": "2025-03-01T08:15:00Z",
        "purpose": "port entry",
        "fingers": [{"position": p, "format": "wsq", "ppi": 500, "quality": 70,
                     "image": base64.b64encode(encode(finger_pixels(p), "wsq")).decode()}
                    for p in positions],
        "face": {"format": "jpeg", "quality": 80,
                 "image": base64.b64encode(face_jpeg()).decode()},
        **({"mrz": mrz} if mrz else {}),
    }


def iso_templates() -> bytes:
    rng = np.random.default_rng(3)
    records = []
    for position in (2, 7):
        minutiae = np.column_stack([rng.uniform(10, 290, 30), rng.uniform(10, 290, 30),
                                    rng.uniform(0, 6.28, 30), rng.uniform(0.3, 1, 30)])
        records.append(iso19794.encode(minutiae.astype(np.float32), width=300, height=300,
                                       position=position, quality=65))
    return b"".join(records)
