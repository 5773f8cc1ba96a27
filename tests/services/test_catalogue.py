"""The script catalogue service, ``flask scripts ...`` and the /scripts pages and API (SQLite FTS5)."""

import json

import pytest
from sqlalchemy import func, select, text

from app.errors import NotFoundError, ValidationError
from app.models import TradingScript
from app.services import catalogue
from tests.conftest import REPO_ROOT

SAMPLE = REPO_ROOT / "data" / "scripts" / "sample_scripts.jsonl"


def _line(**fields):
    record = {"slug": "s", "title": "T", "author": "a", "script_type": "indicator"}
    record.update(fields)
    return json.dumps(record)


def _count(db):
    return db.session.scalar(select(func.count()).select_from(TradingScript))


@pytest.fixture
def sample(db):
    catalogue.import_jsonl(str(SAMPLE))
    return db


# ---------------------------------------------------------------- import


def test_import_sample_stores_analysis_and_is_idempotent(db):
    first = catalogue.import_jsonl(str(SAMPLE))
    again = catalogue.import_jsonl(str(SAMPLE))
    assert (first.received, first.inserted, first.updated, first.unchanged) == (15, 15, 0, 0)
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 15)
    assert _count(db) == 15
    macd = catalogue.script_detail("macd-histogram-reversal-v4")
    assert macd["indicators"] == ["macd"] and macd["signals"] == ["entry", "exit"]
    assert [(p["name"], p["default"], p["type"]) for p in macd["parameters"]] == [
        ("fastLen", 12, "int"),
        ("slowLen", 26, "int"),
        ("sigLen", 9, "int"),
    ]
    closed = catalogue.script_detail("whale-flow-pro")
    assert closed["indicators"] == ["obv", "vwap"] and closed["parameters"] == [] and not closed["is_open_source"]


def test_the_seed_column_name_open_source_imports_like_is_open_source(db):
    catalogue.import_jsonl([_line(slug="seed", open_source=False), _line(slug="today", is_open_source=False)])
    assert not catalogue.script_detail("seed")["is_open_source"]
    assert not catalogue.script_detail("today")["is_open_source"]


def test_import_updates_changed_records_only(db):
    catalogue.import_jsonl([_line(slug="a", likes=1), _line(slug="b", likes=2)])
    result = catalogue.import_jsonl([_line(slug="a", likes=1), _line(slug="b", likes=5, title="New title")])
    assert (result.inserted, result.updated, result.unchanged) == (0, 1, 1)
    page = catalogue.search_scripts(catalogue.SearchParams(query="new title"))
    assert [h.slug for h in page.hits] == ["b"] and page.hits[0].likes == 5  # the FTS index followed the update


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"slug": "ok"'], "line 1: not valid JSON"),
        ([_line(slug="ok"), _line(slug="Bad Slug")], "line 2, field 'slug'"),
        ([_line(slug="x", likes=-1)], "line 1, field 'likes': must be a whole number >= 0"),
        ([_line(slug="x", likes=True)], "line 1, field 'likes'"),
        ([_line(slug="x", script_type="study")], "line 1, field 'script_type': must be one of strategy, indicator"),
        ([_line(slug="x", timeframes=["1 hour"])], "line 1, field 'timeframes'"),
        ([_line(slug="x", indicators="ema")], "line 1, field 'indicators': must be a list of strings"),
        ([_line(slug="x", tittle="typo")], "line 1, field 'tittle': unknown field"),
        ([_line(slug="x", open_source=True, is_open_source=False)], "field 'open_source': give either open_source"),
        ([_line(slug="x", open_source="yes")], "line 1, field 'is_open_source': must be true or false"),
        (['{"slug": "x", "author": "a"}'], "line 1, field 'title': required"),
        ([_line(slug="x"), "", _line(slug="x")], "line 3, field 'slug': 'x' already used on line 1"),
        (["[1, 2]"], "line 1: expected a JSON object"),
        ([json.dumps({"slug": "x", "title": "t", "author": "a", "code": "plot(close)"})], "field 'script_type'"),
    ],
)
def test_bad_lines_are_named_and_nothing_is_written(db, lines, message):
    with pytest.raises(ValidationError) as caught:
        catalogue.import_jsonl([*lines, _line(slug="good-one")])
    assert message in caught.value.message
    assert _count(db) == 0


def test_all_errors_are_listed_in_details(db):
    with pytest.raises(ValidationError) as caught:
        catalogue.import_jsonl([_line(slug="x", likes="many", views=-2), "nope"])
    assert "(and 2 more errors)" in caught.value.message
    assert len(caught.value.details) == 3


def test_script_type_comes_from_the_code_declaration(db):
    catalogue.import_jsonl([json.dumps({"slug": "x", "title": "t", "author": "a", "code": 'strategy("x")'})])
    assert catalogue.script_detail("x")["script_type"] == "strategy"


def test_export_round_trips(sample, tmp_path):
    exported = list(catalogue.export_records())
    assert [r["slug"] for r in exported] == sorted(r["slug"] for r in exported) and len(exported) == 15
    again = catalogue.import_jsonl([json.dumps(r) for r in exported])
    assert (again.inserted, again.updated, again.unchanged) == (0, 0, 15)


def test_analyze_all_restores_a_stale_analysis(sample, db):
    db.session.execute(
        text("UPDATE trading_scripts SET indicators = '[]', parameters = '[]' WHERE slug = 'rsi-mean-reversion'")
    )
    db.session.commit()
    result = catalogue.analyze_all()
    assert (result.analyzed, result.changed) == (15, 1)
    detail = catalogue.script_detail("rsi-mean-reversion")
    assert detail["indicators"] == ["rsi"] and detail["parameters"][0]["name"] == "rsiLength"
    assert catalogue.analyze_all().changed == 0


# ---------------------------------------------------------------- search


def test_title_match_outranks_description_match(db):
    catalogue.import_jsonl(
        [
            _line(slug="in-description", title="Trend system", description="uses the vortex indicator", likes=9999),
            _line(slug="in-title", title="Vortex trend", description="a trend system", likes=1),
            _line(slug="unrelated", title="RSI", description="momentum"),
        ]
    )
    page = catalogue.search_scripts(catalogue.parse_search_params({"query": "vortex"}))
    assert [h.slug for h in page.hits] == ["in-title", "in-description"]
    assert page.hits[0].score > page.hits[1].score > 0 and page.total == 2


def test_every_word_must_match_and_the_last_may_be_a_prefix(sample):
    slugs = [h.slug for h in catalogue.search_scripts(catalogue.SearchParams(query="macd ema")).hits]
    assert slugs == ["macd-ema-confluence", "macd-fast-scalper"]  # both words in the title first
    assert "bollinger-squeeze-breakout" in [
        h.slug for h in catalogue.search_scripts(catalogue.SearchParams(query="bolli")).hits
    ]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ({"query": "macd", "script_type": "indicator"}, ["macd-classic-momentum"]),
        ({"query": "macd", "strategy_type": "scalping"}, ["macd-fast-scalper"]),
        ({"indicator": "supertrend"}, ["supertrend-atr-follower"]),
        ({"indicator": "obv", "open_source": "false"}, ["whale-flow-pro"]),
        ({"timeframe": "1m"}, ["stoch-rsi-scalper-v4"]),
        ({"query": "rsi", "indicator": "ema"}, ["stoch-rsi-scalper-v4"]),
    ],
)
def test_filters(sample, args, expected):
    assert [h.slug for h in catalogue.search_scripts(catalogue.parse_search_params(args)).hits] == expected


def test_sorts_and_paging(sample, db):
    by_likes = catalogue.search_scripts(catalogue.parse_search_params({"sort": "likes", "limit": "3"}))
    assert [h.likes for h in by_likes.hits] == [1530, 1120, 970] and by_likes.total == 15
    by_views = catalogue.search_scripts(catalogue.parse_search_params({"sort": "views", "limit": "1"}))
    assert by_views.hits[0].slug == "vwap-session-bands"
    db.session.execute(
        text("UPDATE trading_scripts SET created_at = '2030-01-01 00:00:00' WHERE slug = 'rsi-mean-reversion'")
    )
    db.session.commit()
    newest = catalogue.search_scripts(catalogue.parse_search_params({"sort": "newest", "limit": "1"}))
    assert newest.hits[0].slug == "rsi-mean-reversion"
    second = catalogue.search_scripts(catalogue.parse_search_params({"sort": "likes", "limit": "3", "offset": "3"}))
    assert [h.likes for h in second.hits] == [880, 720, 690]


@pytest.mark.parametrize(
    "query",
    [
        '"',
        '""',
        "*",
        "ema*",
        "NEAR(ema rsi)",
        "-ema",
        "ema -",
        "ema OR",
        "AND",
        "'; DROP TABLE trading_scripts; --",
        "title:ema",
        "^ema",
        "(",
        ")",
        "{ema}",
        "%",
        "_",
        "\\",
        "ema\x00",
        "é",
        "ema" * 60,
        "a b c d e f g h i j k l m n",
    ],
)
def test_hostile_queries_never_reach_the_engine_syntax(sample, db, query):
    catalogue.search_scripts(catalogue.SearchParams(query=query))
    assert _count(db) == 15


@pytest.mark.parametrize(
    ("args", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "101"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"sort": "random"}, "sort"),
        ({"script_type": "study"}, "script_type"),
        ({"indicator": "ema'--"}, "indicator"),
        ({"timeframe": "1 hour"}, "timeframe"),
        ({"open_source": "maybe"}, "open_source"),
        ({"query": "x" * 201}, "query"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_search_parameters_name_the_field(args, field):
    with pytest.raises(ValidationError) as caught:
        catalogue.parse_search_params(args)
    assert field in caught.value.details


# ---------------------------------------------------------------- stats


def test_stats_counts_periods_and_insights(sample):
    stats = catalogue.catalogue_stats(top=3)
    assert stats["total"] == 15
    assert stats["by_script_type"] == {"strategy": 10, "indicator": 5}
    assert stats["by_strategy_type"]["trending"] == 4
    assert stats["top_indicators"] == [
        {"name": "ema", "scripts": 5},
        {"name": "macd", "scripts": 4},
        {"name": "atr", "scripts": 3},
    ]
    assert stats["indicator_periods"]["macd"] == [
        {"periods": "12/26/9", "scripts": 3},
        {"periods": "8/21/5", "scripts": 1},
    ]
    assert {"periods": "14", "scripts": 3} in stats["indicator_periods"]["rsi"]
    macd = next(i for i in stats["insights"] if i["indicator"] == "macd")
    assert macd["text"] == "community MACD 12/26/9 (3 scripts); no optimizer results for macd yet"


def test_insights_compare_with_injected_optimizer_results(sample):
    def lookup(strategy):
        if strategy == "macd":
            return [
                {
                    "symbol": "BTC/USDT",
                    "timeframe": "1h",
                    "params": {"fast_period": 12, "slow_period": 24, "signal_period": 8},
                }
            ]
        return [{"symbol": "ETH/USDT", "timeframe": "4h", "params": {"unrelated": 1}}]  # unusable: ignored

    insights = {i["strategy"]: i for i in catalogue.catalogue_stats(optimizer_lookup=lookup)["insights"]}
    assert insights["macd"]["text"] == "community MACD 12/26/9 (3 scripts); optimized for BTC/USDT 1h: 12/24/8"
    assert insights["ema_cross"]["optimized"] == []


def test_default_optimizer_lookup_reads_the_optimizers_best_params(db, bundled_dir):
    from app.services.candles import candle_store
    from app.services.optimizer import jobs
    from app.services.optimizer.runner import JobRunner

    assert catalogue.optimizer_best_params("macd") == []
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    job = jobs.create_job(
        name="macd",
        symbols=["BTC/USDT"],
        timeframes=["1d"],
        strategies=["macd"],
        start_date="2020-09-20",
        end_date="2025-09-18",
        grids="quick",
        min_trades=3,
    )
    JobRunner(workers=1).run(job.id)
    (row,) = catalogue.optimizer_best_params("macd")
    assert (row["symbol"], row["timeframe"]) == ("BTC/USDT", "1d")
    assert {"fast", "slow", "signal"} <= set(row["params"])
    assert catalogue.optimizer_best_params("imbalance") == []


# ---------------------------------------------------------------- CLI


def test_cli_import_search_show_export(runner, tmp_path):
    result = runner.invoke(args=["scripts", "import", str(SAMPLE)])
    assert result.exit_code == 0 and "15 scripts read, 15 new" in result.output
    result = runner.invoke(args=["scripts", "search", "macd", "--limit", "2", "--json"])
    hits = json.loads(result.output)
    assert result.exit_code == 0 and len(hits) == 2
    assert all({"slug", "title", "score"} <= set(hit) for hit in hits) and hits[0]["score"] >= hits[1]["score"]
    result = runner.invoke(args=["scripts", "show", "fair-value-gap-zones", "--json"])
    detail = json.loads(result.output)
    assert detail["indicators"] == ["atr"] and detail["signals"] == ["alert"]
    assert detail["parameters"][0] == {
        "name": "minAtr",
        "type": "float",
        "default": 0.25,
        "title": "Min gap size (x ATR)",
        "function": "input.float",
        "line": 3,
        "minval": 0.0,
        "step": 0.05,
    }
    out = tmp_path / "export.jsonl"
    result = runner.invoke(args=["scripts", "export", "--output", str(out)])
    assert result.exit_code == 0 and len(out.read_text().splitlines()) == 15
    result = runner.invoke(args=["scripts", "analyze"])
    assert result.exit_code == 0 and "15 scripts analyzed, 0 changed" in result.output
    result = runner.invoke(args=["scripts", "stats"])
    assert "community MACD 12/26/9 (3 scripts)" in result.output


def test_cli_bad_input_exits_2_with_one_line_and_writes_nothing(runner, db, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(_line(slug="fine") + "\n" + _line(slug="x", likes=-5) + "\n")
    result = runner.invoke(args=["scripts", "import", str(bad)])
    assert result.exit_code == 2
    assert result.output.strip() == "Error: line 2, field 'likes': must be a whole number >= 0, got -5"
    assert _count(db) == 0
    missing = runner.invoke(args=["scripts", "import", str(tmp_path / "missing.jsonl")])
    assert missing.exit_code == 2 and "cannot read" in missing.output and "Traceback" not in missing.output
    unknown = runner.invoke(args=["scripts", "show", "no-such-script"])
    assert unknown.exit_code == 2 and unknown.output.strip() == "Error: no script with slug 'no-such-script'"


def test_demo_prepare_imports_the_sample_catalogue(runner, db, monkeypatch):
    monkeypatch.setattr("app.cli.demo.candle_store.import_directory", lambda directory: [])  # scripts only
    result = runner.invoke(args=["demo", "prepare"])
    assert result.exit_code == 0, result.output
    assert "15 new scripts" in result.output and _count(db) == 15


# ---------------------------------------------------------------- web and API


def test_api_search(client, sample):
    response = client.get("/api/v1/scripts/search?query=EMA&limit=10")
    body = response.get_json()
    assert response.status_code == 200 and body["total"] >= 3
    assert body["hits"][0]["slug"] in {"ema-cross-trend-follower", "ema-ribbon-pullback", "macd-ema-confluence"}
    assert all({"slug", "title", "score"} <= set(hit) for hit in body["hits"])


@pytest.mark.parametrize(
    "query_string",
    ["limit=0", "limit=1000", "limit=abc", "sort=drop", "indicator=%27%3B--", "query=" + "x" * 300, "offset=-5"],
)
def test_api_rejects_bad_parameters_with_400_json(client, sample, query_string):
    response = client.get(f"/api/v1/scripts/search?{query_string}")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize(
    "query",
    ["%22", "*", "NEAR(ema", "-ema", "%27%20OR%201%3D1%20--", "ema%20AND%20OR", "%5C", "%25", "%00", "%E2%80%A8"],
)
def test_api_hostile_queries_answer_200(client, sample, query):
    response = client.get(f"/api/v1/scripts/search?query={query}")
    assert response.status_code == 200 and isinstance(response.get_json()["hits"], list)


def test_api_stats_and_detail(client, sample):
    stats = client.get("/api/v1/scripts/stats").get_json()
    assert stats["total"] == 15 and stats["top_indicators"][0] == {"name": "ema", "scripts": 5}
    detail = client.get("/api/v1/scripts/vwap-session-bands").get_json()
    assert detail["indicators"] == ["vwap"] and detail["parameters"][3]["options"] == ["D", "W", "M"]
    missing = client.get("/api/v1/scripts/nope")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"


def test_pages(client, sample):
    page = client.get("/scripts?query=bollinger")
    assert page.status_code == 200 and b"Bollinger Squeeze Breakout" in page.data
    assert b"RSI Mean Reversion" not in page.data
    bad = client.get("/scripts?limit=0")
    assert bad.status_code == 400 and b"limit" in bad.data
    detail = client.get("/scripts/bollinger-squeeze-breakout")
    assert detail.status_code == 200 and b"squeezeLookback" in detail.data and b"120" in detail.data


def test_unknown_slug_raises_not_found(db):
    with pytest.raises(NotFoundError):
        catalogue.script_detail("x")


def test_parallel_analysis_matches_sequential(monkeypatch):
    from app.core.pine_script import analyze

    codes = [json.loads(line)["code"] for line in SAMPLE.read_text().splitlines()] * 3
    monkeypatch.setattr(catalogue, "PARALLEL_ANALYSIS_FROM", 1)
    monkeypatch.setattr(catalogue.os, "cpu_count", lambda: 2)
    assert [a.to_dict() for a in catalogue.analyze_many(codes)] == [analyze(code).to_dict() for code in codes]
