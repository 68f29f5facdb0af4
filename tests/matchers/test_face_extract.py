"""Face extraction on real LFW photos: turned heads, mirrored and sideways photos, EXIF
orientation, recapture messages, the model files' integrity."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from matchers import calibration, face, params
from matchers.errors import UnusableCapture


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> Path:
    folder = shared_data / "faces" / "lfw"
    if not folder.exists():
        pytest.skip("lfw not in the shared data")
    return folder


def test_turned_head_is_not_too_small(lfw: Path) -> None:
    # A turned head: its eyes are closer than its resolution warrants, the box sets the size.
    path = lfw / "Richard_Gere" / "Richard_Gere_0005.jpg"
    if not path.exists():
        pytest.skip("Richard_Gere_0005.jpg not in the shared data")
    template = face.extract(path.read_bytes())
    assert template.quality["inter_eye_px"] < template.quality["face_size_px"]
    assert np.linalg.norm(template.embedding) == pytest.approx(1.0, abs=1e-5)


def test_mirrored_photo_gives_nearly_the_same_embedding(lfw: Path) -> None:
    path = next(p for p in sorted((lfw / sorted(d.name for d in lfw.iterdir())[0]).iterdir()))
    rgb = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    a = face.extract(rgb=rgb).embedding
    b = face.extract(rgb=np.ascontiguousarray(rgb[:, ::-1])).embedding
    # The same person seen mirrored is a strong match (FMR 1e-5 on the calibration data).
    assert float(a @ b) > calibration.FACE.score_at(1e-5)


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)


def _jpeg(rgb: np.ndarray, orientation: int | None = None) -> bytes:
    import io

    from PIL import Image

    image = Image.fromarray(rgb)
    exif = Image.Exif()
    if orientation is not None:
        exif[0x0112] = orientation
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_sideways_photo_without_exif_is_found_by_turning_it(lfw: Path) -> None:
    path = lfw / "Richard_Gere" / "Richard_Gere_0001.jpg"
    upright = face.extract(path.read_bytes())
    sideways = np.ascontiguousarray(np.rot90(_rgb(path)))  # a handheld held sideways
    template = face.extract(_jpeg(sideways))
    assert template.quality["rotated_deg"] in (90, 270)
    assert "rotated_deg" not in upright.quality
    assert float(template.embedding @ upright.embedding) > 0.8


def test_exif_orientation_is_applied_before_detection(lfw: Path) -> None:
    path = lfw / "Richard_Gere" / "Richard_Gere_0001.jpg"
    rgb = _rgb(path)
    # Pixels stored turned 90 degrees clockwise with Orientation 8 (turn back counter-clockwise):
    # decode must give the upright photo, so the face is found without the rotation search.
    stored = np.ascontiguousarray(np.rot90(rgb, k=-1))
    template = face.extract(_jpeg(stored, orientation=8))
    assert "rotated_deg" not in template.quality
    assert float(template.embedding @ face.extract(path.read_bytes()).embedding) > 0.9


def test_several_similar_faces_refusal_says_what_to_do(shared_data: Path) -> None:
    path = shared_data / "faces" / "samples" / "multi" / "two_people.jpg"
    if not path.exists():
        pytest.skip("samples/multi not in the shared data")
    with pytest.raises(UnusableCapture) as err:
        face.extract(path.read_bytes(), refuse_ambiguous=True)
    assert err.value.reason == "several_faces"
    assert "photograph the person alone" in err.value.message
    # Without the refusal the most central face gives a template (issue 7's rule kept).
    assert face.extract(path.read_bytes()).quality["faces"] >= 2


def test_quality_reports_landmark_size_detector_score_and_sharpness(lfw: Path) -> None:
    template = face.extract((lfw / "Richard_Gere" / "Richard_Gere_0001.jpg").read_bytes())
    q = template.quality
    assert 28 <= q["inter_eye_px"] <= 80  # LFW faces are ~100-120 px wide
    assert 0.5 <= q["detector_score"] <= 1.0
    assert q["sharpness"] > params.FACE_MIN_SHARPNESS


def test_blurred_face_is_refused_with_what_to_do(lfw: Path) -> None:
    rgb = _rgb(lfw / "Richard_Gere" / "Richard_Gere_0001.jpg")
    blurred = cv2.GaussianBlur(rgb, (0, 0), 6)
    with pytest.raises(UnusableCapture) as err:
        face.extract(rgb=blurred)
    assert err.value.reason in {"face_blurred", "no_face"}
    if err.value.reason == "face_blurred":
        assert "hold the device still" in err.value.message
        assert err.value.quality["sharpness"] < params.FACE_MIN_SHARPNESS


def test_a_changed_model_file_is_refused(tmp_path: Path, monkeypatch) -> None:
    for name in (face.DETECTOR_FILE, face.RECOGNISER_FILE):
        (tmp_path / name).write_bytes((face.MODEL_DIR / name).read_bytes())
    tampered = tmp_path / face.DETECTOR_FILE
    tampered.write_bytes(tampered.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(face, "MODEL_DIR", tmp_path)
    face.model_path.cache_clear()
    try:
        with pytest.raises(face.ModelFileError, match="sha256"):
            face.model_path(face.DETECTOR_FILE)
        assert face.model_path(face.RECOGNISER_FILE) == str(tmp_path / face.RECOGNISER_FILE)
    finally:
        face.model_path.cache_clear()


def test_shipped_model_files_have_the_recorded_sha256() -> None:
    import hashlib

    for name, digest in face.MODEL_SHA256.items():
        assert hashlib.sha256((face.MODEL_DIR / name).read_bytes()).hexdigest() == digest
