"""WSGI entry point: ``flask --app run ...`` or any WSGI server loads ``app`` from here.

A configuration error (e.g. production without ``SECRET_KEY``) ends the process
with one ``Error: ...`` line on stderr and exit code 2, not a traceback: this
module is what ``flask`` imports before it runs any command.
"""

import sys

from app import create_app, finish_startup
from config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    print(f"Error: {exc}", file=sys.stderr)
    raise SystemExit(2) from None
finish_startup()
