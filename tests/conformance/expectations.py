"""What FieldCheck must make of every file in the conformance corpus, written down per file.

Each entry says whether the adapter accepts the file and what it yields (finger positions with
resolution and format, faces, records skipped and why), or refuses it (status, exact field and
the words that say why). ``check`` is what a check of the file answers over HTTP against the
conformance watchlist (``WATCHLIST``: references enrolled from a few corpus files): a decision
and, for a hit, the reference of the top candidate (``candidate``); or the field a 422 names
(files that hold no searchable biometric). A ``no_hit`` means no candidate at all.

The reasons are in ``why``: they are the point of the table (docs/ADAPTERS.md repeats it).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Accepted:
    why: str
    fingers: tuple[tuple[int, int, str], ...] = ()  # (ANSI/NIST position, ppi, format), in order
    faces: tuple[str, ...] = ()  # formats
    skipped: tuple[tuple[str, str], ...] = ()  # (record, reason code)
    check: str = "no_hit"  # decision against WATCHLIST, or "422:<field>"
    candidate: str | None = None  # the top candidate's reference when check is "hit"
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Refused:
    why: str
    status: int
    field: str
    words: str


RIGHT_SLAP = ((2, 500, "wsq"), (3, 500, "wsq"), (4, 500, "wsq"), (5, 500, "wsq"))
LEFT_SLAP = ((10, 500, "wsq"), (9, 500, "wsq"), (8, 500, "wsq"), (7, 500, "wsq"))
ROLLED_250 = tuple((p, 250, "raw") for p in range(1, 11))


def _binary(rtype: int) -> tuple[tuple[str, str], ...]:
    return tuple((f"Type-{rtype}[{i}]", "binary_image") for i in range(2, 16))


ANSI_NIST: dict[str, Accepted | Refused] = {
    "nbis_face_jpb_DOM_GMT_DCS.an2": Accepted(
        "Type-10 JPEG face (JPEGB, SRGB); Type-1 1.014 GMT gives the capture time; enrolled as "
        "NBIS-FACE-JPB, so it finds itself",
        faces=("jpeg",), check="hit", candidate="NBIS-FACE-JPB",
        extra={"captured_at": "2005-11-05T05:25:00+00:00"}),
    "nbis_sign_raw.an2": Accepted(
        "a Type-8 signature only: skipped, so nothing to search", skipped=(("Type-8[1]",
                                                                            "not_searched"),),
        check="422:Type-8[1]"),
    "nbis_sign_vec.an2": Accepted(
        "a Type-8 vector signature only: skipped", skipped=(("Type-8[1]", "not_searched"),),
        check="422:Type-8[1]"),
    "nbis_type_3_wvu.an2": Accepted(
        "a ten-print card as Type-3 (250 ppi, uncompressed grey): ten rolled prints, both "
        "four-finger slaps segmented into fingertips (FGP 14 left: 10,9,8,7; FGP 13 right: "
        "2,3,4,5) and the plain thumbs (FGP 12 -> 6, FGP 11 -> 1)",
        fingers=ROLLED_250 + ((10, 250, "raw"), (9, 250, "raw"), (8, 250, "raw"),
                              (7, 250, "raw"), (2, 250, "raw"), (3, 250, "raw"),
                              (4, 250, "raw"), (5, 250, "raw"), (6, 250, "raw"),
                              (1, 250, "raw")),
        check="422:finger_1"),  # the gateway now refuses prints under 350 ppi (main, 11:2x)
    "nbis_type_5_wvu.an2": Accepted(
        "the same card as Type-5 binary (1-bit) images: the matchers are not validated on "
        "binarised prints, so each record is skipped with that reason",
        skipped=_binary(5), check="422:Type-5[2]"),
    "nbis_type_6_wvu.an2": Accepted(
        "the same card as Type-6 high-resolution binary images: skipped likewise",
        skipped=_binary(6), check="422:Type-6[2]"),
    "nbis_valid1.1.an2": Accepted(
        "one Type-4 WSQ finger (left little, 500 ppi); searched (the check's quality floor), but "
        "enrolment refuses it as too low in NFIQ 2 (ENROLMENT_REFUSED), so nothing to find",
        fingers=((10, 500, "wsq"),)),
    "nbis_valid1.2.an2": Accepted(
        "Type-4 WSQ left little finger used; its Type-6 binary twin skipped",
        fingers=((10, 500, "wsq"),), skipped=(("Type-6[3]", "binary_image"),)),
    "nbis_valid1.3.an2": Accepted("Type-10 JPEG face, enrolled as NBIS-VALID1.3",
                                  faces=("jpeg",), check="hit", candidate="NBIS-VALID1.3"),
    "nbis_valid1.4.an2": Accepted(
        "a Type-13 latent only: not searched at a field check",
        skipped=(("Type-13[2]", "not_searched"),), check="422:Type-13[2]"),
    "nbis_valid1.5.an2": Accepted(
        "a Type-13 latent (with a repeated 13.999 field, harmless since it is not read)",
        skipped=(("Type-13[2]", "not_searched"),), check="422:Type-13[2]"),
    "nbis_valid1.6.an2": Accepted(
        "a Type-13 latent (repeated 13.999, not read)",
        skipped=(("Type-13[2]", "not_searched"),), check="422:Type-13[2]"),
    "nbis_valid1.7.an2": Accepted(
        "a Type-14 FGP 19 entire-joint image (96 ppi, view FV1): not a fingertip impression",
        skipped=(("Type-14[2]", "not_a_fingertip"),), check="422:Type-14[2]"),
    "nbis_valid1.8.an2": Accepted(
        "three Type-14 WSQ slaps segmented: right four (FGP 13), left four (FGP 14), both "
        "thumbs (FGP 15 -> 6 left, 1 right); HLL/VLL (1800x1000) disagree with the WSQ "
        "frames (1600x976): the image's own size is used; 14.021 boxes are degenerate "
        "(31,31,31,31), so the slaps are segmented from the image; its right thumb does not "
        "match NBIS-VALID1.9's (another person's): no candidate",
        fingers=RIGHT_SLAP + LEFT_SLAP + ((6, 500, "wsq"), (1, 500, "wsq"))),
    "nbis_valid1.9.an2": Accepted(
        "Type-4 WSQ right thumb and Type-10 JPEG face used; Type-7, Type-8, Type-17 not "
        "searched; Type-14 FGP 19 entire-joint image skipped; its thumb and face are enrolled "
        "as NBIS-VALID1.9: a hit on both",
        fingers=((1, 500, "wsq"),), faces=("jpeg",), check="hit", candidate="NBIS-VALID1.9",
        skipped=(("Type-7[3]", "not_searched"), ("Type-8[4]", "not_searched"),
                 ("Type-14[6]", "not_a_fingertip"), ("Type-17[7]", "not_searched"))),
    "nbis_valid1.10.an2": Accepted(
        "a Type-17 iris only: not searched", skipped=(("Type-17[2]", "not_searched"),),
        check="422:Type-17[2]"),
    "nbis_valid1.11.an2": Refused(
        "the Type-10 face repeats its 999 field ('010110' then the JPEG): refusing is right, "
        "and the message says exactly that", 422, "Type-10[3].999", "appears more than once"),
    "nbis_valid1.13.an2": Accepted(
        "a Type-99 CBEFF record only: not searched", skipped=(("Type-99[2]", "not_searched"),),
        check="422:Type-99[2]"),
    "nbis_valid1.14.an2": Accepted(
        "Type-4 WSQ right thumb (784x1133) read; Type-9 minutiae not searched. NFIQ 2 fails on "
        "this card scan; since the fingerprint issue that is 'unknown', not low quality, so the "
        "print is searched (was recapture): no candidate, NBIS-VALID1.9's right thumb is "
        "another person's",
        fingers=((1, 500, "wsq"),), skipped=(("Type-9[3]", "not_searched"),),
        check="no_hit"),
    "nbis_valid1.15.an2": Accepted(
        "a Type-9 minutiae record only: not searched",
        skipped=(("Type-9[2]", "not_searched"),), check="422:Type-9[2]"),
    "nbis_valid1.16.an2": Refused(
        "as valid1.11: the Type-10 face repeats 10.999", 422, "Type-10[3].999",
        "appears more than once"),
}


@dataclass(frozen=True)
class IsoRecord:
    """A bare ISO 19794-4/-5 record from MOSIP's mock device, sent as an SBI bioValue."""

    why: str
    bio_type: str
    subtype: str
    position: int | None  # fingers
    size: tuple[int, int]  # decoded width, height
    fmt: str
    compression: int | None  # ISO 19794-4:2011 code: 2 WSQ, 4 JPEG 2000 lossy, 5 lossless
    # Checked over HTTP inside an unsigned SBI response, against WATCHLIST: every one is
    # MOSIP-REG-0001's (the Auth ones are other encodings of the same captures).
    check: str = "hit"
    candidate: str | None = "MOSIP-REG-0001"


MOSIP_ISO: dict[str, IsoRecord] = {
    "Profile_Automatic_Auth_0001Face.iso": IsoRecord(
        "ISO 19794-5:2011 ('030') face, JPEG 2000 inside", "Face", "", None, (240, 320), "jp2",
        None),
    "Profile_Automatic_Auth_0001Left_Index.iso": IsoRecord(
        "ISO 19794-4:2011 left index, JPEG 2000 lossy, 500 ppi", "Finger", "Left IndexFinger",
        7, (280, 448), "jp2", 4),
    "Profile_Automatic_Auth_0001Left_Index.wsq.iso": IsoRecord(
        "ISO 19794-4:2011 left index, WSQ, 500 ppi", "Finger", "Left IndexFinger", 7,
        (280, 448), "wsq", 2),
    "Profile_Automatic_Registration_0001Face.iso": IsoRecord(
        "ISO 19794-5:2011 face, JPEG 2000", "Face", "", None, (240, 320), "jp2", None),
    "Profile_Automatic_Registration_0001Left_Index.iso": IsoRecord(
        "ISO 19794-4:2011 left index, JPEG 2000 lossless", "Finger", "Left IndexFinger", 7,
        (280, 448), "jp2", 5),
    "Profile_Automatic_Registration_0001Right_Index.iso": IsoRecord(
        "ISO 19794-4:2011 right index, JPEG 2000 lossless", "Finger", "Right IndexFinger", 2,
        (308, 413), "jp2", 5),
    "Profile_Automatic_Registration_0001Right_Thumb.iso": IsoRecord(
        "ISO 19794-4:2011 right thumb, JPEG 2000 lossless", "Finger", "Right Thumb", 1,
        (357, 504), "jp2", 5),
}

MOSIP_RCAPTURE: dict[str, Accepted] = {
    "rcapture_1finger_mosip_hash.json": Accepted(
        "MOSIP's hash chain over raw digests, RS256 signed (x5c): right thumb ISO 19794-4 "
        "JPEG 2000 lossless at 500 ppi; device from the digitalId",
        fingers=((1, 500, "jp2"),), check="hit", candidate="MOSIP-REG-0001",
        extra={"serial": "1234567890", "model": "MOSIP SLAP01", "quality": 80.0}),
    "rcapture_face_mosip_hash.json": Accepted(
        "MOSIP's hash chain, RS256 signed: ISO 19794-5 face with JPEG 2000 inside",
        faces=("jp2",), check="hit", candidate="MOSIP-REG-0001"),
}

MOSIP_OTHER: dict[str, str] = {
    "Biometric_Devices_Finger_Slap_DigitalId.json": (
        "a device's digitalId: sent inside captures, it gives serial and make/model"),
    "Biometric_Devices_Finger_Slap_DeviceInfo.json": (
        "a DEVICEINFO answer, not a capture: refused as such (no 'biometrics')"),
    "test-device-cert.pem": (
        "the test device's certificate: trusted, the rcapture signatures verify; a rogue "
        "key refuses them"),
}


@dataclass(frozen=True)
class Reference:
    """A watchlist subject enrolled (through the API) from the fingers and faces of corpus files."""

    why: str
    sources: tuple[tuple[str, str], ...]  # (folder under the corpus, file name)


_MOSIP_REG = "Profile_Automatic_Registration_0001"
WATCHLIST: dict[str, Reference] = {
    "MOSIP-REG-0001": Reference(
        "MOSIP's mock device registration captures: left and right index and right thumb "
        "(ISO 19794-4, JPEG 2000 lossless) and the face (ISO 19794-5); the Auth captures are the "
        "same fingers and face encoded otherwise (JPEG 2000 lossy, WSQ), a real cross-codec match",
        tuple(("mosip-sbi/iso", f"{_MOSIP_REG}{part}.iso")
              for part in ("Left_Index", "Right_Index", "Right_Thumb", "Face"))),
    "NBIS-VALID1.9": Reference("NBIS valid1.9's right thumb (WSQ) and face (JPEG)",
                               (("ansi-nist", "nbis_valid1.9.an2"),)),
    "NBIS-VALID1.3": Reference("NBIS valid1.3's face", (("ansi-nist", "nbis_valid1.3.an2"),)),
    "NBIS-FACE-JPB": Reference("NBIS's face transaction with GMT dates",
                               (("ansi-nist", "nbis_face_jpb_DOM_GMT_DCS.an2"),)),
}

# Prints enrolment refuses (it asks more quality than a check): file -> (problem type, why).
ENROLMENT_REFUSED: dict[str, tuple[str, str]] = {
    "nbis_valid1.1.an2": ("low_quality", "the left little finger's NFIQ 2 is under the "
                                         "enrolment floor (a check still searches it)"),
}


def expected_names() -> set[str]:
    return set(ANSI_NIST) | set(MOSIP_ISO) | set(MOSIP_RCAPTURE) | set(MOSIP_OTHER)
