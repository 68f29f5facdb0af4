"""Fixtures of the matcher tests: real shared data when present (skip cleanly when absent)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def shared_data_dir() -> Path:
    env = os.environ.get("FIELDCHECK_SHARED_DATA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    root = shared_data_dir()
    if not root.exists():
        pytest.skip(f"shared biometric data not found at {root}")
    return root


@pytest.fixture(scope="session")
def fvc_db1(shared_data: Path) -> dict:
    """Templates of FVC2002 DB1 B (80 prints, ~10 s to extract)."""
    from matchers.evaluation import load_fvc

    folder = shared_data / "fingerprints" / "fvc2002_db1_b"
    if not folder.exists():
        pytest.skip("fvc2002_db1_b not in the shared data")
    return load_fvc(folder)
