"""The central link: a client for the central databases, a durable outbox, a delivery worker.

    gateway.upstream
    ├── settings   UpstreamSettings (FIELDCHECK_UPSTREAM_*): policy, TTL, drain rate, leases...
    ├── client     CentralClient (the contract), HttpCentralClient, FakeCentralClient
    ├── breaker    CircuitBreaker
    ├── models     outbox and local stolen/lost document cache tables
    ├── queue      QueueStorage (the contract), SqlQueueStorage, MemoryQueueStorage
    ├── worker     DeliveryWorker: lease, deliver, reconcile, retry or dead-letter
    ├── service    UpstreamService: what the rest of the gateway calls
    ├── routes     /v1/upstream/*, /v1/checks/{id}/upstream, /v1/checks/{id}/events
    └── stub       the central stub (its own FastAPI app and SQLite)
"""
