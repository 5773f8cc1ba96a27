"""Flask extensions, created unbound and attached in create_app()."""

from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect
from sqlalchemy import MetaData, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase

# Explicit constraint names keep Alembic migrations identical on SQLite and MySQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
# Rate limits (sign-in attempts, the API per token and tier): storage from RATELIMIT_STORAGE_URI
# (in-memory by default; a shared URL such as redis://... when several server processes run).
limiter = Limiter(key_func=get_remote_address)


@event.listens_for(Engine, "connect")
def _sqlite_wal(dbapi_connection, connection_record) -> None:
    """SQLite files: write-ahead log, so the web server reads while the optimizer worker writes.

    WAL lets readers and one writer work at once (the default rollback journal
    blocks every reader during a write) and, with ``synchronous=NORMAL``,
    commits without an fsync each (the WAL is synced at checkpoints): a crash
    of the app loses nothing; a power cut may lose the last commits, never
    consistency. A busy writer makes others wait up to 15 s instead of failing.
    """
    if type(dbapi_connection).__module__ != "sqlite3":
        return
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA busy_timeout = 15000")
        if cursor.execute("PRAGMA database_list").fetchone()[2]:  # a file, not an in-memory database
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
    finally:
        cursor.close()
