"""Logging is configured once by create_app from LOG_LEVEL / LOG_FORMAT."""

import json
import logging

import pytest

from app import create_app
from app.logs import configure_logging
from config import ConfigError, TestingConfig


def _ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if h.get_name() == "cryptolens"]


def test_create_app_installs_one_handler_and_the_level(monkeypatch):
    monkeypatch.setenv("LOG_LEVEL", "warning")
    create_app(TestingConfig)
    create_app(TestingConfig)
    assert len(_ours()) == 1
    assert logging.getLogger("app").level == logging.WARNING
    monkeypatch.setenv("LOG_LEVEL", "INFO")
    create_app(TestingConfig)
    assert logging.getLogger("app").level == logging.INFO


def test_text_format_is_one_plain_line(capsys):
    configure_logging(level="INFO", fmt="text")
    logging.getLogger("app.services.demo").info("imported %d candles", 3)
    line = capsys.readouterr().err.strip()
    assert line.endswith("INFO app.services.demo: imported 3 candles")


def test_json_format_is_one_object_per_line(capsys):
    configure_logging(level="INFO", fmt="json")
    try:
        logging.getLogger("app.services.demo").info("imported %d candles", 3)
        entry = json.loads(capsys.readouterr().err.strip())
    finally:
        configure_logging(level="INFO", fmt="text")
    assert entry["message"] == "imported 3 candles" and entry["level"] == "INFO"
    assert entry["logger"] == "app.services.demo" and entry["time"].endswith("Z")


@pytest.mark.parametrize(("level", "fmt"), [("LOUD", "text"), ("INFO", "xml")])
def test_bad_logging_config_is_a_config_error(level, fmt):
    with pytest.raises(ConfigError):
        configure_logging(level=level, fmt=fmt)
