"""CryptoLens application factory.

Flask is imported inside the functions, not at module level, so that the pure
computation modules under ``app.services`` can be imported (by worker
processes, benchmarks, notebooks) without loading the web stack.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from config import Config, ProductionConfig, config_from_env

if TYPE_CHECKING:
    from flask import Flask


def create_app(config_class: type[Config] | None = None) -> Flask:
    """Build the app: config, logging, extensions, models, blueprints, CLI and error handlers.

    Raises ``config.ConfigError`` when the environment cannot run the app (e.g.
    production without ``SECRET_KEY``); ``run.py`` and ``app.cli.errors.run_script``
    turn it into one line and exit code 2.
    """
    from apiflask import APIFlask

    config_class = config_class or config_from_env()
    if issubclass(config_class, ProductionConfig):
        config_class.check()
    # APIFlask is Flask plus the OpenAPI spec of the JSON API (only APIBlueprint views are in it);
    # json_errors off: app.errors renders every error, pages keep their HTML ones.
    app = APIFlask(
        __name__,
        instance_relative_config=True,
        title="CryptoLens API",
        version="v1",
        spec_path="/api/v1/openapi.json",
        docs_path="/api/v1/docs",
        json_errors=False,
    )
    app.config.from_object(config_class)
    # Read secrets at creation time so every config honours them, whenever they were set.
    if os.environ.get("DATABASE_URL"):
        app.config["SQLALCHEMY_DATABASE_URI"] = os.environ["DATABASE_URL"]
    if os.environ.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = os.environ["SECRET_KEY"]
    for name in ("LOG_LEVEL", "LOG_FORMAT"):
        if os.environ.get(name):
            app.config[name] = os.environ[name]
    os.makedirs(app.instance_path, exist_ok=True)

    from app.logs import configure_logging

    configure_logging(level=app.config["LOG_LEVEL"], fmt=app.config["LOG_FORMAT"])

    _init_extensions(app)
    _register_blueprints(app)
    _register_cli(app)
    from app.errors import register_error_handlers

    register_error_handlers(app)
    return app


def finish_startup() -> None:
    """Pay a process's one-off costs now, at start-up, instead of inside the first thing it does.

    - numba's compiler contexts (``prepare_compiler``): the first kernel loaded from the on-disk
      cache would otherwise import numba's typing and lowering library (~0.2 s) inside a cron
      run's or a fresh worker's first job;
    - the garbage collector: a process holds some 330,000 objects once the app is built; frozen,
      they stay out of later passes, whose first full one (~0.15 s) would land in that job too.

    The entry points (``run.py``, the cron scripts) call it once the app exists; ``create_app``
    does not (the tests build hundreds of apps, whose garbage must stay collectable).
    """
    import gc

    from app.core.jit import prepare_compiler

    prepare_compiler()
    gc.freeze()


def _init_extensions(app: Flask) -> None:
    from app import models  # noqa: F401  (register every table on the metadata)
    from app.extensions import csrf, db, limiter, login_manager, migrate

    db.init_app(app)
    from app.models.trading_script import include_in_autogenerate

    migrate.init_app(
        app,
        db,
        directory=os.path.join(os.path.dirname(os.path.dirname(__file__)), "migrations"),
        render_as_batch=True,
        # Full-text structures (FTS5 tables, FULLTEXT indexes) are made by DDL, not described by models.
        include_object=include_in_autogenerate,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    from app.routes.api.base import load_user_from_request, reset_request_state

    app.before_request(reset_request_state)  # before the limiter's check, which asks who is calling
    limiter.init_app(app)

    @login_manager.user_loader
    def load_user(user_id: str):
        return db.session.get(models.User, int(user_id))

    login_manager.request_loader(load_user_from_request)


def _register_blueprints(app: Flask) -> None:
    from app.routes.admin import bp as admin_bp
    from app.routes.api import register_api
    from app.routes.auth import bp as auth_bp
    from app.routes.filters import bp as filters_bp
    from app.routes.main import bp as main_bp
    from app.routes.optimization import bp as optimization_bp
    from app.routes.preferences import bp as preferences_bp
    from app.routes.scripts import bp as scripts_bp

    for blueprint in (filters_bp, main_bp, auth_bp, optimization_bp, admin_bp, preferences_bp):
        app.register_blueprint(blueprint)
    app.register_blueprint(scripts_bp)
    register_api(app)


def _register_cli(app: Flask) -> None:
    from app.cli import register_cli

    register_cli(app)
