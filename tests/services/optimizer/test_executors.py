"""The local executor keeps the runner's heartbeat beating while one long slice computes (one worker)."""

import multiprocessing
import time

import numpy as np
from threadpoolctl import threadpool_info

from app.evaluation.slice_eval import SliceResult
from app.services.optimizer import executors
from app.services.optimizer.executors import LocalExecutor


def _slow(task):
    time.sleep(0.35)
    return SliceResult(key=task, fingerprint="f")


def test_one_worker_ticks_during_a_long_slice_and_a_stop_waits_for_it(monkeypatch):
    monkeypatch.setattr(executors, "TICK_SECONDS", 0.05)
    ticks = []

    def tick():
        ticks.append(time.monotonic())
        return len(ticks) > 3  # asked to stop while the first slice computes

    results = list(LocalExecutor(workers=1, evaluate=_slow).run(["a", "b"], tick=tick))
    assert [r.key for r in results] == ["a"]  # the slice in progress comes back; the next is never started
    assert len(ticks) >= 5  # ticks kept coming while "a" slept, not only between slices


def _product_with_one_blas_thread(matrix):
    limited = executors.single_threaded_blas()
    threads = {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}
    return limited and threads == {1}, np.dot(matrix, matrix.T.copy())


def test_a_workers_single_blas_thread_gives_the_same_products():
    # Pool workers run with one BLAS thread (they are one per core already); a product's bits do not change.
    matrix = np.random.default_rng(0).standard_normal((960, 64))
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        bundled, product = pool.apply(_product_with_one_blas_thread, (matrix,))
    assert bundled  # numpy's bundled OpenBLAS was found and limited
    assert np.array_equal(product, np.dot(matrix, matrix.T.copy()))
