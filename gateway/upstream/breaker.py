"""A circuit breaker: stop calling central after repeated failures, try again after a pause.

    closed --(failures >= threshold)--> open --(reset_s elapsed)--> half_open
    half_open --(trial succeeds)--> closed;  half_open --(trial fails)--> open (pause doubles)

Thread-safe; one breaker is shared by every delivery thread of a process. In ``half_open`` only
one trial call is let through at a time, so a link that just came back is not hit by the whole
backlog at once.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class CircuitBreaker:
    def __init__(
        self, *, failure_threshold: int = 5, reset_s: float = 10.0, max_reset_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.reset_s = reset_s
        self.max_reset_s = max(max_reset_s, reset_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._state = "closed"
        self._failures = 0
        self._opened_at = 0.0
        self._pause = reset_s
        self._trial_in_flight = False
        self.opened_count = 0

    @property
    def state(self) -> str:
        with self._lock:
            return self._current_state()

    def _current_state(self) -> str:
        if self._state == "open" and self._clock() - self._opened_at >= self._pause:
            self._state = "half_open"
            self._trial_in_flight = False
        return self._state

    def allow(self) -> bool:
        """May a call go out now? In half_open, True for one caller until it reports back."""
        with self._lock:
            state = self._current_state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_in_flight:
                self._trial_in_flight = True
                return True
            return False

    def seconds_until_trial(self) -> float:
        with self._lock:
            if self._current_state() != "open":
                return 0.0
            return max(0.0, self._pause - (self._clock() - self._opened_at))

    def record_success(self) -> None:
        with self._lock:
            self._state = "closed"
            self._failures = 0
            self._pause = self.reset_s
            self._trial_in_flight = False

    def record_failure(self) -> None:
        with self._lock:
            state = self._current_state()
            self._failures += 1
            if state == "half_open":
                # The trial failed: the link is still down; wait longer before the next trial.
                self._pause = min(self._pause * 2, self.max_reset_s)
                self._open()
            elif state == "closed" and self._failures >= self.failure_threshold:
                self._open()

    def release(self) -> None:
        """A half-open trial ended without a verdict (e.g. cancelled): let another try."""
        with self._lock:
            self._trial_in_flight = False

    def _open(self) -> None:
        self._state = "open"
        self._opened_at = self._clock()
        self._trial_in_flight = False
        self.opened_count += 1
