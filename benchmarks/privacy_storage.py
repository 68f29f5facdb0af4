"""Storage cost of reference images per subject and of a retained hit's evidence, on real data.

Usage: uv run python benchmarks/privacy_storage.py [--subjects N] [--json]

Per subject: one face photo (LFW) as normalised JPEG + thumbnail, and two prints (FVC 2000/2002/
2004 B sets) as WSQ, each sealed (AES-GCM adds 28 bytes). Per retained check: the probe face as
JPEG and two probe prints as PNG (another impression). Templates are listed for scale.
Sizes are the stored blob bytes; the database adds its own page overhead on top.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table

from gateway.privacy import images
from gateway.privacy.crypto import NONCE_BYTES
from gateway.settings import Settings
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher

SEAL_OVERHEAD = NONCE_BYTES + 16  # nonce + GCM tag


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=30)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    settings = Settings()
    data = settings.shared_data_dir
    people = sorted(p for p in (data / "faces" / "lfw").iterdir() if p.is_dir())
    # Every FVC set's fingers (another sensor each), so there are enough for the subjects.
    fingers = sorted({(p.parent, p.name.split("_")[0]) for p in
                      (data / "fingerprints").glob("fvc*/*_1.tif")})
    rows: dict[str, list[int]] = {k: [] for k in (
        "ref_face_jpeg", "ref_thumb_jpeg", "ref_finger_wsq", "face_template", "finger_template",
        "probe_face_jpeg", "probe_finger_png", "upload_face", "upload_finger")}
    n = min(args.subjects, len(people), len(fingers) // 2)
    for i in range(n):
        photos = sorted(people[i].glob("*.jpg"))
        raw = photos[0].read_bytes()
        photo, thumb = images.face_photo(raw, max_px=settings.reference_face_max_px,
                                         thumb_px=settings.thumbnail_px)
        rows["upload_face"].append(len(raw))
        rows["ref_face_jpeg"].append(len(photo.data) + SEAL_OVERHEAD)
        rows["ref_thumb_jpeg"].append(len(thumb.data) + SEAL_OVERHEAD)
        rows["face_template"].append(len(face_matcher.extract(raw).to_bytes()))
        probe_photo = photos[-1].read_bytes()
        probe, _ = images.face_photo(probe_photo, max_px=settings.reference_face_max_px,
                                     thumb_px=settings.thumbnail_px)
        rows["probe_face_jpeg"].append(len(probe.data) + SEAL_OVERHEAD)
        for prints, finger in fingers[2 * i: 2 * i + 2]:
            enrol = (prints / f"{finger}_1.tif").read_bytes()
            rows["upload_finger"].append(len(enrol))
            pixels = images.finger_pixels(enrol, None, ppi=500)
            rows["ref_finger_wsq"].append(len(images.finger_wsq(pixels).data) + SEAL_OVERHEAD)
            rows["finger_template"].append(len(finger_matcher.extract(enrol, position=2).to_iso()))
            probe_px = images.finger_pixels((prints / f"{finger}_2.tif").read_bytes(), None,
                                            ppi=500)
            rows["probe_finger_png"].append(len(images.finger_png(probe_px).data) + SEAL_OVERHEAD)
    mean = {k: statistics.mean(v) for k, v in rows.items() if v}
    per_subject = mean["ref_face_jpeg"] + mean["ref_thumb_jpeg"] + 2 * mean["ref_finger_wsq"]
    per_check = mean["probe_face_jpeg"] + 2 * mean["probe_finger_png"]
    report = {
        "subjects": n, "mean_bytes": {k: round(v) for k, v in mean.items()},
        "per_subject_images_bytes": round(per_subject),
        "per_subject_templates_bytes": round(mean["face_template"] + 2 * mean["finger_template"]),
        "per_retained_check_bytes": round(per_check),
        "per_million_subjects_gb": round(per_subject * 1e6 / 1e9, 1),
    }
    table = Table(title=f"Stored bytes (sealed), mean over {n} subjects (LFW + FVC B sets)")
    table.add_column("item")
    table.add_column("bytes", justify="right")
    for k, v in report["mean_bytes"].items():
        table.add_row(k, f"{v:,}")
    table.add_row("per subject (face + thumb + 2 prints)", f"{report['per_subject_images_bytes']:,}")
    table.add_row("per retained hit (face + 2 prints)", f"{report['per_retained_check_bytes']:,}")
    Console(stderr=True).print(table)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
