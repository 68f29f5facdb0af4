"""Fuzzing: at least 10,000 mutated inputs per parser; only AdapterError (4xx) may come out.

Slow suite (``pytest -m slow tests/adapters``). Mutations are byte-level (flip, insert, delete,
truncate, duplicate) on a valid seed, plus structure-aware ones that mutate an embedded image
and re-sign / re-chain it so the mutation reaches the image decoders behind the JSON layer.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from device_adapters.ansi_nist import AnsiNistAdapter, write_transaction
from device_adapters.capture import Capture, FaceImage, FingerImage
from device_adapters.errors import AdapterError
from device_adapters.iso_template import IsoTemplateAdapter
from device_adapters.mosip_sbi import EMPTY_HASH, MosipSbiAdapter, chain_hash
from device_adapters.mrz import parse_mrz
from device_adapters.seek_avenger import SeekAvengerAdapter
from tests.adapters import builders as b

EXAMPLES = 10_000
FUZZ = settings(max_examples=EXAMPLES, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
OCTET = {"content-type": "application/octet-stream"}
JSON = {"content-type": "application/json"}

_mutation = st.tuples(st.sampled_from(["flip", "insert", "delete", "truncate", "dup", "int"]),
                      st.integers(0, 2**31), st.integers(0, 2**31), st.binary(max_size=16))


def mutate(data: bytes, mutations: list[tuple[str, int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, a, c, blob in mutations:
        n = len(out) or 1
        i, j = a % n, c % n
        if kind == "flip" and out:
            out[i] = c & 0xFF
        elif kind == "insert":
            out[i:i] = blob
        elif kind == "delete":
            del out[i:i + 1 + c % 16]
        elif kind == "truncate":
            del out[i:]
        elif kind == "dup":
            out[i:i] = out[min(i, j):max(i, j)][:64]
        elif kind == "int" and len(out) > 4:
            # Length fields are where parsers go wrong: write a big-endian boundary value.
            value = [0, 1, 0xFF, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF][c % 6]
            out[i:i + 4] = value.to_bytes(4, "big")
    return bytes(out)


def must_not_crash(parse: Callable[[], object]) -> None:
    try:
        result = parse()
    except AdapterError as error:
        assert 400 <= error.status < 500 and error.message
        return
    assert result is not None


def _small_capture() -> Capture:
    return Capture(
        fingers=[FingerImage(position=2, image=b.encode(b.ridge_image(64, 64, 1), "wsq")),
                 FingerImage(position=7, image=b.encode(b.ridge_image(64, 64, 2), "png"))],
        faces=[FaceImage(image=b.encode(b.ridge_image(48, 48, 3), "jpeg"))],
        document=parse_mrz(b.TD3),
    )


ANSI_SEED = write_transaction(_small_capture())
ISO_SEED = b.iso_templates()


def _sbi_seed() -> dict:
    img = b.ridge_image(64, 64, 4)
    return json.loads(b.sbi_response([
        ("Finger", "Left IndexFinger", b.iso_19794_4_2011(b.encode(img, "jp2"), 64, 64)),
        ("Finger", "Right IndexFinger", b.iso_19794_4_2011(b.encode(img, "wsq"), 64, 64,
                                                           position=2, compression=2)),
    ], seed=None))


SBI_SEED = _sbi_seed()
SEEK_SEED = b.seek_document(fingers=1)
SEEK_SEED["fingers"][0]["image"] = base64.b64encode(b.encode(b.ridge_image(64, 64, 5),
                                                             "wsq")).decode()
SEEK_SEED["face"]["image"] = base64.b64encode(b.encode(b.ridge_image(48, 48, 6),
                                                       "jpeg")).decode()


@pytest.mark.slow
@FUZZ
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_fuzz_ansi_nist(mutations: list) -> None:
    must_not_crash(lambda: AnsiNistAdapter().parse(mutate(ANSI_SEED, mutations), OCTET))


@pytest.mark.slow
@FUZZ
@given(st.lists(_mutation, min_size=1, max_size=6))
def test_fuzz_iso_template(mutations: list) -> None:
    must_not_crash(lambda: IsoTemplateAdapter().parse(mutate(ISO_SEED, mutations), OCTET))


def _resign(doc: dict, index: int, value: bytes) -> bytes:
    """Put ``value`` as biometrics[index]'s bioValue with a valid hash chain (unsigned)."""
    previous = EMPTY_HASH
    for i, entry in enumerate(doc["biometrics"]):
        payload = json.loads(base64.urlsafe_b64decode(entry["data"].split(".")[1] + "=="))
        if i == index:
            payload["bioValue"] = b.b64url(value)
        raw = base64.urlsafe_b64decode(payload["bioValue"] + "==")
        entry["data"] = b.jws_compact(payload, seed=None)
        previous = chain_hash(previous, raw)
        entry["hash"] = previous
    return json.dumps(doc).encode()


@pytest.mark.slow
@FUZZ
@given(st.booleans(), st.integers(0, 1), st.lists(_mutation, min_size=1, max_size=6))
def test_fuzz_mosip_sbi(structural: bool, index: int, mutations: list) -> None:
    doc = json.loads(json.dumps(SBI_SEED))
    if structural:
        payload = json.loads(base64.urlsafe_b64decode(
            doc["biometrics"][index]["data"].split(".")[1] + "=="))
        value = base64.urlsafe_b64decode(payload["bioValue"] + "==")
        body = _resign(doc, index, mutate(value, mutations))
    else:
        body = mutate(json.dumps(doc).encode(), mutations)
    must_not_crash(lambda: MosipSbiAdapter().parse(body, JSON))


@pytest.mark.slow
@FUZZ
@given(st.sampled_from(["bytes", "finger", "face", "value"]), st.lists(_mutation, min_size=1,
                                                                        max_size=6),
       st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20),
                 st.lists(st.integers(), max_size=3), st.booleans()))
def test_fuzz_seek_avenger(kind: str, mutations: list, junk: object) -> None:
    doc = json.loads(json.dumps(SEEK_SEED))
    if kind == "finger":
        raw = base64.b64decode(doc["fingers"][0]["image"])
        doc["fingers"][0]["image"] = base64.b64encode(mutate(raw, mutations)).decode()
    elif kind == "face":
        raw = base64.b64decode(doc["face"]["image"])
        doc["face"]["image"] = base64.b64encode(mutate(raw, mutations)).decode()
    elif kind == "value":
        paths = [("schema",), ("device", "serial"), ("location", "lat"), ("capturedAt",),
                 ("fingers", 0, "position"), ("fingers", 0, "ppi"), ("fingers", 0, "format"),
                 ("fingers",), ("face",), ("mrz",), ("mrz", 0), ("fingers", 0, "quality")]
        path = paths[mutations[0][1] % len(paths)]
        target = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = junk
    body = json.dumps(doc).encode()
    if kind == "bytes":
        body = mutate(body, mutations)
    must_not_crash(lambda: SeekAvengerAdapter().parse(body, JSON))


@pytest.mark.slow
@FUZZ
@given(st.lists(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789<", max_size=50),
                max_size=4) | st.lists(_mutation, min_size=1, max_size=4).map(
    lambda m: mutate("\n".join(b.TD3).encode(), m).decode("latin-1").splitlines()))
def test_fuzz_mrz(lines: list[str]) -> None:
    must_not_crash(lambda: parse_mrz(lines))
