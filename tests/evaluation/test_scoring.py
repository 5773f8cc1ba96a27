"""The composite score and run ranking."""

import math

import pandas as pd
import pytest

from app.evaluation.scoring import composite_scores, rank_order


def _table(rows):
    return pd.DataFrame(rows, columns=["total_trades", "total_profit_pct", "sharpe_ratio", "max_drawdown", "win_rate"])


def test_composite_score_formula():
    table = _table([(50, 40.0, 1.5, 12.0, 55.0)])
    expected = math.tanh(0.4) + math.tanh(0.5) - 0.12
    assert composite_scores(table, min_trades=10)[0] == pytest.approx(expected)


def test_profit_and_consistency_raise_drawdown_lowers():
    base, more_profit, steadier, deeper = composite_scores(
        _table([(50, 20, 1, 10, 50), (50, 60, 1, 10, 50), (50, 20, 2, 10, 50), (50, 20, 1, 30, 50)]), min_trades=10
    )
    assert more_profit > base and steadier > base and deeper < base


def test_thin_runs_rank_last_but_keep_their_order():
    table = _table([(5, 500.0, 5.0, 1.0, 90.0), (40, 5.0, 0.2, 20.0, 40.0), (3, 100.0, 1.0, 5.0, 60.0)])
    scores = composite_scores(table, min_trades=10)
    assert scores[1] > scores[0] and scores[1] > scores[2]
    assert scores[0] > scores[2]
    assert rank_order(table, metric="total_profit_pct", min_trades=10).tolist() == [1, 0, 2]


def test_rank_by_drawdown_prefers_smaller_and_rejects_unknown_metric():
    table = _table([(50, 1, 1, 30, 50), (50, 1, 1, 10, 50)])
    assert rank_order(table, metric="max_drawdown", min_trades=10).tolist() == [1, 0]
    with pytest.raises(ValueError, match="unknown ranking metric 'luck'"):
        rank_order(table, metric="luck", min_trades=10)
