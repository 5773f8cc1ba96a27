"""The job detail's slices table (filters, sort, pages), a slice's own page, the chart data, the empty states."""

from __future__ import annotations

import re

from tests.routes.web.site import SYMBOL, TIMEFRAME


def _slice_ids(page: str) -> list[str]:
    return re.findall(r'<tr id="slice-(\d+)"', page)


def test_the_slices_table_filters_sorts_and_pages(site):
    client = site.client("admin")
    base = f"/admin/optimization/{site.job_id}"
    only_macd = client.get(f"{base}?strategy=macd").get_data(as_text=True)
    assert len(_slice_ids(only_macd)) == 1 and "1 slice(s)" in only_macd
    ascending = _slice_ids(client.get(f"{base}?sort=total_profit_pct&order=asc").get_data(as_text=True))
    descending = _slice_ids(client.get(f"{base}?sort=total_profit_pct&order=desc").get_data(as_text=True))
    assert len(ascending) == 2 and ascending == descending[::-1]
    nothing = client.get(f"{base}?verdict=no-such-verdict").get_data(as_text=True)
    assert "No slice matches these filters." in nothing and _slice_ids(nothing) == []
    # A nonsense sort falls back to the slice order instead of failing.
    assert client.get(f"{base}?sort=nonsense&page=99").status_code == 200


def test_a_slice_page_shows_its_verdict_checks_and_charts(site):
    client = site.client("admin")
    page = client.get(f"/admin/optimization/{site.job_id}").get_data(as_text=True)
    slice_id = _slice_ids(client.get(f"/admin/optimization/{site.job_id}?strategy=macd").get_data(as_text=True))[0]
    detail = client.get(f"/admin/optimization/{site.job_id}/slices/{slice_id}").get_data(as_text=True)
    assert f"{SYMBOL} {TIMEFRAME} macd" in detail and 'id="verdict"' in detail
    assert 'id="monte-carlo"' in detail and 'id="regimes"' in detail and " R</td>" in detail
    assert "data-chart-url=" in detail and 'id="trades-panel"' in detail
    assert page  # the table linked to it
    assert client.get(f"/admin/optimization/{site.job_id}/slices/999999").status_code == 404
    assert client.get("/admin/optimization/999999").status_code == 404
    assert site.client("free").get(f"/admin/optimization/{site.job_id}/slices/{slice_id}").status_code == 403


def test_the_dashboard_chart_data_has_candles_zones_and_setup_levels(site):
    body = site.client("free").get(f"/chart/candles.json?symbol={SYMBOL}&timeframe={TIMEFRAME}").get_json()
    assert body["candles"] and len(body["candles"][0]) == 5 and body["zones"]
    zone = body["zones"][0]
    assert zone["low"] < zone["high"] and zone["type"] in ("imbalance", "order_block", "liquidity_sweep")
    assert body["setups"] and set(body["setups"][0]["levels"]) == {"entry", "stop_loss", "tp1", "tp2", "tp3"}
    assert site.client(None).get(f"/chart/candles.json?symbol={SYMBOL}&timeframe={TIMEFRAME}").status_code == 302
    assert site.client("free").get("/chart/candles.json?symbol=NOPE/USDT&timeframe=1d").status_code == 404
    assert site.client("free").get(f"/chart/candles.json?symbol={SYMBOL}&timeframe=7x").status_code == 400


def test_a_run_chart_carries_its_trades(site):
    client = site.client("admin")
    slice_page = client.get(f"/admin/optimization/{site.job_id}?strategy=macd").get_data(as_text=True)
    run_id = re.search(
        r"/admin/optimization/runs/(\d+)/",
        client.get(f"/admin/optimization/{site.job_id}/slices/{_slice_ids(slice_page)[0]}").get_data(as_text=True),
    ).group(1)
    body = client.get(f"/admin/optimization/runs/{run_id}/chart.json").get_json()
    assert body["trades"] and body["candles"] and body["setups"] == []
    first = body["trades"][0]
    assert body["candles"][0][0] <= first["entry_time"] <= first["exit_time"]


def test_best_parameters_offer_apply_only_where_the_gate_passes(site):
    client = site.client("admin")
    row = f'id="best-{SYMBOL.replace("/", "")}-{TIMEFRAME}-macd"'
    refused = client.get("/admin/optimization/best").get_data(as_text=True).split(row)[1].split("</tr>")[0]
    assert 'class="apply"' not in refused and "no walk-forward" in refused and '{"' not in refused.split("hidden")[0]
    evidence = {
        k: site.app.config[k] for k in ("AUTOTUNE_MIN_DSR", "AUTOTUNE_MAX_PBO", "AUTOTUNE_REQUIRE_WALK_FORWARD")
    }
    site.app.config.update(AUTOTUNE_MIN_DSR=0.0, AUTOTUNE_MAX_PBO=1.0, AUTOTUNE_REQUIRE_WALK_FORWARD=False)
    try:
        offered = client.get("/admin/optimization/best").get_data(as_text=True).split(row)[1].split("</tr>")[0]
    finally:
        site.app.config.update(evidence)
    assert 'class="apply"' in offered and 'class="refusal' not in offered
    # A losing set is never offered, whatever the evidence settings.
    loser = client.get("/admin/optimization/best").get_data(as_text=True).split(row.replace("macd", "imbalance"))[1]
    assert "negative expectancy" in loser.split("</tr>")[0]
