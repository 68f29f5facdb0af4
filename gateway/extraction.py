"""Where a check's captures become templates: a pool of worker processes sized to the machine.

LEADER (onnxruntime) and NBIS mindtct/NFIQ 2 cost 0.5-0.7 s of CPU per print, and parts of
them hold the GIL, so two prints on two threads of one process took 750-830 ms against
620-660 ms in two processes (measured on the 2-core machine). ``ExtractionPool`` runs
``matchers.face.extract`` / ``matchers.fingerprint.extract`` in ``processes`` spawned workers
(``FIELDCHECK_EXTRACT_PROCESSES``, default: one per core), so a check's fingers and face, and
concurrent checks, use every core; searching stays in the gateway's threads (the cache lives
there). ``processes=0`` keeps extraction on threads of the gateway process (tests, tiny
machines).

A worker that dies (a native crash on a hostile image, the OOM killer) breaks the whole
executor: every task on it fails with ``BrokenProcessPool``. The next ``submit`` replaces the
executor, and ``result`` resubmits a task that failed that way once, so a check that merely
shared the pool with the crashing image is still answered; an image that crashes its worker
twice is reported by the caller as a capture that could not be processed.

Workers load the models at start (``warm``), ignore SIGTERM/SIGINT (the gateway stops them)
and exit when the gateway is gone (``gateway.workers.ignore_stop_signals``).
"""

from __future__ import annotations

import logging
import os
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from gateway.workers import ignore_stop_signals, process_pool

log = logging.getLogger(__name__)

EXTRACTORS = {"matchers.face": "face", "matchers.fingerprint": "finger"}  # histogram labels


def default_processes() -> int:
    """One worker per core the gateway may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _worker_start() -> None:
    ignore_stop_signals()
    warm()


def warm() -> None:
    """Load the face models and the LEADER session in this process (a worker's first check must
    not pay for them)."""
    from matchers import face, leader

    face.warm_up()
    leader.session()


def _run_timed(fn: Callable[..., Any], args: tuple, kwargs: dict) -> tuple[float, Any, Any]:
    """Run in the worker: (seconds of work, result, None) or (seconds, the exception, its
    traceback text), so a refused capture is timed like an accepted one."""
    started = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - re-raised in the gateway by _settle
        return time.perf_counter() - started, exc, traceback.format_exc()
    return time.perf_counter() - started, result, None


class RemoteTraceback(Exception):
    """The worker's traceback, chained as the cause of an exception raised there."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass
class _Task:
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    future: Future  # what the caller holds
    retried: bool = False
    abandoned: bool = False
    inner: Future | None = None  # the executor's future of the current attempt


class ExtractionPool:
    """``submit(fn, *args, **kwargs) -> Future`` for the matchers' ``extract`` functions (any
    picklable module-level function works), timed into ``histogram`` by modality."""

    def __init__(self, processes: int, *, histogram: Any | None = None) -> None:
        self.processes = processes
        self.histogram = histogram
        self._lock = threading.Lock()
        self._closed = False
        self._threads: ThreadPoolExecutor | None = None
        self._pool: Any = None
        self.replaced = 0  # executors replaced after a worker died (for /metrics and tests)
        if processes <= 0:
            self._threads = ThreadPoolExecutor(max_workers=2, thread_name_prefix="extract")
        else:
            self._pool = process_pool(processes, initializer=_worker_start)

    @property
    def uses_processes(self) -> bool:
        return self._threads is None

    def start(self) -> None:
        """Spawn every worker now and wait until each has loaded its models, so the gateway is
        ready only when extraction is (and the first checks do not pay for it)."""
        if self._pool is None:
            return
        pending = [self._pool.submit(time.sleep, 0.2) for _ in range(self.processes)]
        for f in pending:
            f.result()

    def worker_pids(self) -> list[int]:
        pool = self._pool
        return sorted(getattr(pool, "_processes", None) or {}) if pool is not None else []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        task = _Task(fn, args, kwargs, future)
        future._fieldcheck_task = task  # type: ignore[attr-defined]  # for abandon()
        self._dispatch(task)
        return future

    def abandon(self, futures: list[Future]) -> None:
        """Give up on these tasks (a check over its extraction budget): queued ones are
        cancelled; if one is already running in a worker, the workers are killed so a hostile
        image stops costing CPU, and the other checks' tasks on them are run again on new
        workers. On threads, running work cannot be stopped and finishes in the background."""
        kill = False
        for future in futures:
            task: _Task | None = getattr(future, "_fieldcheck_task", None)
            if task is None or future.done():
                continue
            task.abandoned = True
            future.cancel()
            inner = task.inner
            if inner is not None and not inner.cancel() and not inner.done():
                kill = True
        if kill and self._pool is not None:
            with self._lock:
                processes = list((getattr(self._pool, "_processes", None) or {}).values())
                log.warning("extraction over budget: stopping %d workers", len(processes))
                for process in processes:
                    process.kill()

    def _dispatch(self, task: _Task) -> None:
        if self._threads is not None:
            import contextvars

            context = contextvars.copy_context()
            inner = self._threads.submit(context.run, _run_timed, task.fn, task.args, task.kwargs)
        else:
            inner = self._submit_process(task)
        task.inner = inner
        inner.add_done_callback(lambda done: self._settle(task, done))
        task.future.add_done_callback(lambda f: inner.cancel() if f.cancelled() else None)

    def _submit_process(self, task: _Task) -> Future:
        with self._lock:
            if self._closed:
                raise RuntimeError("the extraction pool is shut down")
            try:
                return self._pool.submit(_run_timed, task.fn, task.args, task.kwargs)
            except BrokenProcessPool:
                self._replace_locked()
                return self._pool.submit(_run_timed, task.fn, task.args, task.kwargs)

    def _replace_locked(self) -> None:
        broken = self._pool
        log.error("an extraction worker died; starting %d new workers", self.processes)
        self._pool = process_pool(self.processes, initializer=_worker_start)
        self.replaced += 1
        try:
            broken.shutdown(wait=False, cancel_futures=True)
        except Exception:  # noqa: BLE001 - the broken executor is beyond use anyway
            pass

    def _settle(self, task: _Task, done: Future) -> None:
        future = task.future
        if done.cancelled():
            future.cancel()
            return
        error = done.exception()
        if (isinstance(error, BrokenProcessPool) and not task.retried and not task.abandoned
                and not self._closed):
            # Another task may have crashed the worker: run this one once more on new workers.
            task.retried = True
            try:
                self._dispatch(task)
                return
            except Exception as exc:  # noqa: BLE001 - shut down meanwhile: report the error
                error = exc
        if not future.set_running_or_notify_cancel():
            return
        if error is not None:
            future.set_exception(error)
            return
        seconds, result, remote = done.result()
        modality = EXTRACTORS.get(getattr(task.fn, "__module__", ""))
        if self.histogram is not None and modality is not None:
            self.histogram.labels(modality).observe(seconds)
        if remote is None:
            future.set_result(result)
            return
        if self.uses_processes:
            result.__cause__ = RemoteTraceback(remote)
        future.set_exception(result)

    def shutdown(self, wait: bool = False) -> None:
        with self._lock:
            self._closed = True
        if self._threads is not None:
            self._threads.shutdown(wait=wait, cancel_futures=True)
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
