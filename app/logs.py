"""Configure the standard library ``logging`` once per process, from ``LOG_LEVEL`` and ``LOG_FORMAT``.

Services log with ``logging.getLogger(__name__)`` (loggers under ``app.``) and
never configure anything themselves; ``create_app`` calls
``configure_logging`` once. One handler on the root logger writes to stderr
(plain text by default, one line per record: right for cron mail and log
files; ``LOG_FORMAT=json`` gives one JSON object per line for log shippers).
``LOG_LEVEL`` applies to the ``app`` loggers only, so library chatter (numba,
urllib3, ccxt) stays at WARNING. Calling it again (tests build many apps)
replaces our handler instead of adding a second one.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from config import ConfigError

LOG_FORMATS = ("text", "json")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class _StderrHandler(logging.StreamHandler):
    """Write to whatever ``sys.stderr`` is at emit time (test runners swap it), never a stale stream."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self):  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC ISO), level, logger, message, and the exception if any."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(*, level: str, fmt: str) -> logging.Handler:
    """Install (or replace) the app's stderr handler on the root logger and set the ``app`` level."""
    level_name = str(level).upper()
    if not isinstance(logging.getLevelName(level_name), int):
        raise ConfigError(f"LOG_LEVEL must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL, not '{level}'")
    if fmt not in LOG_FORMATS:
        raise ConfigError(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not '{fmt}'")
    handler = _StderrHandler()
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
    else:
        formatter = logging.Formatter(TEXT_FORMAT, "%Y-%m-%d %H:%M:%S")
    formatter.converter = time.gmtime  # log times in UTC, like every other time in the app
    handler.setFormatter(formatter)
    handler.set_name("cryptolens")
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == "cryptolens"]:
        root.removeHandler(old)
    root.addHandler(handler)
    logging.getLogger("app").setLevel(level_name)
    return handler
