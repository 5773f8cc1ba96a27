"""The numba warm-up (app.evaluation.warmup) and its command, ``flask warm``."""

from app.evaluation import warmup
from app.strategies import get_strategy, strategy_names


def test_warm_kernels_runs_every_kernel_path_of_a_strategy():
    report = warmup.warm_kernels(strategies=["imbalance"])
    assert report.strategies == ["imbalance"]
    assert report.kernels > 20 and report.signatures > 10
    assert report.cache_hits + report.cache_misses >= 0  # loaded or compiled; either way the process is warm
    assert "warmed" in report.summary and "imbalance" not in report.summary


def test_warm_combinations_reach_every_choice_of_every_strategy():
    for name in strategy_names():
        space = get_strategy(name).space
        combos = warmup.warm_combinations(space)
        for parameter in space.parameters:
            values = {True, False} if parameter.kind == "bool" else set(parameter.choices)
            if values:  # e.g. every stop and target method: each selects its own kernels
                assert {c[parameter.name] for c in combos} == values, (name, parameter.name)


def test_warm_candles_are_valid_and_deterministic():
    a, b = warmup.warm_candles(), warmup.warm_candles()
    assert len(a) == warmup.WARM_BARS and a.equals(b)


def test_flask_warm_runs(runner, monkeypatch):
    monkeypatch.setattr("app.cli.warm.warm_kernels", lambda: warmup.warm_kernels(strategies=["order_block"]))
    result = runner.invoke(args=["warm"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("warmed ")
