"""Storage cost of reference images per subject and of a retained hit's evidence, on real data.

Usage: uv run python benchmarks/privacy_storage.py [--subjects N] [--json]

Per subject: one face photo (LFW) as normalised JPEG + thumbnail, and two prints (FVC 2000/2002/
2004 B sets) as WSQ, each sealed (AES-GCM adds 28 bytes). Per retained check: the probe face as
JPEG and two probe prints as PNG (another impression). Templates are listed for scale.
Sizes are the stored blob bytes; the database adds its own page overhead on top.

Per check forwarded to central: the capture held until central answers (sealed as received,
``store_probe_images(held=True)``), its bytes and the CPU it costs on the officer's path against
normalising the same capture at once (``held=False``), for LFW photos and for a camera photo
from ``faces/samples`` when present.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from device_adapters.capture import Capture, FaceImage, FingerImage
from gateway.privacy import images
from gateway.privacy.crypto import NONCE_BYTES, Keyring
from gateway.privacy.service import store_probe_images
from gateway.settings import Settings
from matchers import face as face_matcher
from matchers import fingerprint as finger_matcher

SEAL_OVERHEAD = NONCE_BYTES + 16  # nonce + GCM tag


class _Rows:
    """Stands in for the check's session: keeps the rows store_probe_images adds."""

    rows: list[Any] = []

    def add_all(self, rows: list[Any]) -> None:
        self.rows = rows


def held_cost(capture: Capture, settings: Settings, keyring: Keyring, repeat: int = 3
              ) -> dict[str, float]:
    """Sealed bytes and CPU ms of keeping ``capture`` held vs normalised (mean of ``repeat``)."""
    out: dict[str, float] = {}
    for mode, held in (("held", True), ("normalised", False)):
        sink = _Rows()
        started = time.process_time()
        for _ in range(repeat):
            store_probe_images(sink, keyring, check_id="chk_bench",  # type: ignore[arg-type]
                               capture=capture, settings=settings, held=held)
        out[f"{mode}_cpu_ms"] = (time.process_time() - started) / repeat * 1000
        out[f"{mode}_bytes"] = sum(len(r.blob) for r in sink.rows)
    return out


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
    keyring = Keyring.parse("k1:" + base64.b64encode(os.urandom(32)).decode())
    held: list[dict[str, float]] = []
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
        probe_prints = [(prints / f"{finger}_2.tif").read_bytes()
                        for prints, finger in fingers[2 * i: 2 * i + 2]]
        held.append(held_cost(Capture(faces=[FaceImage(probe_photo)], fingers=[
            FingerImage(2 + j, p) for j, p in enumerate(probe_prints)]), settings, keyring))
    camera = sorted((data / "faces" / "samples").rglob("*.jp*g"))
    held_camera = (held_cost(Capture(faces=[FaceImage(camera[0].read_bytes())], fingers=[
        FingerImage(2, (fingers[0][0] / f"{fingers[0][1]}_2.tif").read_bytes()),
        FingerImage(3, (fingers[1][0] / f"{fingers[1][1]}_2.tif").read_bytes())]),
        settings, keyring) if camera else None)
    mean = {k: statistics.mean(v) for k, v in rows.items() if v}
    per_subject = mean["ref_face_jpeg"] + mean["ref_thumb_jpeg"] + 2 * mean["ref_finger_wsq"]
    per_check = mean["probe_face_jpeg"] + 2 * mean["probe_finger_png"]
    report = {
        "subjects": n, "mean_bytes": {k: round(v) for k, v in mean.items()},
        "per_subject_images_bytes": round(per_subject),
        "per_subject_templates_bytes": round(mean["face_template"] + 2 * mean["finger_template"]),
        "per_retained_check_bytes": round(per_check),
        "per_million_subjects_gb": round(per_subject * 1e6 / 1e9, 1),
        # Transient: written with the check, deleted when central answers no hit.
        "per_forwarded_check_held": {k: round(statistics.mean(h[k] for h in held), 2)
                                     for k in held[0]},
        "per_forwarded_check_held_camera_photo": (
            {"photo": camera[0].name, **{k: round(v, 2) for k, v in held_camera.items()}}
            if held_camera else None),
    }
    table = Table(title=f"Stored bytes (sealed), mean over {n} subjects (LFW + FVC B sets)")
    table.add_column("item")
    table.add_column("bytes", justify="right")
    for k, v in report["mean_bytes"].items():
        table.add_row(k, f"{v:,}")
    table.add_row("per subject (face + thumb + 2 prints)", f"{report['per_subject_images_bytes']:,}")
    table.add_row("per retained hit (face + 2 prints)", f"{report['per_retained_check_bytes']:,}")
    Console(stderr=True).print(table)
    cost = Table(title="Capture of a check forwarded to central (face + 2 prints): held vs "
                 "normalised at the check")
    for column in ("capture", "held bytes", "held CPU ms", "normalised bytes",
                   "normalised CPU ms"):
        cost.add_column(column, justify="right" if column != "capture" else "left")
    for name, h in (("LFW photo (mean)", report["per_forwarded_check_held"]),
                    ("camera photo", report["per_forwarded_check_held_camera_photo"])):
        if h:
            cost.add_row(name, f"{h['held_bytes']:,.0f}", f"{h['held_cpu_ms']:.2f}",
                         f"{h['normalised_bytes']:,.0f}", f"{h['normalised_cpu_ms']:.1f}")
    Console(stderr=True).print(cost)
    if args.json:
        sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    main()
