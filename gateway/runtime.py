"""The per-process state of a running gateway, built once in ``app.create_app``.

Routes reach it through ``deps.RuntimeDep``; nothing here is per-request.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Engine

from device_adapters.base import AdapterRegistry
from gateway.checks.admission import AdmissionController
from gateway.dbhealth import DatabaseHealth
from gateway.extraction import ExtractionPool
from gateway.keys import SnapshotKeys
from gateway.privacy.crypto import Keyring
from gateway.settings import Settings
from gateway.watchlist.cache import WatchlistCache

if TYPE_CHECKING:  # the central link imports the check models; runtime stays light
    from gateway.observability.metrics import GatewayMetrics
    from gateway.upstream.service import UpstreamService


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    cache: WatchlistCache
    adapters: AdapterRegistry
    # A check's captures are extracted in worker processes (gateway.extraction); its 1:N
    # searches run on these threads of the gateway process, where the cache is.
    extraction: ExtractionPool = field(default_factory=lambda: ExtractionPool(0))
    search_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="search")
    )
    admission: AdmissionController = field(
        default_factory=lambda: AdmissionController(in_flight=1, waiting=4, max_wait_s=2.0)
    )  # create_app builds it from the settings
    keyring: Keyring | None = None  # image encryption (gateway.privacy.crypto)
    upstream: UpstreamService | None = None  # the central link (an UpstreamPort), when set up
    metrics: GatewayMetrics | None = None  # this app's Prometheus metrics
    # Parsed at start (gateway.keys.check_secrets): the signing key and the trusted sources.
    snapshot_keys: SnapshotKeys = field(default_factory=SnapshotKeys)
    db_health: DatabaseHealth = field(default_factory=DatabaseHealth)
    # Bulk import jobs (gateway.watchlist.jobs): set at shutdown so running jobs end
    # "interrupted" between two records; the threads running them, to wait for at shutdown.
    stopping: threading.Event = field(default_factory=threading.Event)
    import_threads: set[threading.Thread] = field(default_factory=set)
    extras: dict[str, Any] = field(default_factory=dict)
