"""A toy strategy defined only here: registers, backtests, runs through a job, is stored, ranked and shown.

"Buy at the open after every N-th candle, with a stop and a target in percent of the signal close" has
parameters of its own (not the pattern strategies' six), a constraint between two of them and market
entries (taker). Nothing outside this module knows it: the registry, the backtester, the optimizer and
the CLI must work on it unchanged (issue 9, acceptance).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from app.core.candles import read_candles_csv
from app.core.costs import TAKER, CostModel
from app.core.engine import (
    EXIT_REASONS,
    STATUS_NAMES,
    MarketArrays,
    OutcomeTable,
    aggregate_metrics,
    fill_at_next_open,
    resolve_exits,
)
from app.core.metrics import METRIC_NAMES
from app.evaluation.backtest import market_arrays, run_backtest, run_backtest_grid
from app.evaluation.validation import check_prefix_invariance, robust_best, stability_scores, walk_forward_validation
from app.strategies import (
    INDICATOR,
    PATTERN,
    Constraint,
    Parameter,
    ParameterError,
    ParameterSpace,
    Setups,
    SingleRun,
    Strategy,
    get_strategy,
    register_strategy,
    strategy_names,
    unregister_strategy,
)
from tests.conftest import BUNDLED_DIR
from tests.reference_engine import reference_backtest

TOY_SPACE = ParameterSpace(
    parameters=(
        Parameter("every_n", "int", 24, "Trade after every N-th candle.", low=2, high=10_000),
        Parameter(
            "stop_pct",
            "float",
            2.0,
            "Stop below the signal close, in percent.",
            low=0.0,
            high=50.0,
            low_inclusive=False,
        ),
        Parameter(
            "target_pct",
            "float",
            4.0,
            "Target above the signal close, in percent.",
            low=0.0,
            high=500.0,
            low_inclusive=False,
        ),
    ),
    presets={
        # 3 x 3 x 2 = 18 products, 12 of which keep the stop tighter than the target.
        "default": {"every_n": [12, 24, 48], "stop_pct": [1.0, 2.0, 3.0], "target_pct": [2.0, 4.0]},
        "quick": {"every_n": [24, 48], "stop_pct": [1.0, 2.0]},
    },
    constraints=(Constraint("stop_pct < target_pct", lambda p: p["stop_pct"] < p["target_pct"]),),
)


class EveryNthCandle(Strategy):
    """Go long at the next open after every N-th candle; stop and target from the signal close."""

    name = "toy"
    kind = INDICATOR
    entry_order = TAKER
    description = "Toy: buy the open after every N-th candle, stop and target in percent of the signal close."
    space = TOY_SPACE

    def setups(self, market: MarketArrays, params: dict[str, Any]) -> Setups:
        every = params["every_n"]
        index = np.arange(every - 1, len(market), every, dtype=np.int64)
        return self._levels(market, index, params["stop_pct"], params["target_pct"])

    def grid_metrics(
        self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel, max_wait_bars: int
    ) -> np.ndarray:
        return self._evaluate(market, combos, costs=costs)[0]

    def single_run(
        self, market: MarketArrays, params: dict[str, Any], *, costs: CostModel, max_wait_bars: int
    ) -> SingleRun:
        metrics, table, levels, masks = self._evaluate(market, [params], costs=costs)
        mask = masks[0]
        row = table.row(0)
        outcomes = type(row)(**{name: values[mask] for name, values in vars(row).items()})
        setups = levels[0]
        # Trades report the price actually paid: the next open (a market order).
        executed = Setups(
            index=setups.index,
            direction=setups.direction,
            entry=self._next_open(market, setups.index),
            stop=setups.stop,
            target=setups.target,
            extra={"signal_close": setups.entry},
        )
        return SingleRun(metrics=metrics[0], setups=executed.take(mask), outcomes=outcomes)

    # Shared work, as the pattern strategies do it: every candle is a candidate signal, each every_n is a
    # mask over them, each (stop_pct, target_pct) a level set, the fills shared per stop_pct.
    def _evaluate(self, market: MarketArrays, combos: list[dict[str, Any]], *, costs: CostModel):
        n = len(market)
        every_keys = list(dict.fromkeys(c["every_n"] for c in combos))
        level_keys = list(dict.fromkeys((c["stop_pct"], c["target_pct"]) for c in combos))
        candidates = np.arange(n, dtype=np.int64)
        masks = np.stack([candidates % every == every - 1 for every in every_keys])
        entry = self._next_open(market, candidates)
        table = OutcomeTable.allocate(len(level_keys), n)
        levels, fills_by_stop = [], {}
        for k, (stop_pct, target_pct) in enumerate(level_keys):
            setups = self._levels(market, candidates, stop_pct, target_pct)
            if stop_pct not in fills_by_stop:
                fills_by_stop[stop_pct] = fill_at_next_open(
                    market, index=candidates, direction=setups.direction, stop=setups.stop
                )
            resolve_exits(
                market,
                fills_by_stop[stop_pct],
                direction=setups.direction,
                entry=entry,
                stop=setups.stop,
                target=setups.target,
                costs=costs,
                entry_order=TAKER,
                out=table.row(k),
            )
            levels.append(setups)
        metrics = aggregate_metrics(
            market,
            table,
            masks=masks,
            combo_level=np.array([level_keys.index((c["stop_pct"], c["target_pct"])) for c in combos]),
            combo_filter=np.array([every_keys.index(c["every_n"]) for c in combos]),
            risk_per_trade_pct=costs.risk_per_trade_pct,
        )
        return metrics, table, levels, masks

    @staticmethod
    def _levels(market: MarketArrays, index: np.ndarray, stop_pct: float, target_pct: float) -> Setups:
        signal = market.close[index]
        return Setups(
            index=index,
            direction=np.ones(index.shape[0], np.int8),
            entry=signal,
            stop=signal * (1 - stop_pct / 100),
            target=signal * (1 + target_pct / 100),
        )

    @staticmethod
    def _next_open(market: MarketArrays, index: np.ndarray) -> np.ndarray:
        following = np.minimum(index + 1, len(market) - 1)
        return np.where(index + 1 < len(market), market.open[following], np.nan)


@pytest.fixture
def toy():
    """Register the toy strategy for one test, then restore the registry."""
    previous = register_strategy(EveryNthCandle())
    try:
        yield get_strategy("toy")
    finally:
        unregister_strategy("toy")
        if previous is not None:
            register_strategy(previous)


@pytest.fixture(scope="module")
def btc_1d() -> pd.DataFrame:
    return read_candles_csv(BUNDLED_DIR / "BTC_USDT-1d.csv.gz")


def candles(rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    arr = np.asarray(rows, dtype=np.float64)
    index = pd.date_range("2024-01-01", periods=len(rows), freq="1h", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": arr[:, 0], "high": arr[:, 1], "low": arr[:, 2], "close": arr[:, 3], "volume": 1.0}, index=index
    )


# --------------------------------------------------------------------------- registry and parameters


def test_the_toy_registers_and_unregisters(toy):
    assert isinstance(toy, EveryNthCandle)
    assert "toy" in strategy_names() and "toy" in strategy_names(INDICATOR)
    assert "toy" not in strategy_names(PATTERN)
    assert toy.space.names == ("every_n", "stop_pct", "target_pct")
    assert toy.space.grid_size(toy.space.preset("default")) == 12
    assert toy.space.grid_size(toy.space.preset("quick")) == 4
    assert toy.describe()["entry_order"] == "taker"
    previous = register_strategy(EveryNthCandle())
    assert isinstance(previous, EveryNthCandle)  # registering again replaces, and says what it replaced


def test_the_toy_is_gone_without_the_fixture():
    assert "toy" not in strategy_names()
    with pytest.raises(ValueError, match="unknown strategy 'toy'"):
        get_strategy("toy")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"every_n": 1}, "every_n"),
        ({"every_n": 2.5}, "every_n"),
        ({"stop_pct": 0}, "stop_pct"),
        ({"rr_target": 2.0}, "rr_target"),  # the pattern parameters mean nothing here
        ({"stop_pct": 5.0, "target_pct": 4.0}, "stop_pct < target_pct"),
    ],
)
def test_its_own_space_validates_its_parameters(toy, btc_1d, params, name):
    with pytest.raises(ParameterError, match=name):
        run_backtest(btc_1d, strategy="toy", params=params)
    with pytest.raises(ValueError, match=name):
        run_backtest_grid(btc_1d, strategy="toy", combinations=[params])


# --------------------------------------------------------------------------- backtests


def test_exact_trades_on_hand_built_candles(toy):
    rows = [(100, 101, 99, 100)] * 3  # signal at the close of bar 2 (every_n = 3): 100
    rows += [(100.5, 101, 99.5, 100), (100, 104.5, 99.5, 104)]  # filled at 100.5 on bar 3, target 104 on bar 4
    rows += [(104, 105, 103, 104)]  # signal at the close of bar 5: 104 (stop 101.92, target 108.16)
    rows += [(103, 104, 102, 103), (103, 103, 100, 101)]  # filled at 103 on bar 6; stopped on bar 7
    rows += [(101, 102, 100, 101)]  # signal at the close of bar 8, no next candle: expired
    params = {"every_n": 3, "stop_pct": 2.0, "target_pct": 4.0}
    result = run_backtest(candles(rows), strategy="toy", params=params, costs="zero")
    assert result["strategy"] == "toy" and result["params"] == {"every_n": 3, "stop_pct": 2.0, "target_pct": 4.0}
    assert result["setups"] == {"filled": 2, "cancelled": 0, "expired": 1, "skipped": 0}
    first, second = result["trades"]
    assert (first["entry"], first["signal_close"], first["exit_reason"], first["exit_price"]) == (
        100.5,
        100.0,
        "target",
        104.0,
    )
    assert first["r_multiple"] == pytest.approx((104 - 100.5) / (100.5 - 98.0), rel=1e-12)
    assert (second["entry"], second["exit_reason"]) == (103.0, "stop")
    assert second["exit_price"] == pytest.approx(104 * 0.98)
    assert second["r_multiple"] == pytest.approx(-1.0, rel=1e-12)
    # A market entry pays the taker fee and slippage; the limit target the maker fee.
    costs = {"maker_fee_pct": 0.02, "taker_fee_pct": 0.05, "slippage_pct": 0.1}
    paid = run_backtest(candles(rows), strategy="toy", params=params, **costs)["trades"][0]
    assert paid["r_multiple"] == pytest.approx((104 * 0.9998 - 100.5 * 1.001 * 1.0005) / 2.5, rel=1e-12)


def test_a_next_open_beyond_the_stop_is_skipped_not_traded(toy):
    rows = [(100, 101, 99, 100)] * 3 + [(95, 96, 94, 95), (95, 110, 94, 109)]  # gaps below the 98 stop
    result = run_backtest(candles(rows), strategy="toy", params={"every_n": 3}, costs="zero")
    assert result["trades"] == []
    assert result["setups"]["skipped"] == 1


def test_grid_rows_equal_single_runs(toy, btc_1d):
    combos = toy.space.expand(toy.space.preset("default"))
    grid = run_backtest_grid(btc_1d, strategy="toy", combinations=combos, costs="binance_usdm")
    assert list(grid.columns) == ["every_n", "stop_pct", "target_pct", *METRIC_NAMES]
    assert len(grid) == len(combos) == 12
    for row, combo in zip(grid.to_dict("records"), combos, strict=True):
        assert {k: row[k] for k in toy.space.names} == combo
        single = run_backtest(btc_1d, strategy="toy", params=combo, costs="binance_usdm")
        assert {name: row[name] for name in METRIC_NAMES} == {name: single[name] for name in METRIC_NAMES}, combo
        assert single["setups_detected"] == len(btc_1d) // combo["every_n"]
    assert grid["total_trades"].gt(20).all()
    assert grid["total_trades"].nunique() == 3  # one count per every_n
    assert grid["total_profit_pct"].nunique() == 12  # and the levels matter


def test_trades_match_the_plain_python_reference(toy, btc_1d):
    params = toy.space.validate({"every_n": 12, "stop_pct": 3.0})
    costs = CostModel(maker_fee_pct=0.02, taker_fee_pct=0.05, slippage_pct=0.05)
    market = market_arrays(btc_1d)
    setups = toy.setups(market, params)
    entry = toy._next_open(market, setups.index)
    ref = reference_backtest(
        open_=market.open,
        high=market.high,
        low=market.low,
        close=market.close,
        time_ns=market.time_ns,
        setups=[
            {"index": i, "direction": 1, "entry": e, "stop": s, "target": t}
            for i, e, s, t in zip(setups.index, entry, setups.stop, setups.target, strict=True)
        ],
        max_wait_bars=1,
        costs=costs,
        entry_order=TAKER,
    )
    run = toy.single_run(market, params, costs=costs, max_wait_bars=1)
    assert [STATUS_NAMES[s] for s in run.outcomes.status] == ref["statuses"]
    traded = np.flatnonzero(run.outcomes.traded)
    assert traded.tolist() == sorted(t["setup"] for t in ref["trades"])
    by_setup = {t["setup"]: t for t in ref["trades"]}
    assert [EXIT_REASONS[k] for k in run.outcomes.exit_reason[traded]] == [by_setup[i]["exit_reason"] for i in traded]
    assert np.allclose(run.outcomes.r_multiple[traded], [by_setup[i]["r_multiple"] for i in traded], rtol=1e-12)
    result = run_backtest(btc_1d, strategy="toy", params=params, costs=costs)
    assert {name: result[name] for name in ref["metrics"]} == pytest.approx(ref["metrics"], rel=1e-9, abs=1e-12)


def test_the_toy_passes_the_lookahead_guard(toy, btc_1d):
    assert check_prefix_invariance(btc_1d, strategy="toy", params={"every_n": 7}, n_cuts=10, seed=1) == []


def test_validation_works_on_its_space(toy, btc_1d):
    # An all-numeric parameter table (int every_n, float levels) must give the int parameter back as an int.
    combos = toy.space.expand(toy.space.preset("default"))
    grid = run_backtest_grid(btc_1d, strategy="toy", combinations=combos)
    grid["stability_score"] = stability_scores(grid, space=toy.space, metric="total_profit_pct")
    assert grid["stability_score"].notna().all()
    picked = robust_best(grid, space=toy.space, metric="total_profit_pct", min_trades=5)
    assert picked["best"]["params"] == combos[picked["best"]["position"]]
    assert isinstance(picked["best"]["params"]["every_n"], int)
    report = walk_forward_validation(
        btc_1d, strategy="toy", parameter_grid=combos, n_splits=3, metric="total_profit_pct", min_trades=1
    )
    assert len(report["splits"]) == 3
    assert all(split["params"] in combos for split in report["splits"])


# --------------------------------------------------------------------------- through a job, stored, ranked, shown


def test_the_toy_runs_through_a_job_and_shows_in_optimize_best(toy, app, runner, bundled_dir):
    from app.services.candles import candle_store
    from app.services.optimizer import jobs, results
    from app.services.optimizer.runner import JobRunner

    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    job = jobs.create_job(
        name="toy job",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=["toy"],
        start_date="2021-01-01",
        end_date="2024-12-31",
        grids="quick",
        costs="binance_usdm",
    )
    assert job.total_runs == 4
    done = JobRunner(workers=1).run(job.id)
    assert done.status == "completed", done.summary

    (best,) = results.best_params(strategy="toy", min_trades=0)
    assert (best["symbol"], best["timeframe"], best["strategy"]) == ("BTC/USDT", "1d", "toy")
    assert set(best["params"]) == {"every_n", "stop_pct", "target_pct"}
    # The stored ranking agrees with a direct grid on the same candles and costs.
    frame = candle_store.load_candles("BTC/USDT", "1d", start="2021-01-01", end="2024-12-31 23:59:59")
    combos = toy.space.expand(toy.space.preset("quick"))
    grid = run_backtest_grid(frame, strategy="toy", combinations=combos, costs="binance_usdm")
    top = grid.sort_values("total_profit_pct", ascending=False, kind="stable").iloc[0]
    assert best["params"] == {name: top[name] for name in toy.space.names}
    assert best["metrics"]["total_profit_pct"] == pytest.approx(top["total_profit_pct"], rel=1e-9)

    out = runner.invoke(args=["optimize", "best", "--strategy", "toy", "--min-trades", "0"])
    assert out.exit_code == 0, out.output
    assert "BTC/USDT|1d|toy" in out.output
    assert " ".join(f"{name}={best['params'][name]}" for name in toy.space.names) in out.output
