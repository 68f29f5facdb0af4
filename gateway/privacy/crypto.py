"""Encryption at rest for images: AES-256-GCM with named keys, so keys can rotate.

Every blob is stored with the id of the key that sealed it; the keyring encrypts with its
*current* key and decrypts with any key it holds, so after a rotation old blobs stay readable
until ``fieldcheck privacy rotate-key --reencrypt`` rewrites them (then the old key may go).

Where the keys come from (``Keyring.from_settings``):
- ``FIELDCHECK_IMAGE_KEYS`` = ``id:base64,id:base64`` (first encrypts) — needed when several
  gateways share one PostgreSQL database (they must hold the same keys);
- otherwise the key file (``FIELDCHECK_IMAGE_KEY_FILE``, default ``<data dir>/image-keys.json``),
  created with mode 0600 and one random key the first time it is needed.

The associated data binds a blob to its row (``table:row id``): a blob copied onto another row
does not decrypt. A blob is ``nonce (12 bytes) || ciphertext || tag (16 bytes)``.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.errors import DomainError
from gateway.settings import Settings

KEY_BYTES = 32
NONCE_BYTES = 12
_file_lock = threading.Lock()


class ImageKeyUnavailable(DomainError):
    """A key is missing or a blob does not decrypt (wrong key, tampered, or moved): a
    deployment fault, not the caller's, so 503."""

    status, title, type_slug = 503, "Image key unavailable", "image-key"


@dataclass(frozen=True)
class Sealed:
    key_id: str
    blob: bytes


class Keyring:
    """Named AES-256-GCM keys; thread-safe (AESGCM objects are stateless)."""

    def __init__(self, keys: dict[str, bytes], current: str, *, path: Path | None = None):
        if current not in keys:
            raise ValueError(f"current key {current!r} is not in the keyring")
        for kid, key in keys.items():
            if len(key) != KEY_BYTES:
                raise ValueError(f"image key {kid!r} must be {KEY_BYTES} bytes, not {len(key)}")
        self._keys = {kid: AESGCM(key) for kid, key in keys.items()}
        self.current = current
        self.path = path

    @property
    def key_ids(self) -> list[str]:
        return list(self._keys)

    def seal(self, plaintext: bytes, *, aad: str) -> Sealed:
        nonce = os.urandom(NONCE_BYTES)
        blob = nonce + self._keys[self.current].encrypt(nonce, plaintext, aad.encode())
        return Sealed(self.current, blob)

    def open(self, key_id: str, blob: bytes, *, aad: str) -> bytes:
        key = self._keys.get(key_id)
        if key is None and self.path is not None and self.path.exists():
            # Rotated by the CLI while this process runs: read the new key from the file (this
            # process keeps sealing with its current key, still valid, until it restarts).
            with _file_lock:
                doc = json.loads(self.path.read_text())
            for kid, value in doc["keys"].items():
                self._keys.setdefault(kid, AESGCM(base64.b64decode(value)))
            key = self._keys.get(key_id)
        if key is None:
            raise ImageKeyUnavailable(
                f"the image key {key_id!r} is not configured here",
                fix="add it to FIELDCHECK_IMAGE_KEYS or the key file (keys are never dropped "
                "before 'fieldcheck privacy rotate-key --reencrypt' has run)",
            )
        try:
            return key.decrypt(blob[:NONCE_BYTES], blob[NONCE_BYTES:], aad.encode())
        except InvalidTag as exc:
            raise ImageKeyUnavailable(f"an image sealed with key {key_id!r} does not decrypt "
                            "(wrong key or altered data)") from exc

    @classmethod
    def from_settings(cls, settings: Settings) -> Keyring:
        if settings.image_keys:
            return cls.parse(settings.image_keys)
        path = settings.image_key_file or (settings.data_dir / "image-keys.json")
        return cls.from_file(path)

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        keys: dict[str, bytes] = {}
        for part in (p.strip() for p in spec.split(",")):
            if not part:
                continue
            kid, sep, value = part.partition(":")
            if not sep or not kid:
                raise ValueError("FIELDCHECK_IMAGE_KEYS entries are 'id:base64-key'")
            keys[kid.strip()] = base64.b64decode(value.strip())
        if not keys:
            raise ValueError("FIELDCHECK_IMAGE_KEYS holds no key")
        return cls(keys, next(iter(keys)))

    @classmethod
    def from_file(cls, path: Path) -> Keyring:
        with _file_lock:
            if not path.exists():
                _write_key_file(path, {"current": "k1", "keys": {"k1": _new_key()}})
            doc = json.loads(path.read_text())
        keys = {kid: base64.b64decode(v) for kid, v in doc["keys"].items()}
        return cls(keys, doc["current"], path=path)

    def rotate(self) -> str:
        """Add a new key to the key file and make it current; returns its id."""
        if self.path is None:
            raise ValueError("keys come from FIELDCHECK_IMAGE_KEYS: rotate by putting a new "
                             "'id:key' first in that setting and keeping the old ones after it")
        with _file_lock:
            doc = json.loads(self.path.read_text())
            n = 1 + max(int(k[1:]) for k in doc["keys"] if k[1:].isdigit())
            kid = f"k{n}"
            doc["keys"][kid] = _new_key()
            doc["current"] = kid
            _write_key_file(self.path, doc)
        self._keys[kid] = AESGCM(base64.b64decode(doc["keys"][kid]))
        self.current = kid
        return kid


def _new_key() -> str:
    return base64.b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def _write_key_file(path: Path, doc: dict) -> None:
    """Write atomically and readable by the owner only (created 0600, never world-readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
