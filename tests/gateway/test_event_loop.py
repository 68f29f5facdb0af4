"""The event loop is never blocked: no route does database or CPU work on it (issue #20).

A gateway runs on loopback, and a watchdog thread samples the event loop: a coroutine on the
loop beats every 10 ms, and whenever the beat is more than LOOP_BLOCK_LIMIT_S late the
watchdog records the loop thread's stack. The test fails when the loop was late while inside
blocking work: the database driver, the ORM, a matcher, a device adapter's parser, a lock or a
future being waited on. To make a blocking route show up for sure, a thread of the test keeps
the database's write turn for half a second at a time (as a delivery worker or the central
feed would), so a route waiting for the database on the loop freezes it for that long; every
route that takes a capture, an upload or a long poll is exercised meanwhile.

Why the stack and not only the lateness (asyncio's slow-callback warning): on a loaded machine
the loop is also late when it merely waits for the CPU or the GIL while worker threads run,
with its stack in asyncio or uvicorn. That is scheduling, not a route blocking the loop, and it
would make a wall-clock-only guard fail at random. The lateness distribution is printed.

The face matcher is the one part swapped here: each photo's real template is extracted once
before the watch, and the routes get it back instead of extracting again. A matcher that holds
the GIL (dlib does, ~0.5 s a face) stalls every thread including the loop; that is the
matcher's property, not a route's, and ``test_face_extraction_lets_the_event_loop_run``
measures it separately.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from gateway import db
from matchers import face as face_matcher
from tests.conftest import LiveGateway
from tests.watchlist.helpers import network_settings

# The bound: a loop step longer than this is a blocked loop.
LOOP_BLOCK_LIMIT_S = 0.1
HOLD_S = 0.5  # how long the test's writer keeps the write turn each time
# Code that blocks when it runs on the loop: the innermost frames of a late loop in any of
# these mean a route did blocking work there.
BLOCKING_CODE = ("/sqlalchemy/", "/sqlmodel/", "/sqlite3/", "/psycopg/", "/matchers/",
                 "/device_adapters/", "/gateway/db.py", "/PIL/", "/numpy/", "/cv2/")
# Waiting in the standard library: only these functions, as the innermost frame (anyio hands
# work to its threads through queue.put and Condition.notify, which never wait).
BLOCKING_WAITS = {"wait", "join", "result", "acquire", "_wait_for_tstate_lock", "sleep"}


def _blocking(stack: traceback.StackSummary) -> bool:
    innermost = stack[-1]
    if innermost.name in BLOCKING_WAITS and innermost.filename.endswith(
        ("/threading.py", "/queue.py", "/concurrent/futures/_base.py")
    ):
        return True
    return any(marker in f.filename for f in stack[-3:] for marker in BLOCKING_CODE)


class LoopWatchdog:
    """Heartbeat on the loop + a sampling thread: how late the loop was, and where."""

    def __init__(self, loop: asyncio.AbstractEventLoop, loop_thread: int) -> None:
        self.loop, self.loop_thread = loop, loop_thread
        self.beat = time.monotonic()
        self.late: list[float] = []  # lateness of each beat
        self.blocked: list[str] = []  # late while in blocking code: the stacks
        self.stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    async def _heartbeat(self) -> None:
        while not self.stop.is_set():
            started = time.monotonic()
            self.beat = started
            await asyncio.sleep(0.01)
            self.late.append(time.monotonic() - started - 0.01)

    def _sample(self) -> None:
        while not self.stop.wait(0.01):
            late = time.monotonic() - self.beat
            if late <= LOOP_BLOCK_LIMIT_S:
                continue
            frame = sys._current_frames().get(self.loop_thread)
            if frame is None:
                continue
            stack = traceback.extract_stack(frame)
            if _blocking(stack):
                where = "".join(traceback.format_list(stack[-10:]))
                self.blocked.append(f"loop {late:.2f} s late, inside:\n{where}")

    def __enter__(self) -> LoopWatchdog:
        asyncio.run_coroutine_threadsafe(self._heartbeat(), self.loop)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self._thread.join(5)

    def distribution(self) -> str:
        late = sorted(self.late) or [0.0]
        pick = {q: late[min(len(late) - 1, int(q * len(late)))] for q in (0.5, 0.99)}
        return (f"{len(late)} beats, lateness p50 {pick[0.5] * 1000:.0f} ms, "
                f"p99 {pick[0.99] * 1000:.0f} ms, max {late[-1] * 1000:.0f} ms")


class WatchedGateway(LiveGateway):
    """A LiveGateway whose event loop (and its thread) the test can reach."""

    def __init__(self, data_dir: Path, **overrides: object) -> None:
        super().__init__(data_dir, **overrides)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.loop_thread = 0

        async def serve() -> None:
            self.loop = asyncio.get_running_loop()
            self.loop_thread = threading.get_ident()
            await self.server.serve()

        self.thread = threading.Thread(target=lambda: asyncio.run(serve()), daemon=True)

    def watchdog(self) -> LoopWatchdog:
        assert self.loop is not None
        return LoopWatchdog(self.loop, self.loop_thread)


@pytest.fixture()
def watched(tmp_path: Path) -> Iterator[WatchedGateway]:
    with WatchedGateway(tmp_path / "gw", **network_settings("loop")) as gw:
        yield gw


def _hold_write_turn(url: str, stop: threading.Event, held: list[int]) -> None:
    """Keep taking the database's write turn for HOLD_S, like a slow writer would."""
    engine = db.make_engine(url)
    try:
        while not stop.is_set():
            with engine.begin() as conn:
                conn.execute(text("UPDATE deployment_setting SET value = value"))
                held[0] += 1
                stop.wait(HOLD_S)
            time.sleep(0.05)
    finally:
        engine.dispose()


def _loop_lag_during(work: Any) -> float:
    """The worst delay a 5 ms timer on a running event loop saw while ``work`` ran in a
    thread (what /healthz would wait on top of its own time)."""

    async def measure() -> float:
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(None, work)
        worst = 0.0
        while not job.done():
            started = loop.time()
            await asyncio.sleep(0.005)
            worst = max(worst, loop.time() - started - 0.005)
        await job
        return worst

    # A thread of its own: another test's session-scoped Playwright (sync API) keeps an event
    # loop running on the main thread for the rest of the session, where asyncio.run refuses.
    result: list[float] = []
    runner = threading.Thread(target=lambda: result.append(asyncio.run(measure())))
    runner.start()
    runner.join()
    if not result:
        raise RuntimeError("the loop-lag measurement did not finish")
    return result[0]


@pytest.mark.xfail(
    not hasattr(face_matcher, "MODEL_ID"),
    reason="dlib's face detector and encoder hold the GIL for ~0.5 s a face; the OpenCV "
    "YuNet/SFace matcher that replaces it releases the GIL", strict=True,
)
def test_face_extraction_lets_the_event_loop_run(shared_data: Path) -> None:
    photo = sorted((shared_data / "faces" / "lfw").glob("*/*_0001.jpg"))[0].read_bytes()
    face_matcher.extract(photo)  # models loaded outside the measurement
    lag = max(_loop_lag_during(lambda: face_matcher.extract(photo)) for _ in range(3))
    assert lag < LOOP_BLOCK_LIMIT_S, f"a face extraction stalled the event loop {lag:.2f} s"


def test_no_route_blocks_the_event_loop_while_the_database_is_busy(
    watched: WatchedGateway, shared_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = sorted((shared_data / "faces" / "lfw").glob("*/*_0001.jpg"))[:6]
    templates = {p.read_bytes(): face_matcher.extract(p.read_bytes()) for p in photos}
    monkeypatch.setattr(face_matcher, "extract", lambda image, **_kw: templates[bytes(image)])
    prints = sorted((shared_data / "fingerprints" / "fvc2002_db1_b").glob("*_1.tif"))[:4]
    device = watched.token("device", "SEEK-LOOP")
    with watched.client() as admin:
        sids = [admin.post("/v1/subjects", json={"name": f"Loop {i}", "category": "red"})
                .json()["id"] for i in range(4)]
        with watched.client(device) as dev:
            first = dev.post("/v1/checks", data={"purpose": "patrol"},
                             files={"finger_2": ("p.tif", prints[0].read_bytes())})
            assert first.status_code == 200, first.text
        check_id = first.json()["check_id"]

    calls: list[tuple[str, Any]] = [
        ("face enrol", lambda c, d: c.post(f"/v1/subjects/{sids[0]}/faces",
                                           files={"image": ("f.jpg", photos[1].read_bytes())})),
        ("face enrol 2", lambda c, d: c.post(f"/v1/subjects/{sids[1]}/faces",
                                             files={"image": ("f.jpg", photos[2].read_bytes())})),
        ("finger enrol", lambda c, d: c.post(
            f"/v1/subjects/{sids[2]}/fingerprints", data={"position": "2"},
            files={"image": ("p.tif", prints[1].read_bytes())})),
        ("check", lambda c, d: d.post("/v1/checks", data={"purpose": "patrol"}, files={
            "finger_2": ("p.tif", prints[2].read_bytes()),
            "face": ("f.jpg", photos[3].read_bytes())})),
        ("adapter check", lambda c, d: d.post(
            "/v1/adapters/multipart/checks", params={"purpose": "patrol"},
            files={"finger_7": ("p.tif", prints[3].read_bytes())})),
        ("bulk import", lambda c, d: c.post("/v1/subjects:batch", json={"subjects": [{
            "external_ref": "LOOP-IMP-1", "name": "Imported", "category": "yellow",
            "faces": [base64.b64encode(photos[4].read_bytes()).decode()]}]})),
        ("snapshot import", lambda c, d: c.post("/v1/watchlist/import", content=b"not a snap")),
        ("long poll", lambda c, d: d.get(f"/v1/checks/{check_id}/upstream",
                                         params={"wait": 1})),
        ("subject update", lambda c, d: c.patch(f"/v1/subjects/{sids[3]}",
                                                json={"notes": "moved"})),
    ]
    stop = threading.Event()
    held = [0]
    holder = threading.Thread(target=_hold_write_turn,
                              args=(watched.settings.effective_database_url, stop, held))
    health: list[float] = []

    def probe() -> None:
        with httpx.Client(base_url=watched.url, timeout=30) as c:
            while not stop.is_set():
                started = time.perf_counter()
                assert c.get("/healthz").status_code == 200
                health.append(time.perf_counter() - started)
                time.sleep(0.05)

    prober = threading.Thread(target=probe)
    with watched.watchdog() as watchdog:
        holder.start()
        prober.start()
        try:
            with (watched.client() as admin, watched.client(device) as dev,
                  ThreadPoolExecutor(max_workers=len(calls)) as pool):
                answers = list(pool.map(lambda call: (call[0], call[1](admin, dev)), calls * 2))
        finally:
            stop.set()
            holder.join(10)
            prober.join(10)
    print(f"\nevent loop: {watchdog.distribution()}; /healthz max {max(health):.2f} s")
    assert held[0] >= 2, "the test's writer never held the write turn"
    for name, r in answers:
        # The snapshot is garbage on purpose (422): it still verifies and audits off the loop.
        assert r.status_code < 500, (name, r.status_code, r.text)
    assert not watchdog.blocked, "the event loop was blocked:\n" + "\n".join(
        watchdog.blocked[:5])
