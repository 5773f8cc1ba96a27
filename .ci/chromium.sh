#!/usr/bin/env bash
# Find (or install through apt) a Chromium for the browser tests (tests/routes/web/test_browser.py).
# Prints the browser's path on success; prints nothing (and returns 1) when none can be had,
# in which case the browser tests skip and the rest of the suite still runs.
set -uo pipefail

find_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome; }

if ! find_chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "==> installing chromium for the browser tests" >&2
  (timeout 600 apt-get update -qq && DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq chromium) \
    >/dev/null 2>&1
fi
find_chromium || exit 1
