#!/usr/bin/env python
"""Cron entry point: create and/or run optimization jobs (``app.cli.cron``; installed as ``run-optimization``)."""

import sys

from app.cli.cron import run_optimization as main

if __name__ == "__main__":
    sys.exit(main())
