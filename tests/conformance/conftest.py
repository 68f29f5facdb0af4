"""The conformance corpus: FIELDCHECK_CONFORMANCE_DIR, else ../shared/conformance."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


def conformance_dir() -> Path:
    env = os.environ.get("FIELDCHECK_CONFORMANCE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2].parent / "shared" / "conformance"


def corpus_files() -> list[Path]:
    """Every file of the corpus (README and PROVENANCE files are documentation)."""
    root = conformance_dir()
    if not root.is_dir():
        return []
    return sorted(p for p in root.rglob("*") if p.is_file()
                  and p.name not in ("README.md", "PROVENANCE"))


@pytest.fixture(scope="session")
def corpus() -> Path:
    root = conformance_dir()
    if not root.is_dir():
        pytest.skip(f"conformance corpus not found at {root} (set FIELDCHECK_CONFORMANCE_DIR)")
    return root
