"""Face extraction on real LFW photos: turned heads get a template, the mirror average."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from matchers import face


@pytest.fixture(scope="module")
def lfw(shared_data: Path) -> Path:
    folder = shared_data / "faces" / "lfw"
    if not folder.exists():
        pytest.skip("lfw not in the shared data")
    return folder


def test_turned_head_is_not_too_small(lfw: Path) -> None:
    # 25 px between the eyes of a turned head in a 90 px face box: the box sets the size.
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
    assert float(a @ b) > 0.98
