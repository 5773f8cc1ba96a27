"""Stability scores and the robust best (app.evaluation.validation.robustness)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from app.evaluation.validation import (
    robust_best,
    stability_scores,
)
from app.strategies import get_strategy
from tests.evaluation.validation.validation_helpers import (
    json_roundtrip,
)

SPACE = get_strategy("imbalance").space


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
