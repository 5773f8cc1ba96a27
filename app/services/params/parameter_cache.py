"""The optimal-parameter service's cache: resolved parameter sets per process, with hit/miss/latency stats.

A ``cachetools.TTLCache`` per app (``app.extensions["parameter_cache"]``), so
each test app and each process has its own. Entries live
``PARAMS_CACHE_TTL_SECONDS``; every apply, rollback and preference change
clears the whole cache of the process that made it (changes are rare, and a
cleared cache refills in a few milliseconds). Another process (a web worker
while the cron job applies) sees the change when its entry expires, at most
the TTL later; the scanner runs in a fresh cron process every hour.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
from cachetools import TTLCache
from flask import current_app

# Latency samples kept per kind (hit / miss) for the status report's percentiles.
LATENCY_SAMPLES = 2_000


class ParameterCache:
    """A TTL cache that counts hits, misses and invalidations and samples the latency of each lookup."""

    def __init__(self, *, ttl_seconds: float, maxsize: int):
        self.ttl_seconds = ttl_seconds
        self._cache: TTLCache = TTLCache(maxsize=maxsize, ttl=ttl_seconds)
        self._lock = threading.RLock()
        self.hits = self.misses = self.invalidations = 0
        self._latency = {"hit": deque(maxlen=LATENCY_SAMPLES), "miss": deque(maxlen=LATENCY_SAMPLES)}

    def get_or_compute(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """Return the cached value of ``key``, computing and storing it on a miss; time the lookup."""
        started = time.perf_counter()
        with self._lock:
            value = self._cache.get(key, _MISSING)
        kind = "hit"
        if value is _MISSING:
            kind = "miss"
            value = compute()
            with self._lock:
                self._cache[key] = value
        with self._lock:
            if kind == "hit":
                self.hits += 1
            else:
                self.misses += 1
            self._latency[kind].append(time.perf_counter() - started)
        return value

    def invalidate(self) -> None:
        """Forget every entry (an apply, rollback or preference change happened)."""
        with self._lock:
            self._cache.clear()
            self.invalidations += 1

    def stats(self) -> dict[str, Any]:
        """Hits, misses, hit rate, invalidations, size and latency percentiles (ms) of hits and misses."""
        with self._lock:
            lookups = self.hits + self.misses
            return {
                "ttl_seconds": self.ttl_seconds,
                "entries": len(self._cache),
                "hits": self.hits,
                "misses": self.misses,
                "hit_rate": round(self.hits / lookups, 4) if lookups else None,
                "invalidations": self.invalidations,
                "latency_ms": {kind: _percentiles(samples) for kind, samples in self._latency.items()},
            }


_MISSING = object()


def _percentiles(samples: deque) -> dict[str, float] | None:
    if not samples:
        return None
    values = np.asarray(samples) * 1000.0
    return {"p50": round(float(np.percentile(values, 50)), 4), "p95": round(float(np.percentile(values, 95)), 4)}


def parameter_cache() -> ParameterCache:
    """Return the current app's parameter cache, created on first use from its settings."""
    cache = current_app.extensions.get("parameter_cache")
    if cache is None:
        config = current_app.config
        cache = ParameterCache(ttl_seconds=config["PARAMS_CACHE_TTL_SECONDS"], maxsize=config["PARAMS_CACHE_SIZE"])
        current_app.extensions["parameter_cache"] = cache
    return cache


def invalidate_parameters() -> None:
    """Clear the resolved-parameter cache of this process (after a committed change)."""
    parameter_cache().invalidate()
