"""The outcomes page of a slice and the dashboard's "sets in alarm first": what an admin sees and can do."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from app.services.outcomes import slice_page
from app.services.params import parameter_sets
from tests.services.outcomes.test_monitor import alarmed_sets

SLICE = "BTC/USDT|1d|imbalance"
PAGE = f"/admin/outcomes?slice={SLICE}"


@pytest.fixture
def alarmed(db, monkeypatch):
    return alarmed_sets(db, monkeypatch, seed=5, trades=(60, 40))


def test_an_alarmed_slice_shows_its_chart_state_suggestion_and_outcomes(as_tier, alarmed):
    first, bad, _ = alarmed
    html = as_tier("admin").get(PAGE).get_data(as_text=True)
    assert "BTC/USDT 1d imbalance" in html and 'class="badge monitor alarm"' in html
    assert 'id="outcomes-chart"' in html and "data-paths=" in html
    for heading in ("CUSUM", "SPRT", "Track record", "Many sets (BH)", "confirms the alarm"):
        assert heading in html
    assert f'name="to_set_id" value="{first["id"]}"' in html and "Roll back" in html
    assert len(re.findall(r"<tr><td>\d{4}-", html)) == slice_page.OUTCOMES_PER_PAGE and "page 1 of 3" in html
    assert f"set {bad['id']}" in html and "rr_target" in html  # the set that produced each outcome, as chips
    assert '{"rr_target"' not in html  # never a JSON dump of a parameter set


def test_roll_back_from_the_page_returns_to_it_with_the_earlier_parameters(as_tier, alarmed):
    first, _, _ = alarmed
    form = {"symbol": "BTC/USDT", "timeframe": "1d", "strategy": "imbalance", "to_set_id": first["id"], "next": PAGE}
    response = as_tier("admin").post("/admin/optimization/best/rollback", data=form)
    assert response.status_code == 302 and unquote(response.headers["Location"]).endswith(PAGE)
    active = parameter_sets.active_set(symbol="BTC/USDT", timeframe="1d", strategy="imbalance")
    assert active["params"]["rr_target"] == 2.0 and active["restored_from"] == first["id"]


def test_a_slice_on_the_defaults_says_so_and_lists_no_outcomes(as_tier):
    html = as_tier("admin").get(PAGE).get_data(as_text=True)
    assert "Production trades the strategy's defaults" in html and 'id="no-outcomes"' in html
    assert 'id="outcomes-chart"' not in html


@pytest.mark.parametrize("query", ["", "?slice=BTC/USDT|1d", "?slice=BTC/USDT|1d|nope", f"?slice={SLICE}&page=0"])
def test_bad_input_is_400(as_tier, query):
    assert as_tier("admin").get(f"/admin/outcomes{query}").status_code == 400


@pytest.mark.parametrize("path", [PAGE, "/admin/outcomes/monitor"])
def test_admins_only(as_tier, path):
    assert as_tier(None).get(path).status_code == 302
    assert as_tier("premium").get(path).status_code == 403


def test_the_dashboard_lists_sets_in_alarm_first_each_linking_to_its_page(as_tier, alarmed):
    _, bad, good = alarmed
    admin = as_tier("admin")
    assert 'hx-get="/admin/outcomes/monitor"' in admin.get("/").get_data(as_text=True)
    assert "/admin/outcomes/monitor" not in as_tier("free").get("/").get_data(as_text=True)
    board = admin.get("/admin/outcomes/monitor").get_data(as_text=True)
    alarm_row, on_track_row = board.index("BTC/USDT 1d imbalance"), board.index("BTC/USDT 1d ema_cross")
    assert alarm_row < on_track_row
    assert 'href="/admin/outcomes?slice=BTC/USDT%7C1d%7Cimbalance"' in board


def test_the_board_says_when_nothing_is_tracked(as_tier):
    board = as_tier("admin").get("/admin/outcomes/monitor").get_data(as_text=True)
    assert 'id="no-monitored-sets"' in board and "No production set is tracked yet" in board
