"""CSV import, validation, loading and coverage of stored candles."""

import gzip

import pandas as pd
import pytest
from sqlalchemy import func, select

from app.core.candles import CandleValidationError, check_storable, find_gaps, read_candles_csv
from app.errors import NotFoundError, ValidationError
from app.models import Candle, Symbol
from app.services.candles import candle_store

HEADER = "timestamp,open,high,low,close,volume\n"
GOOD_ROWS = [
    "1600560000000,100,110,90,105,1.5",
    "1600563600000,105,112,101,111,2.0",
    "1600567200000,111,115,108,109,3.0",
]


def _count(db) -> int:
    return db.session.scalar(select(func.count()).select_from(Candle))


def _write(tmp_path, rows, name="X_USDT-1h.csv", header=HEADER):
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n")
    return path


def test_import_real_bundled_file(db, bundled_dir):
    result = candle_store.import_csv(bundled_dir / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    assert (result.received, result.inserted) == (43_803, 43_803)
    frame = candle_store.load_candles("BTC/USDT", "1h")
    assert len(frame) == 43_803
    assert frame.index[0] == pd.Timestamp("2020-09-20 00:00", tz="UTC")
    assert frame.iloc[0].tolist() == [11080.64, 11080.64, 11042.7, 11056.0, 1168.906046]
    assert frame.index[-1] == pd.Timestamp("2025-09-19 22:00", tz="UTC")
    assert frame["close"].iloc[-1] == 115613.21


def test_reimport_adds_nothing(db, bundled_dir):
    path = bundled_dir / "ETH_USDT-1d.csv.gz"
    first = candle_store.import_csv(path, symbol="ETH/USDT", timeframe="1d")
    second = candle_store.import_csv(path, symbol="ETH/USDT", timeframe="1d")
    assert first.inserted == 1825
    assert (second.inserted, second.skipped) == (0, 1825)
    assert _count(db) == 1825


def test_gzip_and_plain_csv_read_the_same(db, tmp_path):
    plain = _write(tmp_path, GOOD_ROWS)
    zipped = tmp_path / "X_USDT-1h.csv.gz"
    zipped.write_bytes(gzip.compress(plain.read_bytes()))
    assert candle_store.import_csv(plain, symbol="X/USDT", timeframe="1h").inserted == 3
    assert candle_store.import_csv(zipped, symbol="X/USDT", timeframe="1h").inserted == 0


@pytest.mark.parametrize(
    ("bad_row", "row_number", "field"),
    [
        ("1600567200000,111,,108,109,3.0", 4, "high"),  # NaN
        ("1600567200000,111,100,108,109,3.0", 4, "high"),  # high < low
        ("1600567200000,111,115,112,109,3.0", 4, "low"),  # low above close
        ("1600563600000,111,115,108,109,3.0", 4, "timestamp"),  # duplicate
        ("1600500000000,111,115,108,109,3.0", 4, "timestamp"),  # unsorted
        ("1600567200000,111,abc,108,109,3.0", 4, "high"),  # not a number
    ],
)
def test_bad_row_is_named_and_nothing_is_stored(db, tmp_path, bad_row, row_number, field):
    path = _write(tmp_path, [*GOOD_ROWS[:2], bad_row])
    with pytest.raises(ValidationError) as excinfo:
        candle_store.import_csv(path, symbol="X/USDT", timeframe="1h")
    message = str(excinfo.value)
    assert f"row {row_number}" in message and f"'{field}'" in message and path.name in message
    assert _count(db) == 0


def test_missing_column_is_refused(db, tmp_path):
    path = _write(tmp_path, ["1600560000000,100,110,90,105"], header="timestamp,open,high,low,close\n")
    with pytest.raises(ValidationError, match="missing column.*volume"):
        candle_store.import_csv(path, symbol="X/USDT", timeframe="1h")
    assert _count(db) == 0


def test_bad_file_leaves_existing_candles_untouched(db, tmp_path):
    candle_store.import_csv(_write(tmp_path, GOOD_ROWS[:2], name="a.csv"), symbol="X/USDT", timeframe="1h")
    corrupt = _write(tmp_path, [GOOD_ROWS[2], "1600570800000,1,0.5,0.9,1,1"], name="b.csv")
    with pytest.raises(ValidationError):
        candle_store.import_csv(corrupt, symbol="X/USDT", timeframe="1h")
    assert _count(db) == 2


def test_unknown_timeframe_and_bad_symbol_are_refused(db, tmp_path):
    path = _write(tmp_path, GOOD_ROWS)
    with pytest.raises(ValidationError, match="unknown timeframe '2x'"):
        candle_store.import_csv(path, symbol="X/USDT", timeframe="2x")
    with pytest.raises(ValidationError, match="BASE/QUOTE"):
        candle_store.import_csv(path, symbol="XUSDT", timeframe="1h")
    assert _count(db) == 0


def test_load_candles_slices_by_date_and_rejects_unknown_symbol(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")
    frame = candle_store.load_candles("BTC/USDT", "1d", start="2021-01-01", end="2021-01-31")
    assert len(frame) == 31
    assert str(frame.index.tz) == "UTC" and list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert candle_store.load_candles("BTC/USDT", "4h").empty
    with pytest.raises(NotFoundError, match="unknown symbol 'DOGE/USDT'"):
        candle_store.load_candles("DOGE/USDT", "1d")


def test_coverage_reports_gaps(db, bundled_dir):
    candle_store.import_csv(bundled_dir / "BTC_USDT-1h.csv.gz", symbol="BTC/USDT", timeframe="1h")
    (row,) = candle_store.coverage()
    assert (row["symbol"], row["timeframe"], row["count"]) == ("BTC/USDT", "1h", 43_803)
    assert (row["gaps"], row["missing_bars"]) == (10, 20)


def test_cli_import_and_status(runner, bundled_dir, tmp_path):
    result = runner.invoke(
        args=["candles", "import", str(bundled_dir / "SOL_USDT-1d.csv.gz"), "--symbol", "SOL/USDT", "--timeframe", "1d"]
    )
    assert result.exit_code == 0, result.output
    assert "1825 new" in result.output
    status = runner.invoke(args=["candles", "status"])
    assert "SOL/USDT" in status.output and "1825" in status.output


def test_cli_corrupt_file_exits_non_zero_naming_the_row(runner, db, tmp_path):
    path = _write(tmp_path, [*GOOD_ROWS[:2], "1600567200000,111,100,108,109,3.0"])
    result = runner.invoke(args=["candles", "import", str(path), "--symbol", "X/USDT", "--timeframe", "1h"])
    assert result.exit_code != 0
    assert "row 4" in result.output
    assert _count(db) == 0


def test_cli_import_bundled_is_idempotent(runner, db, bundled_dir, tmp_path):
    for name in ("BTC_USDT-1d.csv.gz", "ETH_USDT-1d.csv.gz"):
        (tmp_path / name).write_bytes((bundled_dir / name).read_bytes())
    assert runner.invoke(args=["candles", "import-bundled", "--data-dir", str(tmp_path)]).exit_code == 0
    again = runner.invoke(args=["candles", "import-bundled", "--data-dir", str(tmp_path)])
    assert again.exit_code == 0 and "0 new of 1825" in again.output
    assert _count(db) == 3650


def test_folder_import_is_all_or_nothing_then_complete_after_the_fix(runner, db, bundled_dir, tmp_path):
    (tmp_path / "BTC_USDT-1d.csv.gz").write_bytes((bundled_dir / "BTC_USDT-1d.csv.gz").read_bytes())
    bad = _write(tmp_path, [*GOOD_ROWS[:2], "1600567200000,111,100,108,109,3.0"], name="X_USDT-1h.csv")
    result = runner.invoke(args=["candles", "import-bundled", "--data-dir", str(tmp_path)])
    assert result.exit_code == 2 and "X_USDT-1h.csv, row 4" in result.stderr
    # The good file, sorted first, was not kept either: no candle, no symbol, no summary.
    assert _count(db) == 0 and db.session.scalar(select(func.count()).select_from(Symbol)) == 0
    _write(tmp_path, GOOD_ROWS, name=bad.name)
    result = runner.invoke(args=["candles", "import-bundled", "--data-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert _count(db) == 1825 + 3
    assert {(r["symbol"], r["count"]) for r in candle_store.coverage()} == {("BTC/USDT", 1825), ("X/USDT", 3)}


def test_header_only_file_creates_no_symbol(db, tmp_path):
    with pytest.raises(ValidationError, match="header but no rows"):
        candle_store.import_csv(_write(tmp_path, [], header=HEADER), symbol="X/USDT", timeframe="1h")
    assert db.session.scalar(select(func.count()).select_from(Symbol)) == 0


def test_series_summary_follows_every_store(db, bundled_dir):
    """Coverage read from candle_series equals a full recount after partial, overlapping imports."""
    frame = read_candles_csv(bundled_dir / "BTC_USDT-1h.csv.gz")
    candle_store.store_candles(frame.iloc[20_000:], symbol="BTC/USDT", timeframe="1h")
    (row,) = candle_store.coverage()
    assert row["count"] == len(frame) - 20_000
    candle_store.store_candles(frame.iloc[:30_000], symbol="BTC/USDT", timeframe="1h")
    (row,) = candle_store.coverage()
    gaps = find_gaps(frame.index, "1h")
    assert (row["count"], row["gaps"], row["missing_bars"]) == (43_803, len(gaps), sum(g[2] for g in gaps))
    assert row["first"] == frame.index[0].isoformat() and row["last"] == frame.index[-1].isoformat()


def test_gaps_are_allowed_a_different_spacing_is_not():
    hours = pd.date_range("2024-01-01", periods=10, freq="1h", tz="UTC")
    candles = pd.DataFrame({c: 100.0 for c in ("open", "high", "low", "close")} | {"volume": 1.0}, index=hours)
    with_gaps = candles.drop(candles.index[[2, 3, 4, 7]])
    check_storable(with_gaps, timeframe="1h")  # 6 candles, 2 holes: fine
    check_storable(candles.iloc[[0, 5]], timeframe="1h")  # two candles, one hole: cannot be told from a gap
    every_other = candles.iloc[::2]
    with pytest.raises(CandleValidationError, match="typically 2h apart, not 1h"):
        check_storable(every_other, timeframe="1h")


def test_import_logs_what_it_stored(db, tmp_path, caplog):
    caplog.set_level("INFO", logger="app")
    candle_store.import_csv(_write(tmp_path, GOOD_ROWS), symbol="X/USDT", timeframe="1h")
    (record,) = [r for r in caplog.records if r.name == "app.services.candles.candle_store"]
    assert "X/USDT 1h" in record.getMessage() and "3 new, 0 already stored" in record.getMessage()
