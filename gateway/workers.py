"""Worker processes shared by the check path (``gateway.extraction``) and bulk import
(``gateway.watchlist.importer``): spawned, deaf to stop signals, gone with their parent."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

PARENT_CHECK_S = 1.0


def ignore_stop_signals() -> None:
    """Workers leave stopping to their parent: a SIGTERM/SIGINT sent to the whole process group
    (systemd, a terminal's Ctrl-C) must not kill them mid-record, which would break the pool
    and look like a crash; the parent ends its work and shuts them down.

    Ignoring the signals means a worker must notice by itself when its parent is gone (killed,
    or exited before shutting the pool down): a worker waiting for work never sees the queue
    close, because it holds both ends of it. A watcher thread exits the process then."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    parent = os.getppid()

    def watch_parent() -> None:
        while True:
            time.sleep(PARENT_CHECK_S)
            if os.getppid() != parent:
                os._exit(0)  # orphaned: nobody will collect a result

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()


def process_pool(
    workers: int, initializer: Callable[[], None] = ignore_stop_signals
) -> ProcessPoolExecutor:
    """``workers`` spawned processes ("spawn": no gateway thread, lock or connection is
    forked). ``initializer`` must call ``ignore_stop_signals`` first."""
    return ProcessPoolExecutor(
        max_workers=max(1, workers), mp_context=multiprocessing.get_context("spawn"),
        initializer=initializer,
    )
