"""Rate-limit counters in this process's memory, without a thread per request.

The `limits` library's memory storage forgets expired windows in a timer thread that it
starts anew, 10 ms after the last one ended, whenever a request is counted: a busy server
starts a thread for nearly every API call (the largest single cost of a request's own
handling, measured with bench.http). This storage forgets them in the request that
counts, at most once a second. Nothing else changes: every count still sees only live
windows (an expired window is dropped when it is read), so the limits hold exactly as
before; `memory://` in IPHS_RATELIMIT_STORAGE means this storage.
"""

from __future__ import annotations

import threading
import time

from limits.storage import MemoryStorage

SCHEME = "iphs-memory"
SWEEP_SECONDS = 1.0


class SweptMemoryStorage(MemoryStorage):
    """MemoryStorage whose expired windows are swept by the counting request, not a timer thread."""

    STORAGE_SCHEME = [SCHEME]

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: str) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self._next_sweep = 0.0
        self._sweeping = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # noqa: N802 - replaces MemoryStorage's private timer start
        moment = time.monotonic()
        if moment < self._next_sweep or not self._sweeping.acquire(blocking=False):
            return
        try:
            self._next_sweep = moment + SWEEP_SECONDS
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]
        except KeyError:
            # Another request dropped an expired window while the sweep looked at it (the
            # library's own timer thread has the same race): nothing is lost, the next sweep goes on.
            self._next_sweep = moment
        finally:
            self._sweeping.release()


def storage_uri(configured: str) -> str:
    """The limiter's storage for IPHS_RATELIMIT_STORAGE: Redis and the rest as given, memory as above."""
    scheme, separator, rest = configured.partition("://")
    return f"{SCHEME}://{rest}" if scheme == "memory" and separator else configured
