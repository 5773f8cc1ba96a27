"""Progress display for long jobs: a bar in a terminal, plain log lines under cron."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime

from tqdm import tqdm

from app.services.optimizer.runner import ProgressEvent, slice_label


def optimization_progress(*, stream=None) -> Callable[[ProgressEvent], None]:
    """Return a progress callback for ``JobRunner.run``."""
    stream = stream or sys.stdout
    bar: tqdm | None = None
    interactive = stream.isatty()

    def report(event: ProgressEvent) -> None:
        nonlocal bar
        job = event.job
        if event.result is None:
            if interactive:
                bar = tqdm(total=event.total_slices, unit="slice", desc=f"job {job.id}", file=stream)
            else:
                _log(
                    stream,
                    f"job {job.id} '{job.name}': {event.total_slices} slices to run, "
                    f"{job.completed_runs + job.failed_runs}/{job.total_runs} runs already stored",
                )
            return
        result = event.result
        outcome = "FAILED " + result.error.splitlines()[0] if result.error else f"{len(result.metrics)} runs"
        if bar is not None:
            bar.set_postfix_str(f"{slice_label(result.key)} {outcome}", refresh=False)
            bar.update(1)
            if event.done_slices == event.total_slices:
                bar.close()
        else:
            _log(
                stream,
                f"[{event.done_slices}/{event.total_slices}] {slice_label(result.key)}: {outcome} "
                f"in {result.seconds:.2f}s ({job.progress_pct}% of job)",
            )

    return report


def _log(stream, message: str) -> None:
    stream.write(f"{datetime.now(UTC):%Y-%m-%d %H:%M:%S} {message}\n")
    stream.flush()
