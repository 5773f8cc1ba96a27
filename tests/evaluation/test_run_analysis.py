"""The pure analyses behind heatmaps, parameter importance and a run's trade page."""

import pandas as pd
import pytest

from app.evaluation.run_analysis import drawdown_curve, fold_matrix, r_histogram, value_order, variance_shares


def _runs(rows):
    return pd.DataFrame(rows, columns=["run_id", "total_trades", "params", "metric"])


RUNS = _runs(
    [
        (1, 20, {"a": 1, "b": "x", "c": 0}, 1.0),
        (2, 20, {"a": 1, "b": "x", "c": 1}, 3.0),
        (3, 20, {"a": 2, "b": "x", "c": 0}, 5.0),
        (4, 5, {"a": 2, "b": "x", "c": 1}, 99.0),  # thin: never counts
        (5, 20, {"a": 1, "b": "y", "c": 0}, -2.0),
        (6, 20, {"a": 2, "b": "y", "c": 0}, 0.0),
    ]
)


@pytest.mark.parametrize("fold, expected", [("max", 3.0), ("mean", 2.0), ("median", 2.0)])
def test_fold_matrix_cells(fold, expected):
    matrix = fold_matrix(RUNS, x="a", y="b", metric="m", fold=fold, min_trades=10, higher_is_better=True)
    assert matrix["x_values"] == [1, 2] and matrix["y_values"] == ["x", "y"]
    cell = matrix["cells"][0][0]
    assert cell["value"] == expected and cell["runs"] == 2 and cell["run_id"] == 2
    assert matrix["cells"][0][1]["value"] == 5.0  # run 4 (99, thin) left out
    assert matrix["best"] == {
        "x": 2,
        "y": "x",
        "value": 5.0,
        "neighbourhood_mean": pytest.approx((5.0 + 0.0 + expected - 2.0) / 4),
    }


def test_fold_matrix_lower_is_better_and_empty_cells():
    matrix = fold_matrix(RUNS, x="a", y="b", metric="m", fold="max", min_trades=10, higher_is_better=False)
    assert matrix["cells"][0][0]["value"] == 1.0 and matrix["best"]["value"] == -2.0
    empty = fold_matrix(RUNS, x="a", y="b", metric="m", fold="mean", min_trades=100, higher_is_better=True)
    assert empty["best"] is None and empty["cells"][1][1] == {
        "value": None,
        "runs": 0,
        "trades": None,
        "run_id": None,
        "params": None,
    }
    with pytest.raises(ValueError, match="fold"):
        fold_matrix(RUNS, x="a", y="b", metric="m", fold="sum", min_trades=0, higher_is_better=True)


def test_variance_shares_find_the_parameter_that_matters():
    runs = _runs(
        [(i, 10, {"a": a, "b": b}, float(a * 10)) for i, (a, b) in enumerate([(1, 1), (1, 2), (2, 1), (2, 2)])]
    )
    shares = {s["parameter"]: s["share"] for s in variance_shares(runs, names=["a", "b"])}
    assert shares == {"a": 1.0, "b": 0.0}
    flat = runs.assign(metric=1.0)
    assert all(s["share"] == 0.0 for s in variance_shares(flat, names=["a", "b"]))


def test_drawdown_and_histogram():
    curve = [{"time": t, "equity": e} for t, e in enumerate([1.0, 1.2, 0.9, 1.3, 0.0])]
    assert [p["drawdown_pct"] for p in drawdown_curve(curve)] == [0.0, 0.0, pytest.approx(-25.0), 0.0, -100.0]
    assert drawdown_curve([]) == []
    bins = r_histogram([-1.0, -1.0, 0.2, 2.0, float("nan")])
    assert bins[0] == {"low": -1.0, "high": -0.5, "count": 2}
    assert sum(b["count"] for b in bins) == 4 and bins[-1] == {"low": 2.0, "high": 2.5, "count": 1}
    assert r_histogram([]) == []


def test_value_order_never_compares_text_with_numbers():
    assert value_order([3, "b", 1.5, "a", 3]) == [1.5, 3, "a", "b"]
