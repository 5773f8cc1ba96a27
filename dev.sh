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

# Whether numba's on-disk cache holds kernels of each folder that has some (NUMBA_CACHE_DIR when set, else the
# __pycache__ folders beside the modules).
numba_cache_present() {
  if [ -n "${NUMBA_CACHE_DIR:-}" ]; then
    find "$NUMBA_CACHE_DIR" -name '*.nbi' -print -quit 2>/dev/null | grep -q .
    return
  fi
  local dir
  for dir in app/core app/core/patterns app/strategies app/evaluation/validation; do
    compgen -G "$dir/__pycache__/*.nbi" >/dev/null || return 1
  done
}

setup() {
  local installed=0
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
    installed=1
  fi
  # Every kernel compiled once into numba's on-disk cache (about 15 s), after an install or when the cache is
  # missing: a fresh process (cron, a new worker) then loads them instead of compiling. Numba refreshes a
  # kernel whose source changed by itself, on its next call.
  if [ "$installed" = 1 ] || ! numba_cache_present; then
    echo "==> compiling the numba kernels into their on-disk cache (flask warm)"
    "$VENV/bin/flask" warm || echo "    warm-up failed: numba compiles each kernel on first use instead" >&2
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
