#!/usr/bin/env python
"""Cron entry point: scan stored candles for new patterns and update statuses.

Usage: python scripts/scan_patterns.py [--symbol BTC/USDT] [--timeframe 1h] [--fetch]
Same as ``flask patterns scan``; exits non-zero on failure.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app import create_app  # noqa: E402
from app.cli.patterns import scan_command  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    app = create_app()
    with app.app_context():
        try:
            scan_command.main(args=argv, prog_name="scan_patterns.py", standalone_mode=False)
        except click.ClickException as exc:
            exc.show()
            return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
