"""The bad-input regression list (issue 15 parts 2 and 3): keep every case.

Each case is one command a user or cron can run with wrong input. Every one
must end with a clear ``Error: ...`` line naming what was wrong, the
documented exit code (2 bad input; docs/design-rules.md#exit-codes) and NOTHING written (no
symbol, candle, series summary or user). ``CASES`` runs through the flask CLI
in-process; ``PROCESS_CASES`` start ``flask`` in a subprocess, for what fails
before any command runs (configuration). The count of both is the figure the
issue asks for.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy import func, select

from app.models import Candle, CandleSeries, OptimizationJob, Symbol, User
from app.services.candles import candle_store
from tests.conftest import BUNDLED_DIR, REPO_ROOT

HEADER = "timestamp,open,high,low,close,volume"
T0 = 1_600_560_000_000  # 2020-09-20T00:00Z
H = 3_600_000
GOOD = [f"{T0},100,110,90,105,1.5", f"{T0 + H},105,112,101,111,2.0", f"{T0 + 2 * H},111,115,108,109,3.0"]


def csv(*rows: str, header: str = HEADER) -> str:
    return "\n".join([header, *rows]) + "\n"


def good_then(bad_row: str) -> str:
    """Two good rows, then ``bad_row`` as line 4 of the file."""
    return csv(*GOOD[:2], bad_row)


def hourly(start: int, n: int = 3, step: int = H) -> list[str]:
    return [f"{start + i * step},100,110,90,105,1" for i in range(n)]


def future_rows() -> str:
    start = (int(time.time() * 1000) // H + 24) * H  # tomorrow, on the hour
    return csv(*GOOD[:2], *hourly(start, 1))


def truncated_gz() -> bytes:
    data = (BUNDLED_DIR / "BTC_USDT-1d.csv.gz").read_bytes()
    return data[: len(data) // 2]


def bundled(name: str) -> bytes:
    return (BUNDLED_DIR / name).read_bytes()


@dataclass
class Case:
    """One bad input: files to create, the command line (``{tmp}`` = the test's folder), what must come out."""

    id: str
    args: list[str]
    expect: str  # a fragment of the error message
    files: dict[str, str | bytes | Callable[[], str | bytes]] = field(default_factory=dict)
    code: int = 2
    usage: bool = False  # a click usage error (multi-line "Usage: ... Error: ..." is click's convention)
    setup: Callable[[], None] | None = None


def imp(name: str = "x.csv", tf: str = "1h", symbol: str = "X/USDT") -> list[str]:
    return ["candles", "import", f"{{tmp}}/{name}", "--symbol", symbol, "--timeframe", tf]


def user(email: str = "a@b.co", password: str = "longenough", tier: str = "free") -> list[str]:
    return ["users", "create", "--email", email, "--password", password, "--tier", tier]


def _existing_user() -> None:
    from app.services.accounts.users import create_user

    create_user(email="taken@example.com", password="longenough")


CASES = [
    # --- CSV rows and values --------------------------------------------------------------------
    Case(
        "nan-value", imp(), "row 4, field 'high': missing value", {"x.csv": good_then(f"{T0 + 2 * H},111,,108,109,3")}
    ),
    Case("not-a-number", imp(), "not a finite number", {"x.csv": good_then(f"{T0 + 2 * H},111,abc,108,109,3")}),
    Case("inf-price", imp(), "row 4, field 'close'", {"x.csv": good_then(f"{T0 + 2 * H},111,115,108,inf,3")}),
    Case("high-below-low", imp(), "high is below low", {"x.csv": good_then(f"{T0 + 2 * H},111,100,108,109,3")}),
    Case("low-above-close", imp(), "low is above", {"x.csv": good_then(f"{T0 + 2 * H},111,115,112,109,3")}),
    Case("high-below-open", imp(), "high is below open", {"x.csv": good_then(f"{T0 + 2 * H},120,115,108,109,3")}),
    Case("duplicate-ts", imp(), "duplicate timestamp", {"x.csv": good_then(f"{T0 + H},111,115,108,109,3")}),
    Case("unsorted-ts", imp(), "ascending", {"x.csv": good_then(f"{T0 - H},111,115,108,109,3")}),
    Case("negative-volume", imp(), "field 'volume'", {"x.csv": good_then(f"{T0 + 2 * H},111,115,108,109,-3")}),
    Case("zero-price", imp(), "price must be positive", {"x.csv": good_then(f"{T0 + 2 * H},0,0,0,0,3")}),
    Case("negative-price", imp(), "negative value", {"x.csv": good_then(f"{T0 + 2 * H},-1,-1,-1,-1,3")}),
    Case("price-1e308", imp(), "absurd price", {"x.csv": good_then(f"{T0 + 2 * H},1e308,1e308,1e308,1e308,3")}),
    Case("price-2e9", imp(), "absurd price", {"x.csv": good_then(f"{T0 + 2 * H},2e9,2e9,2e9,2e9,3")}),
    Case("fractional-ts", imp(), "not a whole number", {"x.csv": good_then(f"{T0 + 2 * H}.5,111,115,108,109,3")}),
    Case(
        "missing-column",
        imp(),
        "missing column(s) volume",
        {"x.csv": csv(*GOOD, header="timestamp,open,high,low,close")},
    ),
    Case(
        "semicolons",
        imp(),
        "missing column",
        {"x.csv": csv(*(r.replace(",", ";") for r in GOOD), header=HEADER.replace(",", ";"))},
    ),
    Case("extra-field", imp(), "cannot parse CSV", {"x.csv": good_then(f"{T0 + 2 * H},111,115,108,109,3,7,8")}),
    Case("binary-garbage", imp(), "x.csv", {"x.csv": b"\xff\xfe\x00\x81garbage\x00\n\x9c"}),
    # --- timestamps: units, range, grid, spacing ----------------------------------------------------
    Case("epoch-seconds", imp(), "epoch SECONDS: multiply by 1000", {"x.csv": csv(*hourly(T0 // 1000, 3, H // 1000))}),
    Case("epoch-microseconds", imp(), "epoch MICROSECONDS", {"x.csv": csv(*hourly(T0 * 1000, 3, H * 1000))}),
    Case("epoch-nanoseconds", imp(), "epoch NANOSECONDS", {"x.csv": csv(*hourly(T0 * 1_000_000, 3, H * 1_000_000))}),
    Case("before-2009", imp(), "before 2009", {"x.csv": csv(*hourly(1_199_145_600_000))}),  # 2008-01-01
    Case("negative-ts", imp(), "before 2009", {"x.csv": csv(*hourly(-H * 10))}),
    Case("future-ts", imp(), "in the future", {"x.csv": future_rows}),
    Case("out-of-range-ts", imp(), "in the future", {"x.csv": good_then("100000000000000000000,111,115,108,109,3")}),
    Case(
        "out-of-range-negative", imp(), "before 2009", {"x.csv": good_then("-100000000000000000000,111,115,108,109,3")}
    ),
    Case("off-grid-17", imp(), "not on the 1h grid", {"x.csv": csv(*hourly(T0 + 17 * 60_000))}),
    Case("one-off-grid-row", imp(), "row 4", {"x.csv": csv(*GOOD[:2], *hourly(T0 + 2 * H + 17 * 60_000, 1))}),
    Case("daily-off-midnight", imp(tf="1d"), "not on the 1d grid", {"x.csv": csv(*hourly(T0 + H, 3, 86_400_000))}),
    Case(
        "1h-as-4h",
        imp("BTC_USDT-1h.csv.gz", "4h"),
        "typically 1h apart, not 4h",
        {"BTC_USDT-1h.csv.gz": lambda: bundled("BTC_USDT-1h.csv.gz")},
    ),
    Case(
        "4h-as-1h",
        imp("BTC_USDT-4h.csv.gz", "1h"),
        "typically 4h apart, not 1h",
        {"BTC_USDT-4h.csv.gz": lambda: bundled("BTC_USDT-4h.csv.gz")},
    ),
    Case(
        "1d-as-4h",
        imp("ETH_USDT-1d.csv.gz", "4h"),
        "typically 1d apart",
        {"ETH_USDT-1d.csv.gz": lambda: bundled("ETH_USDT-1d.csv.gz")},
    ),
    Case("30m-grid-as-1h", imp(), "typically 30m apart", {"x.csv": csv(*hourly(T0, 5, H // 2))}),
    # --- whole files ------------------------------------------------------------------------------------
    Case("header-only", imp(), "header but no rows", {"x.csv": csv()}),
    Case("empty-file", imp(), "empty file", {"x.csv": ""}),
    Case("truncated-gz", imp("x.csv.gz", "1d"), "truncated or corrupt gzip", {"x.csv.gz": truncated_gz}),
    Case("not-gzip", imp("x.csv.gz"), "x.csv.gz", {"x.csv.gz": csv(*GOOD)}),
    Case("file-not-found", imp("nope.csv"), "file not found"),
    Case(
        "path-is-directory",
        ["candles", "import", "{tmp}", "--symbol", "X/USDT", "--timeframe", "1h"],
        "directory",
        usage=True,
    ),
    # --- options ----------------------------------------------------------------------------------------
    Case(
        "unknown-timeframe-7m",
        imp(tf="7m"),
        "unknown timeframe '7m' (known: 1m, 5m, 15m, 30m, 1h, 4h, 1d)",
        {"x.csv": csv(*GOOD)},
    ),
    Case("timeframe-uppercase", imp(tf="1H"), "unknown timeframe '1H'", {"x.csv": csv(*GOOD)}),
    Case("symbol-without-slash", imp(symbol="XUSDT"), "BASE/QUOTE", {"x.csv": csv(*GOOD)}),
    Case("symbol-empty-quote", imp(symbol="X/"), "BASE/QUOTE", {"x.csv": csv(*GOOD)}),
    Case("symbol-too-long", imp(symbol="A" * 40 + "/USDT"), "BASE/QUOTE", {"x.csv": csv(*GOOD)}),
    Case("bad-exchange", [*imp(), "--exchange", "bin ance"], "exchange must be a ccxt id", {"x.csv": csv(*GOOD)}),
    Case(
        "missing-symbol-option",
        ["candles", "import", "{tmp}/x.csv", "--timeframe", "1h"],
        "--symbol",
        {"x.csv": csv(*GOOD)},
        usage=True,
    ),
    # --- folder import: all or nothing -------------------------------------------------------------------
    Case(
        "folder-one-bad-file",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "X_USDT-1h.csv",
        {"BTC_USDT-1d.csv.gz": lambda: bundled("BTC_USDT-1d.csv.gz"), "X_USDT-1h.csv": good_then("1,1,1,1,1,1")},
    ),
    Case(
        "folder-wrong-timeframe-in-name",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "typically 1h apart, not 4h",
        {
            "BTC_USDT-1d.csv.gz": lambda: bundled("BTC_USDT-1d.csv.gz"),
            "ETH_USDT-4h.csv.gz": lambda: bundled("ETH_USDT-1h.csv.gz"),
        },
    ),
    Case(
        "folder-unknown-timeframe-in-name",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "unknown timeframe '7m'",
        {"BTC_USDT-1d.csv.gz": lambda: bundled("BTC_USDT-1d.csv.gz"), "BTC_USDT-7m.csv": csv(*GOOD)},
    ),
    Case(
        "folder-truncated-gz",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "truncated or corrupt gzip",
        {"BTC_USDT-1d.csv.gz": truncated_gz, "ETH_USDT-1d.csv.gz": lambda: bundled("ETH_USDT-1d.csv.gz")},
    ),
    Case(
        "folder-header-only",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "header but no rows",
        {"X_USDT-1h.csv": csv()},
    ),
    Case("folder-missing", ["candles", "import-bundled", "--data-dir", "{tmp}/nope"], "directory not found"),
    Case(
        "folder-without-candle-files",
        ["candles", "import-bundled", "--data-dir", "{tmp}"],
        "no candle files",
        {"notes.txt": "hi"},
    ),
    # --- fetch (nothing reaches the network: every case fails before a request) ----------------------
    Case(
        "fetch-unknown-exchange",
        ["candles", "fetch", "--exchange", "nope", "--symbol", "BTC/USDT", "--timeframe", "1h"],
        "unknown exchange 'nope'",
    ),
    Case(
        "fetch-unknown-timeframe",
        ["candles", "fetch", "--symbol", "BTC/USDT", "--timeframe", "7m"],
        "unknown timeframe '7m'",
    ),
    Case("fetch-bad-symbol", ["candles", "fetch", "--symbol", "BTCUSDT", "--timeframe", "1h"], "BASE/QUOTE"),
    Case(
        "fetch-bad-since",
        ["candles", "fetch", "--symbol", "BTC/USDT", "--timeframe", "1h", "--since", "2020-13-45"],
        "not a date/time",
        usage=True,
    ),
    Case(
        "fetch-limit-zero",
        ["candles", "fetch", "--symbol", "BTC/USDT", "--timeframe", "1h", "--limit", "0"],
        "--limit",
        usage=True,
    ),
    # --- users -------------------------------------------------------------------------------------------
    Case("email-300-chars", user(email="a" * 290 + "@example.com"), "email address too long: 302 characters"),
    Case("email-not-an-address", user(email="not-an-email"), "not an email address"),
    Case("email-with-space", user(email="a b@example.com"), "not an email address"),
    Case("email-two-ats", user(email="a@b@example.com"), "not an email address"),
    Case("password-too-short", user(password="short"), "at least 8 characters"),
    Case("password-too-long", user(password="x" * 2000), "at most 1024 characters"),
    Case("tier-unknown", user(tier="gold"), "'gold' is not one of", usage=True),
    Case("user-duplicate", user(email="Taken@Example.com"), "already exists", setup=_existing_user),
    Case("users-missing-email", ["users", "create", "--password", "longenough"], "--email", usage=True),
    # --- patterns ----------------------------------------------------------------------------------------
    Case("scan-unknown-timeframe", ["patterns", "scan", "--timeframe", "7m"], "unknown timeframe '7m' (known:"),
    Case(
        "scan-unknown-symbol",
        ["patterns", "scan", "--symbol", "NOPE/USDT", "--timeframe", "1h"],
        "unknown symbol 'NOPE/USDT'",
    ),
    Case("duplicates-threshold-zero", ["patterns", "duplicates", "--threshold", "0"], "--threshold", usage=True),
]


def btc_daily() -> None:
    candle_store.import_csv(BUNDLED_DIR / "BTC_USDT-1d.csv.gz", symbol="BTC/USDT", timeframe="1d")


def opt(*args: str) -> list[str]:
    return ["optimize", "new", "--symbols", "BTC/USDT", *args]


# `flask optimize` (scripts/run_optimization.py shares these options): nothing may be created.
OPTIMIZE_CASES = [
    Case("optimize-end-not-a-date", opt("--end", "2020-13-45"), "end_date is not a date", setup=btc_daily),
    Case("optimize-start-not-a-date", opt("--start", "someday"), "start_date is not a date", setup=btc_daily),
    # Found by the API fuzzing: year 0 without --start made the lookback arithmetic overflow (a 500).
    Case("optimize-end-year-zero", opt("--end", "0000"), "end_date must be between 2009-01-01", setup=btc_daily),
    Case("optimize-start-too-early", opt("--start", "1999-01-01"), "start_date must be between", setup=btc_daily),
    Case(
        "optimize-start-after-end",
        opt("--start", "2024-06-01", "--end", "2024-01-01"),
        "after end_date",
        setup=btc_daily,
    ),
    Case("optimize-unknown-timeframe", opt("--timeframes", "7m"), "unknown timeframe(s): 7m", setup=btc_daily),
    Case("optimize-unstored-timeframe", opt("--timeframes", "4h"), "no candles", setup=btc_daily),
    Case("optimize-grid-null", opt("--grid", "null"), "must be a JSON object", usage=True, setup=btc_daily),
    Case("optimize-grid-not-json", opt("--grid", "{not json"), "not valid JSON", usage=True, setup=btc_daily),
    Case("optimize-grid-out-of-range", opt("--grid", '{"rr_target": [50]}'), "rr_target", setup=btc_daily),
    Case("optimize-grid-unknown-name", opt("--grid", '{"stop": [1]}'), "unknown grid parameter", setup=btc_daily),
    Case(
        "optimize-symbols-empty", ["optimize", "new", "--symbols", ",,"], "names nothing", usage=True, setup=btc_daily
    ),
    Case("optimize-unknown-symbol", ["optimize", "new", "--symbols", "DOGE/USDT"], "unknown symbol", setup=btc_daily),
    Case("optimize-unknown-strategy", opt("--strategies", "wyckoff"), "unknown strategy", setup=btc_daily),
    Case("optimize-workers-zero", opt("--workers", "0", "--run"), "--workers", usage=True, setup=btc_daily),
    Case("optimize-workers-negative", opt("--workers", "-1", "--run"), "--workers", usage=True, setup=btc_daily),
    Case("optimize-unknown-cost-preset", opt("--costs", "kraken"), "kraken", usage=True, setup=btc_daily),
    Case("optimize-negative-fee", opt("--maker-fee", "-1"), "maker_fee_pct must be in [0, 10)", setup=btc_daily),
    Case("optimize-validation-mode", opt("--validation", "k_fold"), "k_fold", usage=True, setup=btc_daily),
    Case("optimize-run-unknown-job", ["optimize", "run", "99"], "job 99 not found"),
    Case("optimize-status-unknown-job", ["optimize", "status", "99"], "job 99 not found"),
    Case("optimize-best-unknown-metric", ["optimize", "best", "--metric", "luck"], "unknown ranking metric"),
]
CASES += OPTIMIZE_CASES


def _counts(db) -> dict[str, int]:
    return {
        m.__tablename__: db.session.scalar(select(func.count()).select_from(m))
        for m in (Symbol, Candle, CandleSeries, User, OptimizationJob)
    }


def _write_files(tmp_path: Path, files: dict) -> None:
    for name, content in files.items():
        content = content() if callable(content) else content
        path = tmp_path / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_is_one_clear_line_exit_2_nothing_written(case: Case, runner, db, tmp_path):
    _write_files(tmp_path, case.files)
    if case.setup:
        case.setup()
    before = _counts(db)
    result = runner.invoke(args=[a.replace("{tmp}", str(tmp_path)) for a in case.args])
    assert result.exit_code == case.code, result.output
    # Never an uncaught exception (CliRunner would show it as exit 1 with result.exception set).
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    err_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.output
    if case.usage:
        assert err_lines[-1].startswith("Error: ")
    else:
        assert len(err_lines) == 1 and err_lines[0].startswith("Error: "), result.stderr
    assert case.expect in result.stderr, result.stderr
    db.session.expire_all()
    assert _counts(db) == before


PROCESS_CASES = [
    ("production-without-secret-key", {"CRYPTOLENS_ENV": "production"}, "SECRET_KEY"),
    ("production-without-database-url", {"CRYPTOLENS_ENV": "production", "SECRET_KEY": "s3cret"}, "DATABASE_URL"),
    ("unknown-environment", {"CRYPTOLENS_ENV": "staging"}, "CRYPTOLENS_ENV must be one of"),
    ("bad-log-level", {"LOG_LEVEL": "LOUD"}, "LOG_LEVEL must be one of"),
    ("bad-log-format", {"LOG_FORMAT": "xml"}, "LOG_FORMAT must be one of"),
    ("database-without-schema", {"DATABASE_URL": "sqlite:///{tmp}/empty.db"}, "run `flask db upgrade`"),
]


@pytest.mark.parametrize(("env", "expect"), [c[1:] for c in PROCESS_CASES], ids=[c[0] for c in PROCESS_CASES])
def test_flask_process_reports_bad_config_in_one_line_exit_2(env, expect, tmp_path):
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "DATABASE_URL", "CRYPTOLENS_ENV")}
    clean.update({k: v.replace("{tmp}", str(tmp_path)) for k, v in env.items()}, FLASK_APP="run.py")
    flask = Path(sys.executable).with_name("flask")
    proc = subprocess.run(
        [str(flask), "candles", "status"], cwd=REPO_ROOT, env=clean, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip().splitlines() == [proc.stderr.strip()], proc.stderr  # one line
    assert proc.stderr.startswith("Error: ") and expect in proc.stderr
    assert proc.stdout == ""


def test_the_regression_list_is_complete():
    """The count reported on the issue: grows, never shrinks (a case removed is a regression unguarded)."""
    ids = [c.id for c in CASES] + [c[0] for c in PROCESS_CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 98
