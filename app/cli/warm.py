"""``flask warm``: compile every numba kernel into numba's on-disk cache (``./dev.sh`` runs it after installing)."""

from __future__ import annotations

import click

from app.evaluation.warmup import warm_kernels


@click.command("warm")
def warm_command() -> None:
    """Run every kernel once on tiny inputs so later processes load it from the cache instead of compiling it."""
    click.echo(warm_kernels().summary)
