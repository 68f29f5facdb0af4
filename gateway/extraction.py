"""Where a check's captures become templates: a pool of worker processes sized to the machine.

LEADER (onnxruntime) and NBIS mindtct/NFIQ 2 cost 0.5-0.7 s of CPU per print, and parts of
them hold the GIL, so two prints on two threads of one process took 750-830 ms against
620-660 ms in two processes (measured on the 2-core machine). ``ExtractionPool`` runs
``matchers.face.extract`` / ``matchers.fingerprint.extract`` in ``processes`` spawned workers
(``FIELDCHECK_EXTRACT_PROCESSES``, default: one per core), so a check's fingers and face, and
concurrent checks, use every core; searching stays in the gateway's threads (the cache lives
there). ``processes=0`` keeps extraction on threads of the gateway process (tests, tiny
machines).

Tasks wait in this pool's own queue and are handed to the executor at most one per worker at a
time, so a task the executor holds is one a worker is running: cancelling (a check over its
budget, ``abandon``) only ever removes tasks from our queue, never from the executor's (CPython
3.11's executor breaks, leaving later tasks unfinished, when a worker dies while it holds a
cancelled task), and killing workers for an abandoned task hits only tasks really running.

A worker that dies (a native crash on a hostile image, the OOM killer) breaks the whole
executor: every task on it fails with ``BrokenProcessPool``. The executor is replaced at once
and the tasks it was running are queued again once (first), so a check that merely shared the
pool with the crashing image is still answered; an image that crashes its worker twice is
reported by the caller as a capture that could not be processed.

Workers load the models at start (``warm``), ignore SIGTERM/SIGINT (the gateway stops them)
and exit when the gateway is gone (``gateway.workers.ignore_stop_signals``).
"""

from __future__ import annotations

import contextvars
import functools
import logging
import os
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from concurrent.futures import CancelledError, Executor, Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any

from gateway.workers import ignore_stop_signals, process_pool

log = logging.getLogger(__name__)

EXTRACTORS = {"matchers.face": "face", "matchers.fingerprint": "finger"}  # histogram labels


DEFAULT_MAX_PROCESSES = 8  # ~0.5 GB each: a big machine's default must not take 32 GB


def default_processes() -> int:
    """One worker per core the gateway may use, at most DEFAULT_MAX_PROCESSES."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, DEFAULT_MAX_PROCESSES))


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


@dataclass(eq=False)
class _Task:
    fn: Callable[..., Any]
    args: tuple
    kwargs: dict
    future: Future  # what the caller holds; it stays pending until the task is settled
    retried: bool = False
    abandoned: bool = False
    executor: Executor | None = None  # the executor running it, while it runs


class ExtractionStartError(RuntimeError):
    """The extraction workers could not start (their own error is on the gateway's stderr)."""


class ExtractionPool:
    """``submit(fn, *args, **kwargs) -> Future`` for the matchers' ``extract`` functions (any
    picklable module-level function works), timed into ``histogram`` by modality."""

    def __init__(self, processes: int, *, histogram: Any | None = None) -> None:
        self.processes = processes
        self.histogram = histogram
        self._lock = threading.RLock()
        self._closed = False
        self._queue: deque[_Task] = deque()
        self._running: set[_Task] = set()
        self.slots = processes if processes > 0 else 2
        self._executor: Executor = (
            process_pool(processes, initializer=_worker_start) if processes > 0
            else ThreadPoolExecutor(max_workers=self.slots, thread_name_prefix="extract")
        )
        self.replaced = 0  # executors replaced after a worker died on its own
        self.killed = 0  # executors whose workers were killed for an abandoned task

    @property
    def uses_processes(self) -> bool:
        return self.processes > 0

    def start(self, timeout_s: float = 180.0) -> None:
        """Spawn every worker now and wait until each has loaded its models, so the gateway is
        ready only when extraction is (and the first checks do not pay for it)."""
        if not self.uses_processes:
            return
        with self._lock:
            pending = [self._executor.submit(time.sleep, 0.2) for _ in range(self.processes)]
        try:
            for f in pending:
                f.result(timeout=timeout_s)
        except BrokenProcessPool as exc:
            raise ExtractionStartError(
                "an extraction worker stopped while loading the models (its error is printed "
                "above); check the model files, or set FIELDCHECK_EXTRACT_PROCESSES=0 to extract "
                "in the gateway process") from exc
        except TimeoutError as exc:
            raise ExtractionStartError(
                f"the extraction workers did not load their models within {timeout_s:g} s"
            ) from exc

    def worker_pids(self) -> list[int]:
        """Process ids of the current workers (tests and benchmarks; reads the executor's
        private table of processes, which the standard library has kept since 3.2)."""
        processes = getattr(self._executor, "_processes", None) or {}
        return sorted(processes)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        task = _Task(fn, args, kwargs, future)
        future._fieldcheck_task = task  # type: ignore[attr-defined]  # for abandon()
        with self._lock:
            if self._closed:
                raise RuntimeError("the extraction pool is shut down")
            self._queue.append(task)
            self._pump_locked()
        return future

    def _pump_locked(self) -> None:
        """Hand queued tasks to the executor while it has an idle worker."""
        while self._queue and len(self._running) < self.slots and not self._closed:
            task = self._queue.popleft()
            if task.abandoned or task.future.cancelled():
                continue
            executor = self._executor
            try:
                inner = self._submit_to(executor, task)
            except BrokenProcessPool:
                self._replace_locked(executor, killed=False)
                executor = self._executor
                inner = self._submit_to(executor, task)
            task.executor = executor
            self._running.add(task)
            inner.add_done_callback(functools.partial(self._settle, task))

    def _submit_to(self, executor: Executor, task: _Task) -> Future:
        if not self.uses_processes:
            context = contextvars.copy_context()  # log lines keep the request id
            return executor.submit(context.run, _run_timed, task.fn, task.args, task.kwargs)
        return executor.submit(_run_timed, task.fn, task.args, task.kwargs)

    def _replace_locked(self, broken: Executor, *, killed: bool) -> None:
        if broken is not self._executor or self._closed:
            return  # already replaced (several tasks fail together)
        if killed:
            self.killed += 1
        else:
            self.replaced += 1
            log.error("an extraction worker died; starting %d new workers", self.processes)
        self._executor = process_pool(self.processes, initializer=_worker_start)
        try:
            broken.shutdown(wait=False, cancel_futures=True)
        except Exception:  # noqa: BLE001 - the broken executor is beyond use anyway
            pass

    def abandon(self, futures: list[Future]) -> None:
        """Give up on these tasks (a check over its extraction budget): queued ones are
        dropped; if one is running in a worker, the workers are killed so a hostile image stops
        costing CPU, and the other tasks they were running are queued again, first. On threads,
        running work cannot be stopped and finishes in the background."""
        kill: Executor | None = None
        with self._lock:
            for future in futures:
                task: _Task | None = getattr(future, "_fieldcheck_task", None)
                if task is None or future.done():
                    continue
                task.abandoned = True
                if task in self._running and self.uses_processes:
                    kill = task.executor
        for future in futures:
            future.cancel()  # pending until settled, so this always succeeds if not done
        if kill is not None:
            with self._lock:
                if kill is not self._executor:
                    return  # its workers are gone already
                # the processes first: shutting the executor down forgets them
                processes = list((getattr(kill, "_processes", None) or {}).values())
                log.warning("extraction over budget: stopping %d extraction workers",
                            len(processes))
                self._replace_locked(kill, killed=True)
            for process in processes:
                process.kill()

    def _settle(self, task: _Task, done: Future) -> None:
        error: BaseException | None
        try:
            error = done.exception()
        except CancelledError as exc:  # the executor was shut down with our task on it
            error = exc
        requeued = False
        with self._lock:
            self._running.discard(task)
            executor, task.executor = task.executor, None
            if isinstance(error, BrokenProcessPool):
                if executor is not None:
                    self._replace_locked(executor, killed=False)
                if not task.retried and not task.abandoned and not self._closed:
                    # Another task may have crashed the worker: run this one once more, first.
                    task.retried = True
                    self._queue.appendleft(task)
                    requeued = True
            self._pump_locked()
        if requeued:
            return
        future = task.future
        if not future.set_running_or_notify_cancel():
            return  # abandoned or cancelled by its caller: nobody reads the result
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

    def run(self, fn: Callable[..., Any], /, *args: Any, budget_s: float, **kwargs: Any) -> Any:
        """``submit(...).result()`` for one capture outside a check (enrolment): over
        ``budget_s`` the task is abandoned and UnusableCapture("extraction_budget") raised; a
        capture that stops its worker twice is UnusableCapture("unreadable_image"); a pool
        shut down meanwhile is ``Unavailable`` (503, send again)."""
        from gateway.errors import Unavailable
        from matchers.errors import UnusableCapture

        future = self.submit(fn, *args, **kwargs)
        try:
            return future.result(timeout=budget_s)
        except TimeoutError:
            self.abandon([future])
            raise UnusableCapture(
                "extraction_budget",
                f"extracting the image took longer than the budget of {budget_s:g} s "
                "(FIELDCHECK_EXTRACT_BUDGET_S); send an ordinary photo or print",
            ) from None
        except BrokenProcessPool:
            raise UnusableCapture(
                "unreadable_image",
                "the image stopped the extraction worker twice; send another file",
            ) from None
        except CancelledError:
            raise Unavailable("the gateway is stopping; the image was not processed",
                              fix="send it again in a moment", retry_after_s=5) from None

    def shutdown(self, wait: bool = False) -> None:
        with self._lock:
            self._closed = True
            dropped = list(self._queue)
            self._queue.clear()
            executor = self._executor
        for task in dropped:
            task.future.cancel()
        executor.shutdown(wait=wait, cancel_futures=True)
