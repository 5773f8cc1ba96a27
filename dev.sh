#!/usr/bin/env bash
# The two everyday commands (see README):
#   ./dev.sh run    set up, migrate, load the bundled demo data, start the optimizer worker and
#                   serve http://127.0.0.1:5000 (Ctrl-C stops both)
#   ./dev.sh test   set up, run the test suite
# Extra arguments after `test` go to pytest.
set -euo pipefail
cd "$(dirname "$0")"

PYTHON=${PYTHON:-python3}
VENV=.venv
export FLASK_APP=run.py

setup() {
  if [ ! -x "$VENV/bin/python" ]; then
    echo "==> creating virtual environment in $VENV"
    "$PYTHON" -m venv "$VENV"
  fi
  # Reinstall only when the requirements or the project's metadata changed since the last install.
  if [ ! -f "$VENV/.installed" ] || [ requirements.txt -nt "$VENV/.installed" ] || [ pyproject.toml -nt "$VENV/.installed" ]; then
    echo "==> installing requirements"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check -r requirements.txt
    # The project itself, editable: app/ importable from anywhere and the cron entry points installed.
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --editable .
    touch "$VENV/.installed"
  fi
}

case "${1:-}" in
  run)
    setup
    echo "==> migrating the database"
    "$VENV/bin/flask" db upgrade
    echo "==> preparing the demo (bundled candles, admin user)"
    "$VENV/bin/flask" demo prepare
    echo "==> scanning the bundled candles for patterns and signals (the dashboard's tables)"
    "$VENV/bin/flask" patterns scan >/dev/null
    echo "==> running the demo's QUICK optimization job"
    "$VENV/bin/flask" demo optimize
    echo "==> starting the optimizer worker (runs dashboard jobs within seconds)"
    "$VENV/bin/flask" optimize worker &
    worker=$!
    # Whatever ends the web server (Ctrl-C reaches both processes), the worker stops with it: SIGTERM
    # lets it store the slices in progress and release its job; a second Ctrl-C stops it at once.
    trap 'kill -TERM "$worker" 2>/dev/null; wait "$worker" 2>/dev/null' EXIT
    echo "==> serving on http://127.0.0.1:${PORT:-5000}"
    "$VENV/bin/flask" run --host 127.0.0.1 --port "${PORT:-5000}"
    ;;
  test)
    shift
    setup
    exec "$VENV/bin/pytest" "$@"
    ;;
  *)
    echo "usage: ./dev.sh run | ./dev.sh test [pytest args]" >&2
    exit 2
    ;;
esac
