"""walk_forward_windows and walk_forward_validation (app.evaluation.validation.walk_forward)."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from app.evaluation.backtest import run_backtest
from app.evaluation.validation import (
    MIN_TEST_CANDLES,
    MIN_TRAIN_CANDLES,
    metrics_from_trades,
    walk_forward_validation,
    walk_forward_windows,
)
from app.strategies import get_strategy
from tests.evaluation.validation.validation_helpers import (
    DETECT_BAR,
    FILL_BAR,
    MOTIF_BARS,
    json_roundtrip,
    regime_candles,
)

NO_COSTS = {"costs": "zero"}
SPACE = get_strategy("imbalance").space
RR_GRID = {"rr_target": [1.5, 3.0]}


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
