"""Compact JWS (RFC 7515) parsing and RS256 verification, in the standard library only.

MOSIP SBI devices sign with RS256 (RSASSA-PKCS1-v1_5 over SHA-256) using a device key whose
certificate the operator trusts. The ``cryptography`` package is not a FieldCheck dependency, so
this module reads the RSA public key out of a PEM certificate, SubjectPublicKeyInfo or PKCS#1 key
with a minimal DER walker and verifies with ``pow``: a signature check needs only the public key.
Other algorithms (PS256, ES256) are refused with a clear error.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any

_RSA_OID = bytes.fromhex("2a864886f70d010101")  # 1.2.840.113549.1.1.1 rsaEncryption
_SHA256_DIGEST_INFO = bytes.fromhex("3031300d060960864801650304020105000420")
_PEM = re.compile(rb"-----BEGIN ([A-Z ]+)-----(.*?)-----END \1-----", re.DOTALL)


class JwsError(Exception):
    """The JWS is malformed or its signature does not verify; ``part`` names where."""

    def __init__(self, message: str, part: str) -> None:
        super().__init__(message)
        self.part = part


@dataclass(frozen=True)
class RsaPublicKey:
    n: int
    e: int

    @property
    def size(self) -> int:
        return (self.n.bit_length() + 7) // 8


@dataclass
class Jws:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def _b64url(text: str, part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", text) or len(text) % 4 == 1:
        raise JwsError(f"the JWS {part} is not base64url", part)
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    # Only the canonical spelling: a changed last character whose bits base64 drops would
    # otherwise decode to the same signature, and an altered token would pass as intact.
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != text:
        raise JwsError(f"the JWS {part} is not canonical base64url (stray low bits in its "
                       "last character)", part)
    return raw


def parse_compact(token: str) -> Jws:
    """Split and decode ``header.payload.signature``; the header must be a JSON object."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwsError(f"a compact JWS has 3 dot-separated parts, this has {len(parts)}",
                       "format")
    header_bytes = _b64url(parts[0], "header")
    try:
        header = json.loads(header_bytes)
    except (ValueError, RecursionError) as exc:
        raise JwsError("the JWS header is not JSON", "header") from exc
    if not isinstance(header, dict):
        raise JwsError("the JWS header is not a JSON object", "header")
    return Jws(header=header, payload=_b64url(parts[1], "payload"),
               signing_input=f"{parts[0]}.{parts[1]}".encode("ascii"),
               signature=_b64url(parts[2], "signature"))


def verify(jws: Jws, keys: list[RsaPublicKey]) -> None:
    """Raise JwsError unless ``jws`` is RS256-signed by one of ``keys``."""
    alg = jws.header.get("alg")
    if alg in (None, "none", "") or not jws.signature:
        raise JwsError("the data is not signed (alg none or empty signature)", "signature")
    if alg != "RS256":
        raise JwsError(f"unsupported JWS algorithm {str(alg)[:20]!r}; only RS256", "header.alg")
    digest = hashlib.sha256(jws.signing_input).digest()
    for key in keys:
        if _rs256_ok(key, digest, jws.signature):
            return
    raise JwsError("the signature does not verify against any trusted device key", "signature")


def _rs256_ok(key: RsaPublicKey, digest: bytes, signature: bytes) -> bool:
    if len(signature) != key.size:
        return False
    s = int.from_bytes(signature, "big")
    if s >= key.n:
        return False
    em = pow(s, key.e, key.n).to_bytes(key.size, "big")
    tail = _SHA256_DIGEST_INFO + digest
    expected = b"\x00\x01" + b"\xff" * (key.size - len(tail) - 3) + b"\x00" + tail
    return hmac.compare_digest(em, expected)


# --- PEM / DER --------------------------------------------------------------------------------

def _tlv(der: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of content, end of content) of the DER element at ``pos``."""
    if pos + 2 > len(der):
        raise ValueError("truncated DER")
    tag, first = der[pos], der[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if not 1 <= count <= 4 or pos + count > len(der):
            raise ValueError("bad DER length")
        length = int.from_bytes(der[pos:pos + count], "big")
        pos += count
    if pos + length > len(der):
        raise ValueError("DER element runs past the end")
    return tag, pos, pos + length


def _children(der: bytes, start: int, end: int) -> list[tuple[int, int, int]]:
    out = []
    while start < end:
        tag, cstart, cend = _tlv(der, start)
        out.append((tag, cstart, cend))
        start = cend
    return out


def _rsa_from_pkcs1(der: bytes, start: int, end: int) -> RsaPublicKey:
    tag, s, e = _tlv(der, start)
    if tag != 0x30:
        raise ValueError("RSAPublicKey is not a SEQUENCE")
    (t1, n0, n1), (t2, e0, e1) = _children(der, s, e)[:2]
    if t1 != 0x02 or t2 != 0x02:
        raise ValueError("RSAPublicKey modulus/exponent are not INTEGERs")
    return RsaPublicKey(n=int.from_bytes(der[n0:n1], "big"), e=int.from_bytes(der[e0:e1], "big"))


def _rsa_from_spki(der: bytes, start: int, end: int) -> RsaPublicKey:
    algorithm, bits = _children(der, start, end)[:2]
    alg_children = _children(der, algorithm[1], algorithm[2])
    if not alg_children or der[alg_children[0][1]:alg_children[0][2]] != _RSA_OID:
        raise ValueError("the public key is not RSA (only RS256 is supported)")
    if bits[0] != 0x03:
        raise ValueError("subjectPublicKey is not a BIT STRING")
    return _rsa_from_pkcs1(der, bits[1] + 1, bits[2])  # skip the unused-bits byte


def load_public_keys(pem: str | bytes) -> list[RsaPublicKey]:
    """Every RSA key in a PEM text: CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY blocks.

    Raises ValueError for text with no usable key (a configuration error, not a request error).
    """
    data = pem.encode("ascii") if isinstance(pem, str) else pem
    keys = []
    for kind, body in _PEM.findall(data):
        der = base64.b64decode(b"".join(body.split()))
        _, s, e = _tlv(der, 0)
        if kind == b"CERTIFICATE":
            tbs = _children(der, s, e)[0]
            fields = _children(der, tbs[1], tbs[2])
            # tbsCertificate: [0] version (optional), serial, signature, issuer, validity,
            # subject, subjectPublicKeyInfo
            offset = 1 if fields[0][0] == 0xA0 else 0
            spki = fields[offset + 5]
            keys.append(_rsa_from_spki(der, spki[1], spki[2]))
        elif kind == b"PUBLIC KEY":
            keys.append(_rsa_from_spki(der, s, e))
        elif kind == b"RSA PUBLIC KEY":
            keys.append(_rsa_from_pkcs1(der, 0, len(der)))
    if not keys:
        raise ValueError("no CERTIFICATE, PUBLIC KEY or RSA PUBLIC KEY block in the PEM text")
    return keys
