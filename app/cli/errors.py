"""One way for every ``flask`` command and script to fail: ``Error: <one line>`` on stderr, a documented exit code.

Exit codes (docs/design-rules.md#exit-codes), the same for commands and cron scripts:

==  =========================================================================
0   done
1   partial failure, retrying may help (an exchange or the database did not
    answer, a slice failed)
2   bad input, nothing written (a bad file, row, option, email, config, an
    unknown symbol/job/timeframe, a database without the current schema)
3   busy: another process holds what was asked for (``ConflictError``)
==  =========================================================================

What is mapped (``error_for``): an ``AppError`` exits with its class's
``exit_code`` (``AppError``/``ValidationError``/``NotFoundError`` 2,
``ConflictError`` 3, ``AlreadyExistsError`` 2, ``CandleFetchError`` 1);
``config.ConfigError`` and the pure
``CandleValidationError`` -> 2; SQLAlchemy errors -> a one-line summary
(missing table -> 2 with a ``flask db upgrade`` hint, value too long or
invalid -> 2, connection failures -> 1). Click's own usage errors already
exit 2. Anything else is a bug and keeps its traceback.

How to use it (pick one; all share ``error_for``):

- a single command used on its own: ``@click.command("name", cls=CliCommand)``.
- a command group: create it as ``CliGroup("name", help=...)`` instead of
  ``AppGroup``; every sub-command (also ones added with ``add_command``) is
  covered, with no try/except in the commands. For ``flask optimize``::

      optimize_cli = CliGroup("optimize", help=...)   # and drop the per-command
                                                      # ``except AppError`` blocks

- a script that runs a click command::

      def main(argv=None) -> int:
          return run_script(scan_command, argv, prog_name="scan_patterns.py")

  ``run_script`` builds the app (a ``ConfigError`` such as a production start
  without ``SECRET_KEY`` becomes exit 2), runs the command in an app context
  and returns the exit code (``sys.exit(main())``).
- a script with its own parser (argparse), or any other block::

      try:
          with cli_errors():
              ...                       # build the app, do the work
      except click.ClickException as exc:
          return report(exc)            # prints "Error: ...", returns 1/2/3
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import click
from flask.cli import AppGroup
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, OperationalError, ProgrammingError

from app.core.candles import CandleValidationError
from app.errors import AppError
from config import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_BUSY = 0, 1, 2, 3

_MISSING_TABLE_HINTS = ("no such table", "doesn't exist", "does not exist", "unknown column", "no such column")


class CliError(click.ClickException):
    """A ClickException with the exit code of the error it stands for; shows ``Error: <message>`` on stderr."""

    def __init__(self, message: str, *, exit_code: int = EXIT_BAD_INPUT):
        super().__init__(_one_line(message))
        self.exit_code = exit_code


def error_for(exc: BaseException) -> CliError | None:
    """Return the CliError (message and exit code) for a known error, or None for a bug."""
    if isinstance(exc, AppError):
        return CliError(exc.message, exit_code=exc.exit_code)
    if isinstance(exc, (ConfigError, CandleValidationError)):
        return CliError(str(exc), exit_code=EXIT_BAD_INPUT)
    if isinstance(exc, DBAPIError):
        detail = _one_line(str(exc.orig) if exc.orig is not None else str(exc))
        if isinstance(exc, (OperationalError, ProgrammingError)) and any(
            hint in detail.lower() for hint in _MISSING_TABLE_HINTS
        ):
            return CliError(f"the database schema is missing or out of date ({detail}); run `flask db upgrade`")
        if isinstance(exc, (DataError, IntegrityError)):
            return CliError(f"the database refused a value ({detail})")
        if isinstance(exc, OperationalError):
            return CliError(f"database error, nothing more was written ({detail})", exit_code=EXIT_FAILED)
    return None


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn known errors raised inside the block into ``CliError`` (see ``error_for``); let bugs through."""
    try:
        yield
    except Exception as exc:
        error = error_for(exc)
        if error is None:
            raise
        raise error from None


def report(exc: click.ClickException) -> int:
    """Print a ClickException the click way (``Error: ...`` on stderr) and return its exit code."""
    exc.show()
    return exc.exit_code


class CliGroup(AppGroup):
    """A ``flask`` command group whose sub-commands report errors through ``cli_errors``."""

    def invoke(self, ctx: click.Context):
        with cli_errors():
            return super().invoke(ctx)


class CliCommand(click.Command):
    """A single click command reporting errors through ``cli_errors`` (``@click.command(cls=CliCommand)``).

    For commands that are also invoked on their own (tests, scripts), outside a ``CliGroup``.
    """

    def invoke(self, ctx: click.Context):
        with cli_errors():
            return super().invoke(ctx)


def run_script(command: click.Command, argv: Sequence[str] | None, *, prog_name: str) -> int:
    """Run a click ``command`` as a script (cron): build the app, run it in an app context, return the exit code."""
    from app import create_app, finish_startup

    try:
        with cli_errors():
            app = create_app()
            finish_startup()
            with app.app_context():
                # Without standalone mode click returns an ``Exit``'s code instead of raising it.
                code = command.main(
                    args=list(argv) if argv is not None else None, prog_name=prog_name, standalone_mode=False
                )
    except click.ClickException as exc:
        return report(exc)
    except click.exceptions.Abort:
        click.echo("Error: aborted", err=True)
        return EXIT_FAILED
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_FAILED
    return code if isinstance(code, int) else EXIT_OK


def _one_line(message: str) -> str:
    lines = [line.strip() for line in str(message).strip().splitlines() if line.strip()]
    return lines[0] if lines else "unknown error"
