"""Parse cost of device payloads: an ANSI/NIST transaction with 10 WSQ fingers and a face.

Prints one JSON object, then a table. Real FVC prints and an LFW face from ../shared/data
(FIELDCHECK_SHARED_DATA_DIR) when present, synthetic ridges otherwise.

    uv run python benchmarks/adapters_parse.py --repeat 20
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from device_adapters import wsq_sandbox
from device_adapters.ansi_nist import AnsiNistAdapter, write_transaction
from device_adapters.iso_template import IsoTemplateAdapter
from device_adapters.mosip_sbi import MosipSbiAdapter
from device_adapters.seek_avenger import SeekAvengerAdapter
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
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
    results = []
    for name, (parse, size) in cases.items():
        results.append({"case": name, "bytes": size, **_time(parse, args.repeat)})
    wsq_sandbox.shutdown()
    report = {"benchmark": "adapters_parse", "repeat": args.repeat,
              "images": "FVC2000 DB1 B + LFW" if real else "synthetic", "results": results}
    print(json.dumps(report, indent=2))
    print()
    print(f"{'case':50} {'bytes':>9} {'median ms':>10} {'p90 ms':>8} {'min ms':>8}")
    for row in results:
        print(f"{row['case']:50} {row['bytes']:>9} {row['median_ms']:>10} {row['p90_ms']:>8} "
              f"{row['min_ms']:>8}")


if __name__ == "__main__":
    main()
