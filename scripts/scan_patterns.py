#!/usr/bin/env python
"""Cron entry point: scan stored candles for new patterns and update statuses.

Usage: python scripts/scan_patterns.py [--symbol BTC/USDT] [--timeframe 1h] [--fetch]
Same as ``flask patterns scan``. Exit status (app/cli/errors.py): 0 done,
1 the exchange or database failed (retry), 2 bad input (unknown symbol or
timeframe, bad configuration), nothing written.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.cli.errors import run_script  # noqa: E402
from app.cli.patterns import scan_command  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    return run_script(scan_command, argv, prog_name="scan_patterns.py")


if __name__ == "__main__":
    sys.exit(main())
