"""Face capture variation and the tester's face folder."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from simulator import faces


def _photo(w: int = 120, h: int = 150) -> bytes:
    img = np.full((h, w, 3), 128, np.uint8)
    cv2.circle(img, (w // 2, h // 2), 40, (200, 180, 160), -1)
    ok, data = cv2.imencode(".png", img)
    assert ok
    return data.tobytes()


def test_variation_changes_scale_and_returns_jpeg() -> None:
    out = faces.vary_face(_photo(), faces.FaceVariation(scale=0.5, jpeg_quality=50))
    assert out[:2] == b"\xff\xd8"
    img = cv2.imdecode(np.frombuffer(out, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (75, 60)


def test_poor_captures_are_smaller_and_blurrier_than_good_ones() -> None:
    rng = np.random.default_rng(1)
    good = [faces.random_face_variation(rng, "good") for _ in range(20)]
    poor = [faces.random_face_variation(rng, "poor") for _ in range(20)]
    assert max(v.scale for v in poor) < min(v.scale for v in good)
    assert min(v.blur_sigma for v in poor) > max(v.blur_sigma for v in good)


def test_undecodable_photo_is_refused() -> None:
    with pytest.raises(ValueError, match="could not be decoded"):
        faces.vary_face(b"not an image", faces.FaceVariation())


def test_load_face_folder(tmp_path: Path) -> None:
    for name, n in (("alice", 3), ("bob", 1)):
        (tmp_path / name).mkdir()
        for k in range(n):
            (tmp_path / name / f"{k}.png").write_bytes(_photo())
    (tmp_path / "alice" / "notes.txt").write_text("ignored")
    ids = faces.load_face_folder(tmp_path)
    assert [i.name for i in ids] == ["alice", "bob"]
    enrol, probes = faces.split_enrol_probe(ids[0])
    assert enrol.name == "0.png" and [p.name for p in probes] == ["1.png", "2.png"]
    assert [i.name for i in faces.load_face_folder(tmp_path, min_photos=2)] == ["alice"]


def test_missing_or_empty_face_folder(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        faces.load_face_folder(tmp_path / "absent")
    with pytest.raises(ValueError, match="no identity"):
        faces.load_face_folder(tmp_path)


def test_real_faces_vary(shared_data: Path) -> None:
    ident = faces.load_face_folder(shared_data / "faces" / "lfw", min_photos=2)[0]
    data = faces.vary_face(ident.photos[1].read_bytes(),
                           faces.random_face_variation(np.random.default_rng(0)))
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[0] > 200
