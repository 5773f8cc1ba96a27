"""Every kernel goes through app.core.jit with numba's on-disk cache; no cache location is no crash."""

import re
from pathlib import Path

import numpy as np
import pytest

from app.core import jit

APP = Path(__file__).resolve().parents[2] / "app"


def test_every_kernel_is_declared_through_app_core_jit_with_the_on_disk_cache():
    for path in APP.rglob("*.py"):
        text = path.read_text()
        if path.name != "jit.py":
            assert not re.search(r"from numba import .*\bn?jit\b|numba\.n?jit\(", text), path
        for declaration in re.findall(r"^\s*@njit\b(?:\((.*?)\))?", text, flags=re.M):
            assert "cache=True" in declaration, f"{path}: @njit({declaration})"


def test_without_a_writable_cache_location_a_kernel_compiles_in_memory(monkeypatch):
    real = jit.numba.njit

    def no_cache(*function, **options):  # numba's own first compile calls njit(fn) too
        if options.get("cache"):
            raise RuntimeError("cannot cache function 'f': no locator available for file 'f.py'")
        return real(*function, **options)

    monkeypatch.setattr(jit.numba, "njit", no_cache)
    monkeypatch.setattr(jit, "_warned", False)
    with pytest.warns(RuntimeWarning, match="no writable cache location"):

        @jit.njit(cache=True)
        def twice(x):  # pragma: no cover - numba
            return 2 * x

    assert twice(np.int64(4)) == 8


def test_other_errors_are_not_swallowed(monkeypatch):
    def broken(**options):
        raise RuntimeError("something else")

    monkeypatch.setattr(jit.numba, "njit", broken)
    with pytest.raises(RuntimeError, match="something else"):
        jit.njit(cache=True)(lambda x: x)


def test_prepare_compiler_registers_numbas_library_before_any_kernel_loads():
    from numba.core.registry import cpu_target

    jit.prepare_compiler()
    # What the first cached kernel would otherwise register inside a job (numba keeps them per registry).
    assert cpu_target.typing_context._registries and cpu_target.target_context._registries
