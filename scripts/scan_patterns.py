#!/usr/bin/env python
"""Cron entry point: scan stored candles for patterns and signals (``app.cli.cron``; installed as ``scan-patterns``)."""

import sys

from app.cli.cron import scan_patterns as main

if __name__ == "__main__":
    sys.exit(main())
