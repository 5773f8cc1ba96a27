"""The decay monitor: its stated false-alarm rates and detection delays hold on synthetic trades; no lookahead."""

import numpy as np
import pytest
from scipy import stats

from app.evaluation.monitoring import decay
from app.evaluation.monitoring.decay import Expectation

RNG = np.random.default_rng(7)
EDGE = Expectation.from_trades(RNG.normal(0.5, 1.0, 5000), mean_r=0.5)
EDGE = Expectation(mean_r=0.5, sd_r=1.0, sample_r=EDGE.sample_r, source="out_of_sample")


def _first_alarm(paths: np.ndarray, over) -> np.ndarray:
    hit = over(paths)
    return np.where(hit.any(axis=1), hit.argmax(axis=1) + 1, 0)


def _cusums(x: np.ndarray) -> np.ndarray:
    return np.array([decay.cusum_path(row, mean_r=EDGE.mean_r, sd_r=EDGE.sd_r) for row in x])


def test_cusum_false_alarm_run_length_is_about_the_stated_one():
    stated = decay.cusum_arl(drift=0.0)
    assert 600 < stated < 900  # k = 0.25, h = 8: about 740 trades
    x = np.random.default_rng(1).normal(EDGE.mean_r, EDGE.sd_r, (300, 2000))
    first = _first_alarm(_cusums(x), lambda s: s > decay.CUSUM_H)
    # Censored exponential run lengths: total trades watched per false alarm.
    watched = np.where(first > 0, first, x.shape[1]).sum()
    assert watched / np.count_nonzero(first) == pytest.approx(stated, rel=0.25)


def test_cusum_alarms_within_the_stated_delay_after_the_edge_drops_to_zero():
    stated = decay.cusum_arl(drift=EDGE.mean_r / EDGE.sd_r)
    x = np.random.default_rng(2).normal(0.0, EDGE.sd_r, (400, 400))
    first = _first_alarm(_cusums(x), lambda s: s > decay.CUSUM_H)
    assert np.all(first > 0)
    assert first.mean() == pytest.approx(stated, rel=0.3)


def test_sprt_false_alarm_rate_is_at_most_about_alpha():
    x = np.random.default_rng(3).normal(EDGE.mean_r, EDGE.sd_r, (3000, 300))
    decisions = [decay.sprt_decision(decay.sprt_path(row, mean_r=0.5, sd_r=1.0))[0] for row in x]
    rate = decisions.count("decay") / len(decisions)
    assert 0.01 < rate <= decay.SPRT_ALPHA + 0.01


def test_sprt_finds_a_dead_edge_within_the_stated_trades():
    stated = decay.sprt_expected_trades(EDGE)
    x = np.random.default_rng(4).normal(0.0, EDGE.sd_r, (3000, 300))
    results = [decay.sprt_decision(decay.sprt_path(row, mean_r=0.5, sd_r=1.0)) for row in x]
    found = [at for what, at in results if what == "decay"]
    assert len(found) / len(results) >= 1 - decay.SPRT_BETA - 0.02
    assert np.mean(found) <= 1.2 * stated


def test_every_statistic_is_prefix_invariant():
    x = np.random.default_rng(5).normal(0.2, 1.0, 120)
    full = decay.monitor_set(x, EDGE)
    band = decay.monte_carlo_band(EDGE, 120)
    for k in (1, 17, 60):
        part = decay.monitor_set(x[:k], EDGE)
        assert part.cusum == decay.cusum_path(x, mean_r=0.5, sd_r=1.0)[k - 1]
        assert part.sprt_llr == pytest.approx(decay.sprt_path(x, mean_r=0.5, sd_r=1.0)[k - 1])
        assert part.band["low"] == band[0, k - 1] and part.band["high"] == band[2, k - 1]
        if full.cusum_alarm_at is not None and full.cusum_alarm_at <= k:
            assert part.cusum_alarm_at == full.cusum_alarm_at


def test_benjamini_hochberg_matches_the_textbook_example():
    p = [0.01, 0.04, 0.03, 0.005, 0.5, 0.2]
    # sorted 0.005 <= 1/6 q, 0.01 <= 2/6 q, then 0.03 > 3/6 q and 0.04 > 4/6 q (q = 0.05)
    assert decay.benjamini_hochberg(p, q=0.05).tolist() == [True, False, False, True, False, False]
    adjusted = stats.false_discovery_control(p, method="bh")  # scipy's adjusted p-values agree
    assert decay.benjamini_hochberg(p, q=0.05).tolist() == (adjusted <= 0.05).tolist()
    assert decay.benjamini_hochberg([]).tolist() == []


def test_judge_alarms_on_a_dead_set_and_not_on_healthy_ones_among_many():
    rng = np.random.default_rng(6)
    healthy = [decay.monitor_set(rng.normal(0.5, 1.0, 150), EDGE) for _ in range(20)]
    dead = decay.monitor_set(rng.normal(0.0, 1.0, 150), EDGE)
    judged = decay.judge([*healthy, dead])
    assert judged[-1].verdict == decay.ALARM and judged[-1].evidence
    assert sum(m.verdict == decay.ALARM for m in judged[:-1]) <= 1


def test_too_early_and_no_expectation():
    early = decay.judge([decay.monitor_set([0.5, -1.0], EDGE)])[0]
    assert early.verdict == decay.TOO_EARLY and early.trades_for_verdict == early.min_track_record - 2
    flat = Expectation.from_trades([-1.0, 1.0] * 20)
    assert decay.judge([decay.monitor_set([1.0], flat)])[0].verdict == decay.NO_EXPECTATION
    with pytest.raises(ValueError, match="finite"):
        decay.monitor_set([np.nan], EDGE)


def test_the_cumulative_r_paths_start_at_zero_and_end_at_the_states_numbers():
    x = np.random.default_rng(3).normal(0.2, 1.0, 40)
    paths = decay.cumulative_r_paths(x, EDGE)
    state = decay.monitor_set(x, EDGE)
    assert paths["trades"] == list(range(41))
    assert [paths[k][0] for k in ("live", "low", "median", "high")] == [0.0] * 4
    assert paths["live"][-1] == pytest.approx(state.cumulative_r)
    assert (paths["low"][-1], paths["high"][-1]) == (state.band["low"], state.band["high"])
    empty = decay.cumulative_r_paths([], EDGE)
    assert empty == {"trades": [0], "live": [0.0], "low": [0.0], "median": [0.0], "high": [0.0]}
