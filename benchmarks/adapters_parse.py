"""Parse cost of device payloads: an ANSI/NIST transaction with 10 WSQ fingers and a face.

Prints one JSON object, then a table. Real FVC prints and an LFW face from ../shared/data
(FIELDCHECK_SHARED_DATA_DIR) when present, synthetic ridges otherwise.

With ``--conformance`` it also times real samples written by other software, one per format
(../shared/conformance or FIELDCHECK_CONFORMANCE_DIR: NIST's an2k files, MOSIP's mock device
records), and prints the conformance table: every corpus file, its written expectation
(tests/conformance/expectations.py) and whether the adapter did exactly that.

    uv run python benchmarks/adapters_parse.py --repeat 20 [--conformance]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

from device_adapters import wsq_sandbox
from device_adapters.ansi_nist import AnsiNistAdapter, write_transaction
from device_adapters.iso_template import IsoTemplateAdapter
from device_adapters.mosip_sbi import MosipSbiAdapter
from device_adapters.seek_avenger import SeekAvengerAdapter
from gateway.settings import Settings
from tests.adapters import builders as b


def _time(parse, repeat: int) -> dict:
    parse()  # warm up: starts the WSQ worker, loads codecs
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        parse()
        samples.append((time.perf_counter() - start) * 1000)
    return {"median_ms": round(statistics.median(samples), 2),
            "p90_ms": round(sorted(samples)[int(0.9 * (len(samples) - 1))], 2),
            "min_ms": round(min(samples), 2)}


# One real sample per format: (case, folder, file, how it is sent).
REAL_SAMPLES = [
    ("NIST Type-4 WSQ finger", "ansi-nist", "nbis_valid1.1.an2", "ansi"),
    ("NIST Type-10 JPEG face", "ansi-nist", "nbis_valid1.3.an2", "ansi"),
    ("NIST Type-14 WSQ slaps x3 (segmented)", "ansi-nist", "nbis_valid1.8.an2", "ansi"),
    ("NIST Type-3 card, 20 fingers (2 slaps)", "ansi-nist", "nbis_type_3_wvu.an2", "ansi"),
    ("NIST mixed 1.9 (Type-4/7/8/10/14/17)", "ansi-nist", "nbis_valid1.9.an2", "ansi"),
    ("MOSIP RCAPTURE finger JP2 lossless, RS256", "mosip-sbi", "rcapture_1finger_mosip_hash.json",
     "sbi"),
    ("MOSIP RCAPTURE face ISO 19794-5 JP2, RS256", "mosip-sbi", "rcapture_face_mosip_hash.json",
     "sbi"),
    ("MOSIP ISO 19794-4 WSQ finger", "mosip-sbi", "iso/Profile_Automatic_Auth_0001Left_Index.wsq.iso",
     "iso-finger"),
    ("MOSIP ISO 19794-4 JP2 lossy finger", "mosip-sbi", "iso/Profile_Automatic_Auth_0001Left_Index.iso",
     "iso-finger"),
]


def _real_cases(root: Path) -> dict:
    octet, js = {"content-type": "application/octet-stream"}, {"content-type": "application/json"}
    cert = root / "mosip-sbi" / "test-device-cert.pem"
    trusted = MosipSbiAdapter(trusted_certificates=[cert.read_bytes()]) if cert.is_file() else (
        MosipSbiAdapter())
    cases = {}
    for name, folder, file, kind in REAL_SAMPLES:
        path = root / folder / file
        if not path.is_file():
            continue
        data = path.read_bytes()
        if kind == "ansi":
            cases[name] = (lambda d=data: AnsiNistAdapter().parse(d, octet), len(data))
        elif kind == "sbi":
            cases[name] = (lambda d=data: trusted.parse(d, js), len(data))
        else:
            body = b.sbi_response([("Finger", "Left IndexFinger", data)], seed=None)
            cases[name] = (lambda d=body: MosipSbiAdapter().parse(d, js), len(data))
    vendor = _vendor_iso_templates(root)
    if vendor:
        from matchers.templates import FingerprintTemplate

        record = vendor[0].read_bytes()

        def parse_vendor(d: bytes = record) -> object:
            [finger] = IsoTemplateAdapter().parse(d, octet).templates
            return FingerprintTemplate.from_iso(finger.iso_19794_2)

        cases["Vendor ISO 19794-2 minutiae (+ matcher template)"] = (parse_vendor, len(record))
    return cases


def _vendor_iso_templates(conformance_root: Path) -> list[Path]:
    """Another vendor's ISO 19794-2 records (FIELDCHECK_ISO_TEMPLATES_DIR, else ../shared/datasets)."""
    env = os.environ.get("FIELDCHECK_ISO_TEMPLATES_DIR")
    root = Path(env) if env else (conformance_root.parent / "datasets" / "fingerprints"
                                  / "iso19794-2_templates")
    return sorted(root.rglob("*.iso")) if root.is_dir() else []


def conformance_table(root: Path) -> list[dict]:
    """Every corpus file: the written expectation and what the adapter did."""
    from device_adapters.errors import AdapterError
    from tests.conformance import expectations as ex

    octet, js = {"content-type": "application/octet-stream"}, {"content-type": "application/json"}
    cert = root / "mosip-sbi" / "test-device-cert.pem"
    rows = []
    for name, want in sorted(ex.ANSI_NIST.items()):
        path = root / "ansi-nist" / name
        if not path.is_file():
            continue
        try:
            c = AnsiNistAdapter().parse(path.read_bytes(), octet)
            got = ("accepted", tuple((f.position, f.ppi, f.source_format) for f in c.fingers),
                   tuple(f.source_format for f in c.faces),
                   tuple((s.field, s.reason) for s in c.skipped))
        except AdapterError as exc:
            got = ("refused", exc.status, exc.field)
        if isinstance(want, ex.Refused):
            expected = ("refused", want.status, want.field)
        else:
            expected = ("accepted", want.fingers, want.faces, want.skipped)
        rows.append({"file": f"ansi-nist/{name}", "expected": expected[0],
                     "as_expected": got == expected, "why": want.why})
    for name, want in sorted(ex.MOSIP_RCAPTURE.items()):
        path = root / "mosip-sbi" / name
        if not path.is_file():
            continue
        try:
            c = MosipSbiAdapter(trusted_certificates=[cert.read_bytes()]).parse(
                path.read_bytes(), js)
            ok = (tuple((f.position, f.ppi, f.source_format) for f in c.fingers) == want.fingers
                  and tuple(f.source_format for f in c.faces) == want.faces)
        except AdapterError:
            ok = False
        rows.append({"file": f"mosip-sbi/{name}", "expected": "accepted (signature verified)",
                     "as_expected": ok, "why": want.why})
    for name, want in sorted(ex.MOSIP_ISO.items()):
        path = root / "mosip-sbi" / "iso" / name
        if not path.is_file():
            continue
        body = b.sbi_response([(want.bio_type, want.subtype, path.read_bytes())], seed=None)
        try:
            c = MosipSbiAdapter().parse(body, js)
            items = c.fingers if want.bio_type == "Finger" else c.faces
            ok = len(items) == 1 and items[0].source_format == want.fmt
        except AdapterError:
            ok = False
        rows.append({"file": f"mosip-sbi/iso/{name}", "expected": "accepted (as bioValue)",
                     "as_expected": ok, "why": want.why})
    for name, why in sorted(ex.MOSIP_OTHER.items()):
        rows.append({"file": f"mosip-sbi/.../{name}", "expected": "see tests/conformance",
                     "as_expected": None, "why": why})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--conformance", action="store_true",
                        help="also time real samples of other software and print the table")
    args = parser.parse_args()
    octet, js = {"content-type": "application/octet-stream"}, {"content-type": "application/json"}
    real = b.fvc_print(101) is not None
    ten = b.sample_capture(fingers=10, fmt="wsq")
    ansi = write_transaction(ten)
    sbi = b.sbi_sample(seed=1)
    seek = json.dumps(b.seek_document()).encode()
    iso = b.iso_templates()
    trusted = MosipSbiAdapter(trusted_certificates=[b.public_key_pem(1)])
    cases = {
        "ansi-nist: 10 WSQ fingers + JPEG face": (lambda: AnsiNistAdapter().parse(ansi, octet),
                                                  len(ansi)),
        "mosip-sbi: 2 fingers (JP2, WSQ) + face, RS256": (lambda: trusted.parse(sbi, js),
                                                           len(sbi)),
        "seek-avenger: 2 WSQ fingers + face + MRZ": (lambda: SeekAvengerAdapter().parse(seek, js),
                                                     len(seek)),
        "iso-template: 2 minutiae records": (lambda: IsoTemplateAdapter().parse(iso, octet),
                                             len(iso)),
    }
    root = Settings(admin_token="unused").conformance_dir
    if args.conformance and root.is_dir():
        cases.update({f"real: {k}": v for k, v in _real_cases(root).items()})
    results = []
    for name, (parse, size) in cases.items():
        results.append({"case": name, "bytes": size, **_time(parse, args.repeat)})
    table = conformance_table(root) if args.conformance and root.is_dir() else []
    wsq_sandbox.shutdown()
    report = {"benchmark": "adapters_parse", "repeat": args.repeat, "load": os.getloadavg(),
              "images": "FVC2000 DB1 B + LFW" if real else "synthetic", "results": results,
              "conformance": table}
    print(json.dumps(report, indent=2))
    print()
    print(f"{'case':50} {'bytes':>9} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
    for row in results:
        print(f"{row['case'][:50]:50} {row['bytes']:>9} {row['median_ms']:>10} "
              f"{row['p90_ms']:>8} {row['min_ms']:>8}")
    if table:
        print()
        print(f"{'file':62} {'expected':30} as expected")
        for row in table:
            mark = {True: "yes", False: "NO", None: "-"}[row["as_expected"]]
            print(f"{row['file'][:62]:62} {row['expected'][:30]:30} {mark}")
        judged = [r for r in table if r["as_expected"] is not None]
        print(f"{sum(r['as_expected'] for r in judged)}/{len(judged)} files as expected")


if __name__ == "__main__":
    main()
