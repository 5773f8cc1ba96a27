"""``flask`` sub-commands; each group is thin and calls one service."""

from flask import Flask


def register_cli(app: Flask) -> None:
    """Attach every command group to ``app``."""
    from app.cli.candles import candles_cli
    from app.cli.demo import demo_cli
    from app.cli.optimize import optimize_cli
    from app.cli.outcomes import outcomes_cli
    from app.cli.params import params_cli
    from app.cli.patterns import patterns_cli
    from app.cli.scripts import scripts_cli
    from app.cli.users import users_cli
    from app.cli.warm import warm_command

    app.cli.add_command(candles_cli)
    app.cli.add_command(demo_cli)
    app.cli.add_command(optimize_cli)
    app.cli.add_command(outcomes_cli)
    app.cli.add_command(params_cli)
    app.cli.add_command(patterns_cli)
    app.cli.add_command(scripts_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(warm_command)
