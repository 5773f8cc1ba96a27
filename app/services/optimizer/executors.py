"""Where slices are evaluated: in a helper thread, a local process pool (default) or on a Dask cluster.

An executor takes the runner's slice tasks and yields their results as they
finish; it never touches the database (the runner alone writes, under its
lease). It calls ``tick`` at least every ``TICK_SECONDS`` while it waits and
after every result: the runner heartbeats its lease there, and a ``tick``
that returns True asks the executor to stop: slices not started are
cancelled, the ones already computing still come back (and are stored), then
the iteration ends. The choice is configuration (``OPTIMIZER_EXECUTOR``):

- ``local``: ``concurrent.futures`` process pool on this machine (fork: the
  workers share the already compiled strategies and engine at no cost); one
  worker or one task runs in a helper thread of the runner's process, so the
  heartbeat keeps beating during a long slice;
- ``dask``: Dask distributed at ``DASK_SCHEDULER_ADDRESS`` (``dask scheduler``
  plus ``dask worker ADDRESS`` on each machine), or, without an address, a
  ``LocalCluster`` of ``workers`` single-threaded processes. Tasks carry their
  candles as arrays (a pickled DataFrame). A task whose worker dies is
  rescheduled by Dask (up to ``distributed.scheduler.allowed-failures``
  times); one that still fails comes back as a failed slice, which the job
  records and retries on resume: never lost.
"""

from __future__ import annotations

import logging
import signal
import uuid
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, ThreadPoolExecutor, wait
from multiprocessing import get_all_start_methods, get_context
from typing import Protocol

from threadpoolctl import threadpool_limits

from app.evaluation.slice_eval import SliceResult, SliceTask, candles_fingerprint, evaluate_slice
from config import ConfigError

log = logging.getLogger(__name__)

EXECUTORS = ("local", "dask")
TICK_SECONDS = 1.0
Evaluate = Callable[[SliceTask], SliceResult]
Tick = Callable[[], bool]  # heartbeat; returns True when the executor should stop


class SliceExecutor(Protocol):
    """Evaluates slice tasks somewhere and yields their results in completion order."""

    def run(self, tasks: Collection[SliceTask], *, tick: Tick) -> Iterator[SliceResult]: ...


def _ignore_interrupts() -> None:
    """Pool workers leave Ctrl-C and SIGTERM to the runner's process, which stops them in order.

    (They end with the pool; if the runner's process is killed outright, their queue breaks and they exit.)
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


def _start_worker() -> None:
    """A pool worker's start: interrupts left to the runner, one BLAS thread (``single_threaded_blas``)."""
    _ignore_interrupts()
    single_threaded_blas()


def single_threaded_blas() -> bool:
    """Give this process's BLAS libraries one thread (``threadpoolctl``); False when none is loaded.

    The pool already runs one worker per core, and a worker's BLAS threads
    (the effective trials' covariance product, ``condensed_distance``) only
    spin against the other workers: with two workers on two cores they cost
    about a quarter of the selection statistics' CPU. OpenBLAS splits a
    product's rows and columns among its threads, not the sums inside one
    entry, so one thread gives the same bits (checked on the sweep's 60
    slices: identical products with 1 and 2 threads).
    """
    limited = threadpool_limits(limits=1, user_api="blas")
    return bool(limited.get_original_num_threads().get("blas"))


class LocalExecutor:
    """A process pool on this machine (a helper thread for one worker or one task)."""

    def __init__(self, *, workers: int, evaluate: Evaluate = evaluate_slice):
        self.workers = workers
        self.evaluate = evaluate

    def run(self, tasks: Collection[SliceTask], *, tick: Tick) -> Iterator[SliceResult]:
        if self.workers <= 1 or len(tasks) <= 1:
            yield from self._run_in_thread(tasks, tick=tick)
            return
        # Workers never touch the database (they only compute), so inherited connections stay unused.
        context = get_context("fork" if "fork" in get_all_start_methods() else "spawn")
        workers = min(self.workers, len(tasks))
        with ProcessPoolExecutor(max_workers=workers, mp_context=context, initializer=_start_worker) as pool:
            # Submitted as workers free up (one spare each round keeps them busy): a stop leaves the rest unsent.
            queued = iter(tasks)
            in_flight: set = set()
            stopping = False
            while True:
                while not stopping and len(in_flight) <= workers and (task := next(queued, None)) is not None:
                    in_flight.add(pool.submit(self.evaluate, task))
                if not in_flight:
                    return
                finished, in_flight = wait(in_flight, timeout=TICK_SECONDS, return_when=FIRST_COMPLETED)
                for future in finished:
                    yield future.result()
                stopping = stopping or tick()

    def _run_in_thread(self, tasks: Collection[SliceTask], *, tick: Tick) -> Iterator[SliceResult]:
        """One slice at a time in a helper thread, so ``tick`` (the lease's heartbeat) keeps its interval
        however long a slice computes; a stop asked meanwhile takes effect after that slice."""
        with ThreadPoolExecutor(max_workers=1) as thread:
            for task in tasks:
                if tick():
                    return
                future = thread.submit(self.evaluate, task)
                while not wait([future], timeout=TICK_SECONDS).done:
                    tick()
                yield future.result()


class DaskExecutor:
    """Dask distributed: a running scheduler at ``address``, or a LocalCluster of ``workers`` processes."""

    def __init__(self, *, address: str | None, workers: int, evaluate: Evaluate = evaluate_slice):
        self.address = address or None
        self.workers = workers
        self.evaluate = evaluate

    def run(self, tasks: Collection[SliceTask], *, tick: Tick) -> Iterator[SliceResult]:
        from distributed import Client, LocalCluster  # optional at import time: only this executor needs it

        if not tasks:
            return
        if self.address:
            with Client(self.address) as client:
                yield from self._run_on(client, tasks, tick)
            return
        cluster = LocalCluster(
            n_workers=min(self.workers, len(tasks)), threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        with cluster, Client(cluster) as client:
            yield from self._run_on(client, tasks, tick)

    def _run_on(self, client, tasks: Collection[SliceTask], tick: Tick) -> Iterator[SliceResult]:
        from distributed import wait as dask_wait

        # pure=False: every task runs (no result reuse across jobs); the key names the slice in Dask's dashboard.
        futures = {
            client.submit(self.evaluate, task, pure=False, key=f"slice-{'|'.join(task.key)}-{uuid.uuid4().hex}"): task
            for task in tasks
        }
        pending = set(futures)
        try:
            while pending:
                try:
                    done = dask_wait(pending, timeout=TICK_SECONDS, return_when="FIRST_COMPLETED").done
                except TimeoutError:
                    done = set()
                pending -= done
                for future in done:
                    yield _result_of(future, futures[future])
                if pending and tick():
                    return  # the finally below cancels the rest: the job's next run evaluates them
        finally:
            if pending:
                client.cancel(list(pending))


def _result_of(future, task: SliceTask) -> SliceResult:
    """The slice's result, or a failed slice when Dask gave up on it (e.g. its workers kept dying)."""
    try:
        return future.result()
    except Exception as exc:  # noqa: BLE001 - recorded on the slice; the job retries it on resume
        log.error("slice %s failed on the Dask cluster: %s: %s", "|".join(task.key), type(exc).__name__, exc)
        return SliceResult(
            key=task.key,
            fingerprint=candles_fingerprint(task.candles),
            error=f"{type(exc).__name__} on the Dask cluster: {exc}",
        )


def make_executor(*, kind: str, workers: int, address: str | None = None) -> SliceExecutor:
    """Return the executor configured by ``OPTIMIZER_EXECUTOR`` (``kind``); ConfigError for an unknown one."""
    if kind == "local":
        return LocalExecutor(workers=workers)
    if kind == "dask":
        return DaskExecutor(address=address, workers=workers)
    raise ConfigError(f"unknown OPTIMIZER_EXECUTOR {kind!r} (known: {', '.join(EXECUTORS)})")
