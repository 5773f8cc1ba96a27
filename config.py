"""Configuration classes, read from environment variables with safe local defaults."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable app (missing secret, unknown setting value).

    ``run.py`` and ``app.cli.errors`` turn it into one ``Error: ...`` line and exit code 2.
    """


def _sqlite_url(name: str) -> str:
    return f"sqlite:///{INSTANCE_DIR / name}"


class Config:
    """Settings shared by every environment."""

    SECRET_KEY = os.environ.get("SECRET_KEY", "dev-only-not-secret")
    # create_app() replaces this with DATABASE_URL whenever that is set, in every config.
    SQLALCHEMY_DATABASE_URI = _sqlite_url("cryptolens.db")
    SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
    # Bundled candles imported by the demo; benchmarks read a larger directory.
    CANDLE_DATA_DIR = os.environ.get("CANDLE_DATA_DIR", str(BASE_DIR / "data" / "candles"))
    DEFAULT_EXCHANGE = os.environ.get("EXCHANGE", "binance")
    SCAN_TIMEFRAMES = os.environ.get("SCAN_TIMEFRAMES", "1h,4h,1d").split(",")
    # Optimizer: the weekly sweep's scope and the runner's limits.
    OPTIMIZE_TIMEFRAMES = os.environ.get("OPTIMIZE_TIMEFRAMES", "30m,1h,4h,1d").split(",")
    OPTIMIZE_LOOKBACK_DAYS = int(os.environ.get("OPTIMIZE_LOOKBACK_DAYS", "1825"))
    OPTIMIZER_WORKERS = int(os.environ.get("OPTIMIZER_WORKERS", "0")) or None  # None: one per CPU core
    OPTIMIZER_STALE_SECONDS = int(os.environ.get("OPTIMIZER_STALE_SECONDS", "600"))
    OPTIMIZER_MAX_RUNS_PER_JOB = int(os.environ.get("OPTIMIZER_MAX_RUNS_PER_JOB", "200000"))
    # Optimal-parameter service: how long a resolved parameter set is cached in each process (an apply, a
    # rollback or a preference change clears it at once in that process), how many entries it keeps, and the
    # age (days of data since the set's job ended) after which a production set is flagged stale.
    PARAMS_CACHE_TTL_SECONDS = int(os.environ.get("PARAMS_CACHE_TTL_SECONDS", "1800"))
    PARAMS_CACHE_SIZE = int(os.environ.get("PARAMS_CACHE_SIZE", "10000"))
    PARAMS_STALE_DAYS = int(os.environ.get("PARAMS_STALE_DAYS", "30"))
    # The auto-tuner's gate (docs/parameter-loop.md#the-gate): promote only what beats the luck of its trials.
    AUTOTUNE_MIN_DSR = float(os.environ.get("AUTOTUNE_MIN_DSR", "0.95"))
    AUTOTUNE_MAX_PBO = float(os.environ.get("AUTOTUNE_MAX_PBO", "0.2"))
    AUTOTUNE_REQUIRE_WALK_FORWARD = os.environ.get("AUTOTUNE_REQUIRE_WALK_FORWARD", "1") != "0"
    # The decay monitor (docs/outcomes.md#actions): `flask outcomes monitor` rolls an alarmed set back to the
    # previous set (logged) only when this is on; off, it only suggests.
    PARAMS_AUTO_ROLLBACK = os.environ.get("PARAMS_AUTO_ROLLBACK", "0") == "1"
    # Where slices are evaluated: "local" (process pool on this machine) or "dask" (the scheduler at
    # DASK_SCHEDULER_ADDRESS, e.g. tcp://10.0.0.5:8786; unset: a LocalCluster of OPTIMIZER_WORKERS processes).
    OPTIMIZER_EXECUTOR = os.environ.get("OPTIMIZER_EXECUTOR", "local")
    # How often the worker service (flask optimize worker) looks for a new or stale job, in seconds.
    OPTIMIZER_POLL_SECONDS = float(os.environ.get("OPTIMIZER_POLL_SECONDS", "5"))
    # Retention after the weekly sweep (scripts/run_optimization.py --new): keep every run of the newest N jobs
    # and/or of jobs younger than DAYS; older finished jobs keep only their slices' best runs. Unset: no pruning.
    OPTIMIZER_PRUNE_KEEP_LAST = (
        int(os.environ["OPTIMIZER_PRUNE_KEEP_LAST"]) if os.environ.get("OPTIMIZER_PRUNE_KEEP_LAST") else None
    )
    OPTIMIZER_PRUNE_OLDER_THAN_DAYS = (
        int(os.environ["OPTIMIZER_PRUNE_OLDER_THAN_DAYS"])
        if os.environ.get("OPTIMIZER_PRUNE_OLDER_THAN_DAYS")
        else None
    )
    DASK_SCHEDULER_ADDRESS = os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    # Logging (configured once in create_app): a level name, and "text" (default, for cron logs) or "json".
    LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
    LOG_FORMAT = os.environ.get("LOG_FORMAT", "text")
    # Flask-Limiter's storage: memory:// serves one process; several need a shared one (redis://host:6379).
    RATELIMIT_STORAGE_URI = os.environ.get("RATELIMIT_STORAGE_URI", "memory://")
    # Sign-in attempts per client address (Flask-Limiter syntax); failed and successful POSTs both count.
    LOGIN_RATE_LIMIT = os.environ.get("LOGIN_RATE_LIMIT", "10 per minute")
    # Session and remember-me cookies: never readable by scripts, not sent on cross-site POSTs.
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_HTTPONLY = True
    REMEMBER_COOKIE_SAMESITE = "Lax"
    RATELIMIT_HEADERS_ENABLED = True  # X-RateLimit-Limit / -Remaining / -Reset and Retry-After on every limited call
    # JSON API v1 (/api/v1): requests allowed per caller (a token, else the signed-in user, else the address)
    # by tier, in Flask-Limiter's syntax ("120/minute", "10/second;1000/hour").
    API_RATE_LIMITS = {
        "anonymous": os.environ.get("API_RATE_LIMIT_ANONYMOUS", "60/minute"),
        "free": os.environ.get("API_RATE_LIMIT_FREE", "120/minute"),
        "premium": os.environ.get("API_RATE_LIMIT_PREMIUM", "600/minute"),
        "admin": os.environ.get("API_RATE_LIMIT_ADMIN", "1200/minute"),
    }
    # Request bodies above this size are refused with 413 before they are read.
    API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(64 * 1024)))
    # The interactive API docs (/api/v1/docs) load only vendored assets (app/static/vendor/swagger-ui).
    SWAGGER_UI_CSS = "/static/vendor/swagger-ui/swagger-ui.css"
    SWAGGER_UI_BUNDLE_JS = "/static/vendor/swagger-ui/swagger-ui-bundle.js"
    SWAGGER_UI_STANDALONE_PRESET_JS = "/static/vendor/swagger-ui/swagger-ui-standalone-preset.js"
    DOCS_FAVICON = "/static/vendor/swagger-ui/favicon-32x32.png"
    TESTING = False


class DevelopmentConfig(Config):
    """Local development: SQLite file under instance/ unless DATABASE_URL is set."""

    DEBUG = True


class TestingConfig(Config):
    """Tests: in-memory SQLite unless DATABASE_URL is set (point it at a throw-away MySQL database), no CSRF."""

    TESTING = True
    SQLALCHEMY_DATABASE_URI = "sqlite://"
    WTF_CSRF_ENABLED = False
    SECRET_KEY = "testing"


class ProductionConfig(Config):
    """Production: SECRET_KEY and DATABASE_URL must come from the environment."""

    DEBUG = False
    # Cookies only over HTTPS in production (development serves plain http://127.0.0.1).
    SESSION_COOKIE_SECURE = True
    REMEMBER_COOKIE_SECURE = True

    @classmethod
    def check(cls) -> None:
        """Refuse to start without the settings production cannot guess."""
        missing = [name for name in ("SECRET_KEY", "DATABASE_URL") if not os.environ.get(name)]
        if missing:
            raise ConfigError(f"production config needs environment variable(s): {', '.join(missing)}")


CONFIGS = {
    "development": DevelopmentConfig,
    "testing": TestingConfig,
    "production": ProductionConfig,
}


def config_from_env() -> type[Config]:
    """Pick the config class named by CRYPTOLENS_ENV (default development)."""
    name = os.environ.get("CRYPTOLENS_ENV", "development")
    try:
        return CONFIGS[name]
    except KeyError:
        raise ConfigError(f"CRYPTOLENS_ENV must be one of {', '.join(CONFIGS)}, not '{name}'") from None
