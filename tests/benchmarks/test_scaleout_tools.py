"""The scale-out benchmark's own tools: the hard-linked cache copies and the memory sampler."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

import scaleout_pg  # noqa: E402


def test_each_gateway_gets_hard_links_to_one_saved_cache(tmp_path: Path) -> None:
    saved = tmp_path / "index"
    (saved / "fingers").mkdir(parents=True)
    (saved / "meta.json").write_text("{}")
    (saved / "fingers" / "bits.npy").write_bytes(b"\x00" * 64)
    for name in ("a", "b"):
        scaleout_pg._link_tree(saved, tmp_path / name / "index")
    a, b = (tmp_path / n / "index" / "fingers" / "bits.npy" for n in ("a", "b"))
    # One inode: the three gateways' memory maps share one copy in the page cache.
    assert a.stat().st_ino == b.stat().st_ino == (saved / "fingers" / "bits.npy").stat().st_ino
    assert (tmp_path / "b" / "index" / "meta.json").read_text() == "{}"


def test_memory_sampler_sums_the_whole_process_group() -> None:
    # A parent that starts a child holding ~60 MB: the tree's RSS must include the child.
    code = ("import subprocess, sys, time; "
            "subprocess.Popen([sys.executable, '-c', "
            "'b = bytes(range(256)) * (60 * 4096); import time; time.sleep(30)']); time.sleep(30)")
    proc = subprocess.Popen([sys.executable, "-c", code], start_new_session=True)
    try:
        fake = SimpleNamespace(pgid=proc.pid)
        sampler = scaleout_pg.MemorySampler({"x": fake})  # type: ignore[dict-item]
        for _ in range(50):
            sampler.sample()
            if len(scaleout_pg._tree(proc.pid)) == 2 and sampler.peak["x"]["rss_mb"] > 60:
                break
            subprocess.run(["sleep", "0.1"], check=True)
        assert len(scaleout_pg._tree(proc.pid)) == 2
        assert sampler.peak["x"]["rss_mb"] > 60
        assert 0 < sampler.peak["x"]["pss_mb"] <= sampler.peak["x"]["rss_mb"]
        assert scaleout_pg.tree_cpu_s(proc.pid) >= 0.0
    finally:
        import os
        import signal

        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_the_benchmark_does_not_hand_the_tests_settings_to_its_gateways() -> None:
    # tests/conftest.py makes test gateways extract on threads (FIELDCHECK_EXTRACT_PROCESSES=0);
    # the benchmark's gateways inherit its environment, so importing conftest there measured
    # gateways without their extraction worker processes.
    import os

    env = {k: v for k, v in os.environ.items() if k != "FIELDCHECK_EXTRACT_PROCESSES"}
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run(
        [sys.executable, "-c", "import os, sys; sys.path.insert(0, 'benchmarks'); "
         "import scaleout_pg; print(os.environ.get('FIELDCHECK_EXTRACT_PROCESSES'))"],
        cwd=root, env=env, capture_output=True, text=True, check=True,
    )
    assert out.stdout.strip() == "None"
