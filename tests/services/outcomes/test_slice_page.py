"""The outcomes page's data: the slice's monitor state (judged with every active set), the chart, the outcomes."""

import pytest

from app.errors import ValidationError
from app.services.outcomes import monitor, slice_page
from tests.services.outcomes.test_monitor import alarmed_sets

IMBALANCE = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance"}


@pytest.fixture
def alarmed(db, monkeypatch):
    return alarmed_sets(db, monkeypatch, seed=5, trades=(60, 40))


def test_an_alarmed_slice_has_its_verdict_chart_and_rollback_suggestion(alarmed):
    first, bad, _ = alarmed
    page = slice_page.slice_page(**IMBALANCE)
    state = page["state"]
    assert page["active_set"]["id"] == bad["id"] == state["set_id"]
    assert state["verdict"] == "alarm" and state["suggestion"]["to_set_id"] == first["id"]
    assert page["bh"].startswith("confirms the alarm")
    chart = page["chart"]
    assert chart["trades"] == list(range(61))
    assert chart["live"][-1] == pytest.approx(state["cumulative_r"])
    assert (chart["low"][-1], chart["high"][-1]) == (state["band"]["low"], state["band"]["high"])


def test_the_verdict_is_the_one_judged_with_every_active_set(alarmed):
    ema = {**IMBALANCE, "strategy": "ema_cross"}
    everyone = {s["set_id"]: s for s in monitor.monitor_states()}
    state = slice_page.slice_page(**ema)["state"]
    assert state == everyone[state["set_id"]]
    assert state["verdict"] in ("ok", "too_early") and state["suggestion"] is None


def test_outcomes_are_paged_newest_first(alarmed):
    first_page = slice_page.slice_page(**IMBALANCE)["outcomes"]
    assert (first_page["total"], first_page["pages"], first_page["page"]) == (60, 3, 1)
    assert len(first_page["rows"]) == slice_page.OUTCOMES_PER_PAGE
    detected = [row["detected_at"] for row in first_page["rows"]]
    assert detected == sorted(detected, reverse=True)
    last = slice_page.slice_page(**IMBALANCE, page=3)["outcomes"]
    assert len(last["rows"]) == 60 - 2 * slice_page.OUTCOMES_PER_PAGE


def test_a_slice_trading_the_defaults_has_no_state_and_no_chart(db):
    page = slice_page.slice_page(**IMBALANCE)
    assert (page["active_set"], page["state"], page["chart"], page["bh"]) == (None, None, None, None)
    assert page["outcomes"] == {"total": 0, "rows": [], "page": 1, "pages": 1}


def test_an_unknown_strategy_is_bad_input(db):
    with pytest.raises(ValidationError, match="unknown strategy"):
        slice_page.slice_page(**{**IMBALANCE, "strategy": "nope"})


@pytest.mark.parametrize(
    ("state", "said"),
    [
        ({"min_track_record": None}, "not judged"),
        ({"min_track_record": 20, "cusum_alarm_at": None, "sprt": "continue", "verdict": "ok"}, "no CUSUM or SPRT"),
        ({"min_track_record": 20, "cusum_alarm_at": 12, "sprt": "continue", "verdict": "alarm"}, "confirms"),
        ({"min_track_record": 20, "cusum_alarm_at": None, "sprt": "decay", "verdict": "watch"}, "does not confirm"),
    ],
)
def test_the_benjamini_hochberg_result_in_words(state, said):
    assert slice_page.benjamini_hochberg_result(state).startswith(said)
