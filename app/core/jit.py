"""``njit`` for the app's kernels: numba's, with its on-disk cache, and a fallback when there is nowhere to write it.

Every kernel is declared ``@njit(cache=True)``: a process then loads what an
earlier one compiled (``flask warm`` fills the cache at setup) instead of
compiling it. Numba refuses such a declaration outright, at import, when
none of its cache locations is writable (``NUMBA_CACHE_DIR``, the
``__pycache__`` beside the module, the user's cache folder): a read-only
install would not even import. Here such a kernel is compiled in memory on
first use instead (as without ``cache``), with one warning per process.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numba

_warned = False


def njit(function: Callable | None = None, **options: Any) -> Any:
    """``numba.njit(**options)``; with ``cache=True`` and no writable cache location, ``cache=False`` instead."""

    def decorate(fn: Callable) -> Any:
        try:
            return numba.njit(**options)(fn)
        except RuntimeError as exc:
            if not options.get("cache") or "cannot cache" not in str(exc):
                raise
            _warn_once(exc)
            return numba.njit(**{**options, "cache": False})(fn)

    return decorate(function) if function is not None else decorate


def _warn_once(exc: RuntimeError) -> None:
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(
            f"numba has no writable cache location ({exc}); kernels compile in memory on first use "
            "(set NUMBA_CACHE_DIR to a writable folder and run `flask warm`)",
            RuntimeWarning,
            stacklevel=3,
        )


def prepare_compiler() -> None:
    """Build numba's typing and target contexts now, before any kernel is loaded.

    The first kernel a process loads, even from the on-disk cache, first imports
    and registers numba's whole typing and lowering library (about 0.2 s, more
    than loading every kernel a job uses). An entry point calls this at start-up
    so that cost lands there, once, and not inside the first job it runs.
    """
    from numba.core.registry import cpu_target

    cpu_target.typing_context.refresh()
    cpu_target.target_context.refresh()
