"""Deployment secrets: strength checks at start-up, and the Ed25519 keys that sign snapshots.

A gateway refuses to start on a weak secret (``check_secrets``), naming the setting and how to
make a good one (``fieldcheck keygen``):

- ``FIELDCHECK_ADMIN_TOKEN`` needs at least 128 bits (``estimated_bits``: the length times the
  bits per character of the character classes it uses, and not repetitive);
- ``FIELDCHECK_SNAPSHOT_SIGNING_KEY`` is an Ed25519 private key: 32 random bytes, written
  ``fcsk1_<base64url>``; ``FIELDCHECK_SNAPSHOT_TRUSTED_KEYS`` lists public keys
  (``fcpk1_<base64url>``, comma-separated).

Why public keys: with the former shared HMAC key every replica could also *sign*, so one leaked
port gateway could forge a "full" snapshot for all the others. Now only a source gateway holds
its private key; replicas hold public keys and can verify, never forge. The legacy
``FIELDCHECK_SNAPSHOT_KEY`` is refused with the way forward.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import secrets
from collections import Counter
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

PRIVATE_PREFIX = "fcsk1_"
PUBLIC_PREFIX = "fcpk1_"
MIN_TOKEN_BITS = 128
TOKEN_PREFIX = "fc_"


class WeakSecret(ValueError):
    """A secret setting is missing its strength; ``setting`` names it, the message says the fix."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


def estimated_bits(secret: str) -> float:
    """A cautious strength estimate: length x log2(size of the character classes used), capped
    by the empirical (Shannon) entropy of the characters so "aaaa..." scores nothing."""
    if not secret:
        return 0.0
    alphabet = 0
    alphabet += 26 if any(c.islower() for c in secret) else 0
    alphabet += 26 if any(c.isupper() for c in secret) else 0
    alphabet += 10 if any(c.isdigit() for c in secret) else 0
    alphabet += 32 if any(not c.isalnum() for c in secret) else 0
    by_classes = len(secret) * math.log2(max(alphabet, 2))
    counts = Counter(secret)
    shannon = -sum(n / len(secret) * math.log2(n / len(secret)) for n in counts.values())
    # A random 43-character token scores ~5 bits per character both ways; a repetitive one is
    # held to what its character frequencies allow, with a 30% allowance for short samples.
    return min(by_classes, len(secret) * shannon * 1.3)


def new_admin_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def key_id(public: Ed25519PublicKey) -> str:
    """A short fingerprint naming a public key in signatures and logs."""
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def public_text(public: Ed25519PublicKey) -> str:
    return PUBLIC_PREFIX + _b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw))


def new_signing_key() -> tuple[str, str]:
    """``(private setting value, public key to give the replicas)``."""
    seed = secrets.token_bytes(32)
    private = Ed25519PrivateKey.from_private_bytes(seed)
    return PRIVATE_PREFIX + _b64(seed), public_text(private.public_key())


def parse_private(value: str, *, setting: str = "FIELDCHECK_SNAPSHOT_SIGNING_KEY"
                  ) -> Ed25519PrivateKey:
    text = value.strip()
    if not text.startswith(PRIVATE_PREFIX):
        raise WeakSecret(setting, f"expected {PRIVATE_PREFIX}<base64url of 32 random bytes>; "
                         "generate one with `fieldcheck keygen snapshot`")
    try:
        seed = _unb64(text[len(PRIVATE_PREFIX):])
    except (binascii.Error, ValueError):
        seed = b""
    # 32 random bytes hold ~30 distinct values; a made-up or patterned key holds far fewer.
    if len(seed) != 32 or len(set(seed)) < 16:
        raise WeakSecret(setting, "must be 32 random bytes (fcsk1_ + 43 base64url characters); "
                         "generate one with `fieldcheck keygen snapshot`")
    return Ed25519PrivateKey.from_private_bytes(seed)


def parse_public(value: str, *, setting: str = "FIELDCHECK_SNAPSHOT_TRUSTED_KEYS"
                 ) -> Ed25519PublicKey:
    text = value.strip()
    try:
        if not text.startswith(PUBLIC_PREFIX):
            raise ValueError
        raw = _unb64(text[len(PUBLIC_PREFIX):])
        if len(raw) != 32:
            raise ValueError
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError):
        raise WeakSecret(setting, f"{text[:12]!r}... is not a public key "
                         f"({PUBLIC_PREFIX}<base64url of 32 bytes>, as printed by `fieldcheck "
                         "keygen snapshot` on the source gateway)") from None


@dataclass
class SnapshotKeys:
    """This gateway's snapshot signing key (when it is a source) and the sources it trusts."""

    signing: Ed25519PrivateKey | None = None
    trusted: dict[str, Ed25519PublicKey] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, signing_key: str | None, trusted_keys: str | None) -> SnapshotKeys:
        keys = cls(signing=parse_private(signing_key) if signing_key else None)
        for text in (trusted_keys or "").split(","):
            if text.strip():
                public = parse_public(text)
                keys.trusted[key_id(public)] = public
        return keys

    @property
    def signing_key_id(self) -> str | None:
        return key_id(self.signing.public_key()) if self.signing else None

    def sign(self, message: bytes) -> tuple[str, str]:
        """``(key id, base64url signature)``; the caller has checked ``signing`` is set."""
        assert self.signing is not None
        return key_id(self.signing.public_key()), _b64(self.signing.sign(message))

    def verify(self, kid: str, signature: str, message: bytes) -> bool:
        public = self.trusted.get(kid)
        if public is None:
            return False
        try:
            public.verify(_unb64(signature), message)
        except (InvalidSignature, binascii.Error, ValueError):
            return False
        return True


def check_secrets(settings: object) -> SnapshotKeys:
    """Refuse weak or legacy secrets (WeakSecret naming the setting); returns the parsed keys."""
    admin = getattr(settings, "admin_token", None)
    if admin is not None:
        bits = estimated_bits(admin)
        if bits < MIN_TOKEN_BITS:
            raise WeakSecret(
                "FIELDCHECK_ADMIN_TOKEN",
                f"about {bits:.0f} bits; at least {MIN_TOKEN_BITS} are needed. Generate one with "
                "`fieldcheck keygen admin-token` (or leave it unset: the first start prints one)",
            )
    if getattr(settings, "snapshot_key", None):
        raise WeakSecret(
            "FIELDCHECK_SNAPSHOT_KEY",
            "the shared HMAC snapshot key is no longer accepted (any gateway holding it could "
            "forge snapshots for all). Run `fieldcheck keygen snapshot` on each source gateway, "
            "set FIELDCHECK_SNAPSHOT_SIGNING_KEY there and its public key in "
            "FIELDCHECK_SNAPSHOT_TRUSTED_KEYS on the replicas, then unset FIELDCHECK_SNAPSHOT_KEY",
        )
    return SnapshotKeys.from_settings(
        getattr(settings, "snapshot_signing_key", None),
        getattr(settings, "snapshot_trusted_keys", None),
    )
