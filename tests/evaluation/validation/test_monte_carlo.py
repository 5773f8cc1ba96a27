"""Monte Carlo over a run's trades against a plain-Python reference (app.evaluation.validation.monte_carlo)."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from app.evaluation.validation import (
    monte_carlo_simulation,
)
from tests.evaluation.validation.validation_helpers import (
    json_roundtrip,
)

# --------------------------------------------------------------------------- Monte Carlo

TRADES = [
    {"r_multiple": 2.0, "return_pct": 2.0},
    {"r_multiple": -1.0, "return_pct": -1.0},
    {"r_multiple": -1.0, "return_pct": -1.0},
    {"r_multiple": 1.5, "return_pct": 1.5},
    {"r_multiple": 0.0, "return_pct": 0.0},
    {"r_multiple": -1.0, "return_pct": -1.0},
    {"r_multiple": 3.0, "return_pct": 3.0},
]


def py_path_stats(returns, r_multiples):
    """Return (total return %, max drawdown %, max losing streak, final equity) of one sequence, plainly."""
    equity, peak, mdd, streak, best = 1.0, 1.0, 0.0, 0, 0
    for ret, r in zip(returns, r_multiples, strict=True):
        equity = max(0.0, equity * (1 + ret / 100))
        peak = max(peak, equity)
        mdd = max(mdd, (peak - equity) / peak)
        streak = streak + 1 if r <= 0 else 0
        best = max(best, streak)
    return 100 * (equity - 1), 100 * mdd, best, equity


def py_percentile(values, q):
    """Linear-interpolation percentile (numpy's default), in plain Python."""
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def xoshiro256plus(state):
    """Uniforms in [0, 1) of xoshiro256+ in plain Python (top 53 bits / 2**53); state[0] gets its low bit set."""
    mask = 2**64 - 1
    s0, s1, s2, s3 = state[0] | 1, state[1], state[2], state[3]
    while True:
        result = (s0 + s3) & mask
        t = (s1 << 17) & mask
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = ((s3 << 45) | (s3 >> 19)) & mask
        yield (result >> 11) / 2**53


@pytest.mark.parametrize("method", ["shuffle", "bootstrap"])
def test_monte_carlo_matches_plain_python_reference(method):
    n_sims, seed = 200, 7
    result = monte_carlo_simulation(TRADES, n_sims, 0.9, method=method, seed=seed, drawdown_threshold=2.0)
    # The documented draws: a forward Fisher-Yates shuffle of one carried-over buffer driven by
    # xoshiro256+ seeded from rng for shuffle, rng.integers(0, n, (sims, n)) for bootstrap.
    rng = np.random.default_rng(seed)
    n = len(TRADES)
    if method == "shuffle":
        uniforms = xoshiro256plus([int(x) for x in rng.integers(0, 2**64, size=4, dtype=np.uint64)])
        orders, buffer = [], list(range(n))
        for _ in range(n_sims):
            for i in range(n):
                u = next(uniforms)
                j = min(i + math.floor(u * (n - i)), n - 1)
                buffer[i], buffer[j] = buffer[j], buffer[i]
            orders.append(list(buffer))
        orders = np.array(orders)
    else:
        orders = rng.integers(0, n, size=(n_sims, n))
    stats = [
        py_path_stats([TRADES[i]["return_pct"] for i in row], [TRADES[i]["r_multiple"] for i in row])
        for row in orders.tolist()
    ]
    for k, key in enumerate(["total_return_pct", "max_drawdown_pct", "max_consecutive_losses", "final_equity"]):
        column = [s[k] for s in stats]
        for q in (5, 25, 50, 75, 95):
            assert result[key][f"p{q}"] == pytest.approx(py_percentile(column, q), abs=1e-9), (key, q)
        assert result[key]["ci_low"] == pytest.approx(py_percentile(column, 5), abs=1e-9)
        assert result[key]["ci_high"] == pytest.approx(py_percentile(column, 95), abs=1e-9)
        assert result[key]["mean"] == pytest.approx(sum(column) / n_sims, abs=1e-9)
    assert result["prob_drawdown_exceeds"] == pytest.approx(sum(s[1] > 2.0 for s in stats) / n_sims)
    assert json_roundtrip(result) == result


def test_shuffle_explores_exactly_the_permutations():
    """Independent of the RNG: every simulated drawdown is one some ordering of the trades really produces."""
    trades = [{"r_multiple": r, "return_pct": r} for r in (3.0, -1.0, -2.0, 1.0, -0.5)]
    possible = sorted(
        {
            round(py_path_stats([t["return_pct"] for t in p], [t["r_multiple"] for t in p])[1], 9)
            for p in itertools.permutations(trades)
        }
    )
    assert len(possible) > 3
    result = monte_carlo_simulation(trades, 6000, method="shuffle", seed=3)
    dd = result["max_drawdown_pct"]
    # 120 orderings drawn ~50 times each: every percentile lands on a value some ordering produces.
    for q in (5, 25, 50, 75, 95):
        assert min(abs(dd[f"p{q}"] - v) for v in possible) < 1e-9, q
    assert possible[0] - 1e-9 <= dd["p5"] < dd["p95"] <= possible[-1] + 1e-9


def test_shuffle_keeps_total_return_and_varies_the_path():
    result = monte_carlo_simulation(TRADES * 10, 500, method="shuffle", seed=1)
    expected = 100 * (np.prod([1 + t["return_pct"] / 100 for t in TRADES * 10]) - 1)
    total = result["total_return_pct"]
    for key in ("p5", "p25", "p50", "p75", "p95", "ci_low", "ci_high", "mean"):
        assert total[key] == pytest.approx(expected, rel=1e-12)
    dd = result["max_drawdown_pct"]
    assert dd["p5"] < dd["p50"] < dd["p95"]
    assert result["max_consecutive_losses"]["p5"] < result["max_consecutive_losses"]["p95"]


def test_bootstrap_varies_total_return():
    shuffle = monte_carlo_simulation(TRADES * 10, 500, method="shuffle", seed=1)
    boot = monte_carlo_simulation(TRADES * 10, 500, method="bootstrap", seed=1)
    assert boot["total_return_pct"]["p5"] < boot["total_return_pct"]["p95"]
    assert boot["total_return_pct"] != shuffle["total_return_pct"]


def test_monte_carlo_seed_reproducible():
    a = monte_carlo_simulation(TRADES * 5, 300, method="bootstrap", seed=42)
    b = monte_carlo_simulation(TRADES * 5, 300, method="bootstrap", seed=42)
    c = monte_carlo_simulation(TRADES * 5, 300, method="bootstrap", seed=43)
    assert a == b
    assert a != c


def test_monte_carlo_large_run_is_well_formed():
    rng = np.random.default_rng(0)
    r = rng.choice([-1.0, 2.0], size=1000, p=[0.6, 0.4])
    trades = [{"r_multiple": float(x), "return_pct": float(x)} for x in r]
    result = monte_carlo_simulation(trades, 1000, method="bootstrap", seed=0)
    assert result["n_trades"] == 1000 and result["n_simulations"] == 1000
    assert 0 <= result["prob_drawdown_exceeds"] <= 1
    assert result["max_consecutive_losses"]["p50"] >= 5
    assert json_roundtrip(result) == result


def test_monte_carlo_risk_override_and_ruin_floor():
    resized = monte_carlo_simulation(TRADES, 50, method="shuffle", seed=0, risk_per_trade_pct=2.0)
    expected = 100 * (np.prod([1 + 2 * t["r_multiple"] / 100 for t in TRADES]) - 1)
    assert resized["total_return_pct"]["p50"] == pytest.approx(expected)
    ruin = monte_carlo_simulation(
        [{"r_multiple": 1.0, "return_pct": 50.0}, {"r_multiple": -3.0, "return_pct": -150.0}], 20, seed=0
    )
    assert ruin["final_equity"]["p95"] == 0.0
    assert ruin["max_drawdown_pct"]["p5"] == pytest.approx(100.0)
    assert ruin["prob_drawdown_exceeds"] == 1.0


def test_monte_carlo_without_trades():
    result = monte_carlo_simulation([], 100, seed=0)
    assert result["n_trades"] == 0
    for key in ("total_return_pct", "max_drawdown_pct", "max_consecutive_losses"):
        assert set(result[key].values()) == {0.0}
    assert set(result["final_equity"].values()) == {1.0}
    assert result["prob_drawdown_exceeds"] == 0.0
    assert json_roundtrip(result) == result


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"method": "jackknife"}, "method"),
        ({"confidence_level": 1.0}, "confidence_level"),
        ({"n_simulations": 0}, "n_simulations"),
        ({"drawdown_threshold": -1}, "drawdown_threshold"),
        ({"risk_per_trade_pct": 0}, "risk_per_trade_pct"),
    ],
)
def test_monte_carlo_validation(kwargs, name):
    with pytest.raises(ValueError, match=name):
        monte_carlo_simulation(TRADES, **kwargs)
    with pytest.raises(ValueError, match="trades"):
        monte_carlo_simulation([{"r_multiple": 1.0}])
