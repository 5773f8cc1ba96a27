"""Trading scripts (Pine Script strategies and indicators) of the community catalogue.

Full-text search needs engine-specific structures that a plain SQLAlchemy
table cannot describe: an FTS5 virtual table kept in sync by triggers on
SQLite, FULLTEXT indexes on MySQL/MariaDB. They are created here by DDL
events (so ``db.create_all()`` builds them) and by migration 0004 (which
executes the same statements); ``include_in_autogenerate`` keeps Alembic's
autogenerate from proposing to drop them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL, JSON, Boolean, Index, Integer, String, Text, event
from sqlalchemy.dialects.mysql import MEDIUMTEXT
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models._time import utcnow

SCRIPT_TYPES = ("strategy", "indicator")
TABLE = "trading_scripts"
FTS_TABLE = "trading_scripts_fts"
# MySQL ranks with one MATCH per column (title weighted above description), and a
# MATCH must name exactly the columns of one FULLTEXT index: hence three indexes.
MYSQL_FULLTEXT_INDEXES = {
    "ft_trading_scripts_title": ("title",),
    "ft_trading_scripts_description": ("description",),
    "ft_trading_scripts_text": ("title", "description"),
}

# Code can exceed MySQL's 64 KB TEXT; MEDIUMTEXT holds 16 MB.
LongText = Text().with_variant(MEDIUMTEXT(), "mysql", "mariadb")


class TradingScript(db.Model):
    """One Pine Script with what its code declares (inputs, indicators, signals) and its popularity."""

    __tablename__ = TABLE
    __table_args__ = (
        Index("ix_trading_scripts_likes", "likes"),
        Index("ix_trading_scripts_views", "views"),
        Index("ix_trading_scripts_strategy_type", "strategy_type"),
        Index("ix_trading_scripts_script_type", "script_type"),
        Index("ix_trading_scripts_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(String(300))
    author: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text, default="")
    code: Mapped[str] = mapped_column(LongText, default="")
    script_type: Mapped[str] = mapped_column(String(20))  # one of SCRIPT_TYPES
    strategy_type: Mapped[str | None] = mapped_column(String(50), default=None)
    is_open_source: Mapped[bool] = mapped_column(Boolean, default=True)
    likes: Mapped[int] = mapped_column(Integer, default=0)
    views: Mapped[int] = mapped_column(Integer, default=0)

    # Lists of names: extracted from the code, plus any the imported record declared.
    indicators: Mapped[list[str]] = mapped_column(JSON, default=list)
    signals: Mapped[list[str]] = mapped_column(JSON, default=list)
    timeframes: Mapped[list[str]] = mapped_column(JSON, default=list)
    # The code's inputs (name, type, default, title, limits), as extracted.
    parameters: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    # Free-form metadata from the imported record ("metadata" is reserved on declarative classes).
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    # The rest of the analysis (version, indicator calls with periods, what was skipped) and the declared lists.
    analysis: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    source_url: Mapped[str | None] = mapped_column(String(500), default=None)
    # sha256 of the imported record: re-importing an unchanged record writes nothing.
    content_hash: Mapped[str] = mapped_column(String(64), default="")

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<TradingScript {self.slug}>"


# ---------------------------------------------------------------- full-text structures, per dialect

SQLITE_FTS_DDL = (
    # External-content FTS5: the text lives once, in trading_scripts; the index refers to its ids.
    f"CREATE VIRTUAL TABLE IF NOT EXISTS {FTS_TABLE} USING fts5("
    f"title, description, content='{TABLE}', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ai AFTER INSERT ON {TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}(rowid, title, description) VALUES (new.id, new.title, new.description); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_ad AFTER DELETE ON {TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, description) "
    f"VALUES ('delete', old.id, old.title, old.description); END",
    f"CREATE TRIGGER IF NOT EXISTS {FTS_TABLE}_au AFTER UPDATE OF title, description ON {TABLE} BEGIN "
    f"INSERT INTO {FTS_TABLE}({FTS_TABLE}, rowid, title, description) "
    f"VALUES ('delete', old.id, old.title, old.description); "
    f"INSERT INTO {FTS_TABLE}(rowid, title, description) VALUES (new.id, new.title, new.description); END",
)
SQLITE_FTS_DROP = (f"DROP TABLE IF EXISTS {FTS_TABLE}",)
MYSQL_FULLTEXT_DDL = tuple(
    f"CREATE FULLTEXT INDEX {name} ON {TABLE} ({', '.join(columns)})"
    for name, columns in MYSQL_FULLTEXT_INDEXES.items()
)


def search_ddl(dialect_name: str) -> tuple[str, ...]:
    """Return the statements that create the full-text structures on this dialect (none if unsupported)."""
    if dialect_name == "sqlite":
        return SQLITE_FTS_DDL
    if dialect_name in ("mysql", "mariadb"):
        return MYSQL_FULLTEXT_DDL
    return ()


for _statement in SQLITE_FTS_DDL:
    event.listen(TradingScript.__table__, "after_create", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in SQLITE_FTS_DROP:
    event.listen(TradingScript.__table__, "before_drop", DDL(_statement).execute_if(dialect="sqlite"))
for _statement in MYSQL_FULLTEXT_DDL:
    event.listen(TradingScript.__table__, "after_create", DDL(_statement).execute_if(dialect=("mysql", "mariadb")))


def include_in_autogenerate(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Hide the full-text structures (FTS5 tables, FULLTEXT indexes) from Alembic autogenerate."""
    if type_ == "table" and reflected and name and name.startswith(FTS_TABLE):
        return False
    return not (type_ == "index" and reflected and name in MYSQL_FULLTEXT_INDEXES)
