"""Walk-forward validation, Monte Carlo, robust parameters and the lookahead guard (app.evaluation.validation)."""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from app.core.patterns import FVGDetector, PatternArrays, register_detector
from app.evaluation.backtest import run_backtest
from app.evaluation.validation import (
    MIN_TEST_CANDLES,
    MIN_TRAIN_CANDLES,
    check_prefix_invariance,
    metrics_from_trades,
    monte_carlo_simulation,
    robust_best,
    stability_scores,
    walk_forward_validation,
    walk_forward_windows,
)
from app.strategies import INDICATOR, PATTERN, get_strategy, strategy_names
from tests.conftest import REPO_ROOT
from tests.evaluation.validation.validation_helpers import DETECT_BAR, FILL_BAR, MOTIF_BARS, regime_candles

NO_COSTS = {"costs": "zero"}
SPACE = get_strategy("imbalance").space
RR_GRID = {"rr_target": [1.5, 3.0]}


def json_roundtrip(value):
    """Serialise strictly (no NaN/inf, no numpy scalars) and load back."""
    return json.loads(json.dumps(value, allow_nan=False))


def test_module_is_pure():
    code = (
        "import json, sys; import app.evaluation.validation; "
        "print(json.dumps(sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('flask', 'sqlalchemy', 'flask_sqlalchemy'))))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert json.loads(result.stdout) == []


# --------------------------------------------------------------------------- window arithmetic


def test_windows_rolling_exact():
    assert walk_forward_windows(1200, train_pct=0.5, test_pct=0.25, n_splits=3) == [
        (0, 480, 480, 720),
        (240, 720, 720, 960),
        (480, 960, 960, 1200),
    ]


def test_windows_anchored_exact():
    assert walk_forward_windows(1200, train_pct=0.5, test_pct=0.25, n_splits=3, anchored=True) == [
        (0, 480, 480, 720),
        (0, 720, 720, 960),
        (0, 960, 960, 1200),
    ]


def test_windows_single_split_is_a_plain_train_test_cut():
    assert walk_forward_windows(1000, train_pct=0.7, test_pct=0.3, n_splits=1) == [(0, 700, 700, 1000)]


@pytest.mark.parametrize("n", [400, 1001, 10955])
@pytest.mark.parametrize("pcts", [(0.7, 0.3), (0.8, 0.2), (0.5, 0.5), (0.6, 0.1)])
@pytest.mark.parametrize("n_splits", [1, 2, 5])
@pytest.mark.parametrize("anchored", [False, True])
def test_window_properties(n, pcts, n_splits, anchored):
    train_pct, test_pct = pcts
    try:
        windows = walk_forward_windows(n, train_pct=train_pct, test_pct=test_pct, n_splits=n_splits, anchored=anchored)
    except ValueError:
        size = n * test_pct / (train_pct + n_splits * test_pct)
        assert size < MIN_TEST_CANDLES + 1 or n - n_splits * math.floor(size) < MIN_TRAIN_CANDLES
        return
    assert len(windows) == n_splits
    assert windows[-1][3] == n  # the last test part ends at the last candle
    sizes = {d - c for _, _, c, d in windows}
    assert len(sizes) == 1 and sizes.pop() >= MIN_TEST_CANDLES
    train_lengths = {b - a for a, b, _, _ in windows}
    for (a, b, c, d), nxt in zip(windows, [*windows[1:], None], strict=True):
        assert 0 <= a < b == c < d  # train right before test, no overlap
        assert not set(range(a, b)) & set(range(c, d))
        if nxt is not None:
            assert nxt[2] == d  # adjacent, non-overlapping test parts
        if anchored:
            assert a == 0
    if not anchored:
        assert len(train_lengths) == 1
        (t,) = train_lengths
        s = windows[0][3] - windows[0][2]
        assert t >= s * train_pct / test_pct - 1e-9
        # The window size follows W = n / (1 + (n_splits - 1) * test / (train + test)) up to rounding.
        expected_w = n / (1 + (n_splits - 1) * test_pct / (train_pct + test_pct))
        assert abs((t + s) - expected_w) <= n_splits
    assert windows[0][0] == 0


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"train_pct": 0.0}, "train_pct"),
        ({"train_pct": 1.2}, "train_pct"),
        ({"test_pct": -0.1}, "test_pct"),
        ({"test_pct": 1.0}, "test_pct"),
        ({"n_splits": 0}, "n_splits"),
        ({"n_splits": 2.5}, "n_splits"),
    ],
)
def test_window_validation_names_the_argument(kwargs, name):
    with pytest.raises(ValueError, match=name):
        walk_forward_windows(1000, **kwargs)


def test_too_few_candles_per_window():
    with pytest.raises(ValueError, match="n_splits"):
        walk_forward_windows(200, n_splits=10)
    frame = regime_candles(["runner"] * 4)
    with pytest.raises(ValueError, match="candles"):
        walk_forward_validation(frame, strategy="imbalance", parameter_grid=RR_GRID, n_splits=8)


def test_walk_forward_rejects_bad_arguments():
    frame = regime_candles(["runner"] * 10)
    with pytest.raises(ValueError, match="ranking metric"):
        walk_forward_validation(frame, strategy="imbalance", parameter_grid=RR_GRID, metric="luck")
    with pytest.raises(ValueError, match="unknown strategy"):
        walk_forward_validation(frame, strategy="nope", parameter_grid=RR_GRID)
    with pytest.raises(ValueError, match="parameter_grid"):
        walk_forward_validation(frame, strategy="imbalance", parameter_grid={"rr_target": [-1]})
    with pytest.raises(ValueError, match="min_trades"):
        walk_forward_validation(frame, strategy="imbalance", parameter_grid=RR_GRID, min_trades=-1)


# --------------------------------------------------------------------------- walk-forward on synthetic regimes


def test_synthetic_motifs_behave_as_built():
    """The fixture itself: one FVG per motif; runners pay rr 3, faders pay rr 1.5 and stop out rr 3."""
    frame = regime_candles(["runner", "fader"])
    r15 = run_backtest(frame, strategy="imbalance", params={"rr_target": 1.5}, **NO_COSTS)
    r3 = run_backtest(frame, strategy="imbalance", params={"rr_target": 3.0}, **NO_COSTS)
    assert [t["r_multiple"] for t in r15["trades"]] == pytest.approx([1.5, 1.5])
    assert [t["r_multiple"] for t in r3["trades"]] == pytest.approx([3.0, -1.0])
    assert r3["setups_detected"] == 2


def test_walk_forward_reports_the_out_of_sample_drop():
    # 25 motifs, windows of 10 train + 5 test motifs; the regime flips to 'fader' exactly in the last test part.
    frame = regime_candles(["runner"] * 20 + ["fader"] * 5)
    assert len(frame) == 25 * MOTIF_BARS
    out = walk_forward_validation(
        frame,
        strategy="imbalance",
        parameter_grid=RR_GRID,
        train_pct=0.5,
        test_pct=0.25,
        n_splits=3,
        min_trades=3,
        **NO_COSTS,
    )
    assert json_roundtrip(out) == out
    splits = out["splits"]
    assert [s["params"]["rr_target"] for s in splits] == [3.0, 3.0, 3.0]  # runners everywhere in sample
    assert all(s["trusted"] for s in splits)
    assert [s["in_sample"]["expectancy_r"] for s in splits] == pytest.approx([3.0, 3.0, 3.0])
    assert [s["out_of_sample"]["expectancy_r"] for s in splits] == pytest.approx([3.0, 3.0, -1.0])
    assert [s["out_of_sample"]["total_trades"] for s in splits] == [5, 5, 5]
    assert splits[2]["out_of_sample"]["total_profit_pct"] < 0 < splits[2]["in_sample"]["total_profit_pct"]
    summary = out["summary"]
    assert summary["mean_in_sample_expectancy_r"] == pytest.approx(3.0)
    assert summary["mean_out_of_sample_expectancy_r"] == pytest.approx(5.0 / 3.0)
    assert summary["walk_forward_efficiency"] == pytest.approx(5.0 / 9.0)
    assert summary["param_changes"] == 0 and summary["param_change_fraction"] == 0.0
    stitched = summary["out_of_sample"]
    assert stitched["total_trades"] == 15
    assert stitched["expectancy_r"] == pytest.approx((10 * 3.0 - 5) / 15)
    assert stitched["max_consecutive_losses"] == 5
    # Stitched = all test trades compounded: 1.03^10 * 0.99^5.
    assert stitched["total_profit_pct"] == pytest.approx(100 * (1.03**10 * 0.99**5 - 1))
    # Timestamps: train/test parts follow each other; the last test part ends at the last candle.
    assert splits[0]["test_end"] < splits[1]["test_start"]
    assert pd.Timestamp(splits[1]["test_start"]) - pd.Timestamp(splits[0]["test_end"]) == pd.Timedelta(hours=1)
    assert splits[-1]["test_end"] == frame.index[-1].isoformat()
    assert all(s["train_end"] < s["test_start"] for s in splits)


def test_single_split_drop_gives_negative_efficiency():
    frame = regime_candles(["runner"] * 7 + ["fader"] * 3)
    out = walk_forward_validation(
        frame, strategy="imbalance", parameter_grid=RR_GRID, n_splits=1, min_trades=3, **NO_COSTS
    )
    (split,) = out["splits"]
    assert split["test_start"] == frame.index[7 * MOTIF_BARS].isoformat()
    assert split["params"]["rr_target"] == 3.0
    assert split["out_of_sample"]["expectancy_r"] == pytest.approx(-1.0)
    # The fader part alone would have picked rr 1.5: walk-forward does not peek at it.
    assert out["summary"]["walk_forward_efficiency"] == pytest.approx(-1.0 / 3.0)


def test_out_of_sample_equals_a_backtest_of_the_test_part():
    """Motifs are independent, so warm-up changes nothing here: the filtered trades must score like a fresh run."""
    frame = regime_candles(["runner", "fader", "runner"] * 6)
    out = walk_forward_validation(
        frame,
        strategy="imbalance",
        parameter_grid={"rr_target": [1.5, 2.0, 3.0]},
        train_pct=0.5,
        test_pct=0.5,
        n_splits=2,
        min_trades=1,
    )
    windows = walk_forward_windows(len(frame), train_pct=0.5, test_pct=0.5, n_splits=2)
    for split, (_, _, c, d) in zip(out["splits"], windows, strict=True):
        p = split["params"]
        fresh = run_backtest(
            frame.iloc[c:d],
            strategy="imbalance",
            params={k: p[k] for k in ("rr_target", "sl_buffer_pct", "min_zone_pct")},
        )
        for name, value in split["out_of_sample"].items():
            if name != "composite_score":
                assert value == pytest.approx(fresh[name], rel=1e-12, abs=1e-12), name


def test_setup_detected_in_train_is_not_counted_out_of_sample():
    # Pad with flat candles so that the test part starts exactly on a motif's fill bar.
    motifs = 10
    pad = next(
        p
        for p in range(200)
        if (walk_forward_windows(p + motifs * MOTIF_BARS, train_pct=0.5, test_pct=0.5, n_splits=1)[0][2] - p)
        % MOTIF_BARS
        == FILL_BAR
    )
    frame = regime_candles(["runner"] * motifs, pad=pad)
    (window,) = walk_forward_windows(len(frame), train_pct=0.5, test_pct=0.5, n_splits=1)
    test_start = window[2]
    assert (test_start - 1 - pad) % MOTIF_BARS == DETECT_BAR
    out = walk_forward_validation(
        frame, strategy="imbalance", parameter_grid=RR_GRID, train_pct=0.5, test_pct=0.5, n_splits=1, min_trades=1
    )
    full = run_backtest(frame, strategy="imbalance", params={"rr_target": out["splits"][0]["params"]["rr_target"]})
    entered_in_test = [t for t in full["trades"] if t["entry_time"] >= frame.index[test_start].isoformat()]
    detected_in_test = [t for t in entered_in_test if t["detected_at"] >= frame.index[test_start].isoformat()]
    assert len(entered_in_test) == len(detected_in_test) + 1  # the straddling setup
    assert out["splits"][0]["out_of_sample"]["total_trades"] == len(detected_in_test)


def test_thin_runs_are_never_chosen_when_a_trusted_one_exists():
    # Faders stop out rr 2 and 3 (-1R each); a 5% min zone finds nothing, so its empty run scores 0 > negative.
    frame = regime_candles(["fader"] * 12)
    grid = {"rr_target": [2.0, 3.0], "min_zone_pct": [0.15, 5.0]}
    kwargs = {"strategy": "imbalance", "parameter_grid": grid, "n_splits": 2, **NO_COSTS}
    out = walk_forward_validation(frame, min_trades=2, **kwargs)
    assert all(s["params"]["min_zone_pct"] == 0.15 and s["trusted"] for s in out["splits"])
    assert all(s["in_sample"]["expectancy_r"] < 0 for s in out["splits"])  # a losing edge, chosen anyway
    assert out["summary"]["walk_forward_efficiency"] is None  # no in-sample edge: efficiency undefined
    everything_thin = walk_forward_validation(frame, min_trades=1000, **kwargs)
    assert everything_thin["summary"]["untrusted_splits"] == 2
    assert not any(s["trusted"] for s in everything_thin["splits"])


def test_anchored_training_grows_and_keeps_the_test_parts():
    frame = regime_candles(["runner", "fader"] * 10)
    common = {"strategy": "imbalance", "parameter_grid": RR_GRID, "n_splits": 3, "min_trades": 1}
    rolling = walk_forward_validation(frame, **common)
    anchored = walk_forward_validation(frame, anchored=True, **common)
    first = frame.index[0].isoformat()
    assert all(s["train_start"] == first for s in anchored["splits"])
    assert rolling["splits"][1]["train_start"] > first
    assert [s["train_candles"] for s in anchored["splits"]] == sorted({s["train_candles"] for s in anchored["splits"]})
    assert len({s["train_candles"] for s in rolling["splits"]}) == 1
    for a, r in zip(anchored["splits"], rolling["splits"], strict=True):
        assert (a["test_start"], a["test_end"]) == (r["test_start"], r["test_end"])
    assert anchored["splits"][0] == rolling["splits"][0]


def test_metrics_from_trades_reproduce_the_engine(btc_4h):
    candles = btc_4h.iloc[:2500]
    run = run_backtest(candles, strategy="order_block", params={"rr_target": 2.5}, risk_per_trade_pct=2.0)
    assert run["total_trades"] > 20
    mine = metrics_from_trades(run["trades"], candles, risk_per_trade_pct=2.0)
    assert mine == {name: run[name] for name in mine}
    empty = metrics_from_trades([], candles, risk_per_trade_pct=1.0)
    assert set(empty.values()) == {0}


def test_walk_forward_smoke_on_bundled_btc_4h(btc_4h):
    candles = btc_4h.iloc[-4000:]
    grid = {"rr_target": [1.5, 2.5], "sl_buffer_pct": [5, 15]}
    out = walk_forward_validation(candles, strategy="imbalance", parameter_grid=grid, n_splits=3)
    assert json_roundtrip(out) == out
    assert len(out["splits"]) == 3
    assert out["splits"][-1]["test_end"] == candles.index[-1].isoformat()
    for s in out["splits"]:
        assert set(s["params"]) == set(SPACE.defaults)
        assert s["params"]["rr_target"] in grid["rr_target"]
        assert s["in_sample"]["total_trades"] > 0
        assert s["train_end"] < s["test_start"] <= s["test_end"]
    total = sum(s["out_of_sample"]["total_trades"] for s in out["splits"])
    assert out["summary"]["out_of_sample"]["total_trades"] == total > 0
    eff = out["summary"]["walk_forward_efficiency"]
    assert eff is None or math.isfinite(eff)
    assert 0 <= out["summary"]["param_changes"] <= 2
    # An explicit list of combinations is the same grid.
    as_list = [{"rr_target": rr, "sl_buffer_pct": sl} for rr in grid["rr_target"] for sl in grid["sl_buffer_pct"]]
    again = walk_forward_validation(candles, strategy="imbalance", parameter_grid=as_list, n_splits=3)
    assert again["splits"] == out["splits"]


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


# --------------------------------------------------------------------------- stability and robust best

# rr_target x tp_method; the other four parameters stay at one value.
HAND_GRID = {
    (1.0, "fixed_rr"): 4.0,
    (2.0, "fixed_rr"): 1.0,
    (3.0, "fixed_rr"): 10.0,
    (1.0, "atr_multiple"): 5.0,
    (2.0, "atr_multiple"): 5.0,
    (3.0, "atr_multiple"): -8.0,
}
HAND_STABILITY = {
    (1.0, "fixed_rr"): (4 + 1 + 5) / 3,
    (2.0, "fixed_rr"): (1 + 4 + 10 + 5) / 4,
    (3.0, "fixed_rr"): (10 + 1 - 8) / 3,
    (1.0, "atr_multiple"): (5 + 5 + 4) / 3,
    (2.0, "atr_multiple"): (5 + 5 - 8 + 1) / 4,
    (3.0, "atr_multiple"): (-8 + 5 + 10) / 3,
}


def hand_table(order=None, trades=None) -> pd.DataFrame:
    keys = list(HAND_GRID) if order is None else order
    rows = []
    for rr, tp in keys:
        row = dict(SPACE.defaults, rr_target=rr, tp_method=tp)
        row["expectancy_r"] = HAND_GRID[(rr, tp)]
        row["total_trades"] = 50 if trades is None else trades.get((rr, tp), 50)
        rows.append(row)
    return pd.DataFrame(rows)


def test_stability_scores_on_a_hand_built_grid():
    table = hand_table()
    scores = stability_scores(table, space=SPACE, metric="expectancy_r")
    assert scores.tolist() == pytest.approx([HAND_STABILITY[k] for k in HAND_GRID])


def test_stability_uses_sorted_values_not_row_order():
    order = [(3.0, "atr_multiple"), (1.0, "fixed_rr"), (2.0, "atr_multiple"), (3.0, "fixed_rr"), (2.0, "fixed_rr")]
    order.append((1.0, "atr_multiple"))
    scores = stability_scores(hand_table(order), space=SPACE, metric="expectancy_r")
    assert scores.tolist() == pytest.approx([HAND_STABILITY[k] for k in order])


def test_stability_with_missing_combination_and_three_categories():
    table = hand_table()
    table = table[~((table.rr_target == 2.0) & (table.tp_method == "atr_multiple"))]  # a hole in the grid
    extra = dict(SPACE.defaults, rr_target=1.0, tp_method="swing_target", expectancy_r=7.0, total_trades=50)
    table = pd.concat([table, pd.DataFrame([extra])], ignore_index=True)
    scores = dict(
        zip(
            zip(table.rr_target, table.tp_method, strict=True),
            stability_scores(table, space=SPACE, metric="expectancy_r"),
            strict=True,
        )
    )
    # (1, fixed): rr neighbour (2, fixed)=1; categorical neighbours atr=5 and swing=7 (every other method).
    assert scores[(1.0, "fixed_rr")] == pytest.approx((4 + 1 + 5 + 7) / 4)
    assert scores[(1.0, "swing_target")] == pytest.approx((7 + 4 + 5) / 3)  # no (2, swing) row exists
    assert scores[(3.0, "atr_multiple")] == pytest.approx((-8 + 10) / 2)  # its rr neighbour is the hole


def test_stability_rejects_duplicates_and_missing_columns():
    table = hand_table()
    with pytest.raises(ValueError, match="twice"):
        stability_scores(pd.concat([table, table.iloc[:1]]), space=SPACE, metric="expectancy_r")
    with pytest.raises(ValueError, match="tp_method"):
        stability_scores(table.drop(columns="tp_method"), space=SPACE, metric="expectancy_r")


def test_robust_best_prefers_a_plateau_over_a_spike():
    result = robust_best(hand_table(), space=SPACE, metric="expectancy_r", min_trades=10)
    assert result["best"]["position"] == 2 and result["best"]["value"] == 10.0  # the spike at rr 3
    assert result["robust"]["position"] == 1
    assert result["robust"]["stability"] == pytest.approx(5.0)
    assert result["robust"]["params"] == dict(SPACE.defaults, rr_target=2.0, tp_method="fixed_rr")
    assert result["same"] is False
    assert json_roundtrip(result) == result


def test_robust_best_ignores_thin_runs():
    thin = {(3.0, "fixed_rr"): 3, (2.0, "fixed_rr"): 9}
    result = robust_best(hand_table(trades=thin), space=SPACE, metric="expectancy_r", min_trades=10)
    assert result["best"]["position"] == 3  # (1, atr) = 5, first of the tie with (2, atr)
    assert result["robust"]["position"] == 3  # stability 14/3, the best among trusted rows
    assert result["robust"]["stability"] == pytest.approx(14 / 3)
    assert result["same"] is True
    nobody = robust_best(hand_table(), space=SPACE, metric="expectancy_r", min_trades=51)
    assert nobody["best"] is None and nobody["robust"] is None and nobody["same"] is False
    with pytest.raises(ValueError, match="total_trades"):
        robust_best(hand_table().drop(columns="total_trades"), space=SPACE, metric="expectancy_r")


def test_robust_best_for_a_lower_is_better_metric():
    table = hand_table().rename(columns={"expectancy_r": "max_drawdown"})
    result = robust_best(table, space=SPACE, metric="max_drawdown", min_trades=0)
    assert result["best"]["position"] == 5  # -8 is the lowest
    assert result["robust"]["position"] == 4  # stability 0.75 is the lowest


def test_robust_best_on_a_real_grid(btc_4h):
    from app.evaluation.backtest import run_backtest_grid
    from app.evaluation.scoring import composite_scores

    combos = SPACE.expand(SPACE.validate_grid({"rr_target": [1.5, 2.0, 2.5, 3.0], "sl_buffer_pct": [5, 10, 20]}))
    table = run_backtest_grid(btc_4h.iloc[:3000], strategy="order_block", combinations=combos)
    table["composite_score"] = composite_scores(table, min_trades=0)
    result = robust_best(table, space=SPACE, min_trades=10)
    assert json_roundtrip(result) == result
    assert result["best"]["position"] == int(np.argmax(table["composite_score"].to_numpy()))
    assert result["robust"]["total_trades"] >= 10


# --------------------------------------------------------------------------- lookahead guard


class NextHighFVG(FVGDetector):
    """Leaky on purpose: a bullish zone's top reaches the NEXT candle's high."""

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        found = super().find_candidates(open_, high, low, close)
        nxt = np.minimum(found.index + 1, close.shape[0] - 1)
        has_next = found.index + 1 < close.shape[0]
        bull = found.direction > 0
        zone_high = np.where(bull & has_next, np.maximum(found.zone_high, high[nxt]), found.zone_high)
        return PatternArrays(index=found.index, direction=found.direction, zone_low=found.zone_low, zone_high=zone_high)


class EndShyFVG(FVGDetector):
    """Leaky on purpose: drops patterns in the last three bars (it 'knows' where the data ends)."""

    def find_candidates(self, open_, high, low, close) -> PatternArrays:
        found = super().find_candidates(open_, high, low, close)
        return found.take(found.index < close.shape[0] - 3)


@pytest.fixture
def swap_imbalance():
    """Register a detector class for 'imbalance' for one test and restore the production class afterwards."""
    saved = []

    def swap(cls):
        saved.append(register_detector("imbalance", cls))

    yield swap
    for previous in reversed(saved):
        register_detector("imbalance", previous)
    assert register_detector("imbalance", FVGDetector) is FVGDetector


@pytest.mark.parametrize("leaky", [NextHighFVG, EndShyFVG])
def test_guard_catches_a_leaky_detector(btc_4h, swap_imbalance, leaky):
    swap_imbalance(leaky)
    violations = check_prefix_invariance(btc_4h, strategy="imbalance")
    assert violations
    assert all(v.startswith("cut at bar ") for v in violations)
    if leaky is NextHighFVG:
        assert any("zone_high" in v for v in violations)
    else:
        assert any("missing from the prefix" in v for v in violations)


@pytest.mark.parametrize("use_overlap", [True, False])
@pytest.mark.parametrize("strategy", strategy_names(PATTERN))
def test_guard_passes_the_real_detectors(btc_4h, strategy, use_overlap):
    assert check_prefix_invariance(btc_4h, strategy=strategy, params={"use_overlap": use_overlap}, seed=5) == []


def test_guard_reports_a_crash_on_a_prefix(swap_imbalance):
    class Fragile(FVGDetector):
        def find_candidates(self, open_, high, low, close) -> PatternArrays:
            if close.shape[0] < 10:
                raise RuntimeError("too short")
            return super().find_candidates(open_, high, low, close)

    swap_imbalance(Fragile)
    frame = regime_candles(["runner"] * 3)
    violations = check_prefix_invariance(frame, strategy="imbalance", n_cuts=5)
    assert any("raised RuntimeError" in v for v in violations)


@pytest.mark.parametrize("strategy", strategy_names(INDICATOR))
def test_guard_passes_the_indicator_strategies(btc_4h, strategy):
    assert check_prefix_invariance(btc_4h, strategy=strategy, seed=5) == []
