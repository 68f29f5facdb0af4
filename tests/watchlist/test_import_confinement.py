"""Red-team finding 9 (issue 14): a manifest must not make the import read arbitrary files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.errors import Invalid
from gateway.watchlist import manifest as mf


def _folder(tmp_path: Path, faces: list[str]) -> Path:
    folder = tmp_path / "load"
    folder.mkdir()
    (folder / "photos").mkdir()
    (folder / "photos" / "ok.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    rows = ["external_ref,name,category,faces"]
    rows += [f"R-{i},Person {i},red,{face}" for i, face in enumerate(faces)]
    (folder / "manifest.csv").write_text("\n".join(rows) + "\n")
    return folder


def _load_errors(rows: list[mf.ManifestRow]) -> list[str]:
    errors = []
    for row in rows:
        for image in row.images:
            try:
                image.load()
                errors.append("read")
            except (ValueError, OSError) as exc:
                errors.append(str(exc))
    return errors


def test_paths_outside_the_manifest_folder_are_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(b"secret")
    folder = _folder(tmp_path, ["photos/ok.jpg", "../secret.png", "/etc/hostname",
                                "/proc/self/environ", "photos/../../secret.png"])
    errors = _load_errors(mf.read_folder(folder))
    assert errors[0] == "read"
    for error in errors[1:]:
        assert "outside the manifest's folder" in error and "--allow-outside" in error


def test_symlink_out_of_the_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.png").write_bytes(b"secret")
    folder = _folder(tmp_path, ["photos/link.png"])
    os.symlink(tmp_path / "secret.png", folder / "photos" / "link.png")
    assert "outside" in _load_errors(mf.read_folder(folder))[0]


def test_devices_and_proc_files_even_when_outside_is_allowed(tmp_path: Path) -> None:
    folder = _folder(tmp_path, ["/dev/zero", "/proc/self/environ"])
    errors = _load_errors(mf.read_folder(folder, allow_outside=True))
    assert "not a regular file" in errors[0]
    # /proc reports size 0: the size is checked while reading, and this one is small.
    assert errors[1] == "read"


def test_size_checked_while_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mf, "MAX_IMAGE_BYTES", 10)
    folder = _folder(tmp_path, ["photos/ok.jpg"])
    assert "larger than" in _load_errors(mf.read_folder(folder))[0]


def test_manifest_must_be_a_bounded_regular_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(Invalid):
        mf.read_folder(Path("/dev/zero"))
    folder = _folder(tmp_path, [])
    monkeypatch.setattr(mf, "MAX_MANIFEST_BYTES", 8)
    with pytest.raises(Invalid, match="larger than"):
        mf.read_folder(folder)


def test_cli_reports_the_refusal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from gateway.cli import app
    from gateway.settings import get_settings

    monkeypatch.setenv("FIELDCHECK_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    # The gateway's database exists (the CLI refuses to create one where none is expected).
    from gateway import db

    (tmp_path / "data").mkdir()
    db.create_all(db.make_engine(get_settings().effective_database_url))
    try:
        folder = _folder(tmp_path, ["/etc/hostname"])
        result = CliRunner().invoke(app, ["watchlist", "import", str(folder), "--json"],
                                    catch_exceptions=False)
    finally:
        get_settings.cache_clear()
    summary = json.loads(result.output.strip().splitlines()[-1])
    text = json.dumps(summary)
    assert "outside the manifest's folder" in text, text


def test_manifest_text_policy_rejects_the_record_alone(tmp_path: Path) -> None:
    folder = tmp_path / "load"
    folder.mkdir()
    (folder / "manifest.csv").write_text(
        "external_ref,name,category,aliases\nR-1,Good Name,red,\nR-2,Bad\x00Name,red,\n"
        "R-3,Fine,red,ok;al\x1bias\n"
    )
    rows = mf.read_folder(folder, allow_empty=True)
    assert rows[0].error is None
    assert rows[1].error and rows[1].error.startswith("name") and "NUL" in rows[1].error
    assert rows[2].error and rows[2].error.startswith("aliases")
