"""``aggregate_sequences``: each combination's own trade list gives what ``aggregate_metrics`` gives it alone."""

from __future__ import annotations

import numpy as np

from app.core.engine import OutcomeTable, aggregate_metrics, aggregate_sequences, prepare_market


def test_each_sequence_equals_aggregate_metrics_of_that_combination_alone_bit_for_bit():
    rng = np.random.default_rng(3)
    n, setups, levels = 3000, 400, 3
    hour = 3_600_000_000_000
    market = prepare_market(
        open_=np.ones(n), high=np.ones(n), low=np.ones(n), close=np.ones(n), time_ns=np.arange(n) * 7 * hour
    )
    table = OutcomeTable.allocate(levels, setups)
    exit_bar = np.sort(rng.choice(n, size=setups, replace=False))
    for k in range(levels):
        row = table.row(k)
        row.traded[:] = True
        row.exit_bar[:] = exit_bar
        row.exit_day[:] = market.day[exit_bar]
        row.r_multiple[:] = rng.normal(0.1, 1.5, setups).round(1)  # exact zeros and ties included
        row.planned_rr[:] = rng.uniform(1, 3, setups)
        row.hours[:] = rng.uniform(0, 50, setups)
    lists = [np.sort(rng.choice(setups, size=size, replace=False)) for size in (0, 1, 2, 50, 399, 400, 200, 7)]
    combo_level = np.arange(len(lists), dtype=np.int64) % levels
    offsets = np.concatenate([[0], np.cumsum([len(ids) for ids in lists])]).astype(np.int64)
    got = aggregate_sequences(
        market,
        table,
        combo_level=combo_level,
        offsets=offsets,
        ids=np.concatenate(lists).astype(np.int64),
        risk_per_trade_pct=2.0,
    )
    for c, ids in enumerate(lists):
        mask = np.zeros((1, setups), np.bool_)
        mask[0, ids] = True
        alone = aggregate_metrics(
            market,
            table,
            masks=mask,
            combo_level=combo_level[c : c + 1],
            combo_filter=np.zeros(1, np.int64),
            risk_per_trade_pct=2.0,
        )[0]
        np.testing.assert_array_equal(got[c].view(np.int64), alone.view(np.int64), err_msg=f"combination {c}")
    assert got[0].tolist() == [0.0] * got.shape[1] and got[5, 0] == 400
