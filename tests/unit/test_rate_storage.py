"""Rate-limit counters in memory (http/rate_storage.py): swept by the counting request, exact as before."""

from __future__ import annotations

import time

from iphs_flow.http import rate_storage
from iphs_flow.http.rate_storage import SweptMemoryStorage, storage_uri


def test_memory_storage_in_the_settings_means_the_swept_storage_and_redis_stays_redis() -> None:
    assert storage_uri("memory://") == "iphs-memory://"
    assert storage_uri("redis://redis.example:6379/0") == "redis://redis.example:6379/0"


def test_a_window_that_has_ended_no_longer_counts_and_is_forgotten_by_a_later_count(monkeypatch) -> None:
    monkeypatch.setattr(rate_storage, "SWEEP_SECONDS", 0.0)
    storage = SweptMemoryStorage("iphs-memory://")
    storage.timer.join()  # the one sweep the library's constructor schedules is over before counting starts
    assert storage.incr("ended", expiry=0.01) == 1
    assert storage.incr("ended", expiry=0.01) == 2
    time.sleep(0.03)
    assert storage.incr("live", expiry=60) == 1
    assert "ended" not in storage.storage and "ended" not in storage.expirations
    assert storage.get("ended") == 0 and storage.get("live") == 1


def test_a_window_still_open_keeps_its_count_across_sweeps(monkeypatch) -> None:
    monkeypatch.setattr(rate_storage, "SWEEP_SECONDS", 0.0)
    storage = SweptMemoryStorage("iphs-memory://")
    storage.timer.join()  # the one sweep the library's constructor schedules is over before counting starts
    for expected in range(1, 6):
        assert storage.incr("anna", expiry=60) == expected
    assert storage.get("anna") == 5


def test_a_window_dropped_by_another_request_during_a_sweep_does_not_fail_the_count(monkeypatch) -> None:
    monkeypatch.setattr(rate_storage, "SWEEP_SECONDS", 0.0)
    storage = SweptMemoryStorage("iphs-memory://")
    storage.timer.join()  # the one sweep the library's constructor schedules is over before counting starts
    storage.incr("ended", expiry=0.01)
    time.sleep(0.03)

    class DroppedWhileLooking(dict):
        """The expirations as a concurrent get() leaves them: the key listed, then gone."""

        def __getitem__(self, key):
            raise KeyError(key)

    storage.expirations = DroppedWhileLooking(storage.expirations)
    assert storage.incr("anna", expiry=60) == 1
