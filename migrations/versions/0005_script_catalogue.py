"""script catalogue: trading_scripts with full-text search (SQLite FTS5, MySQL FULLTEXT)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24 19:30:00

Self-contained: it creates one table and its search structures and touches
nothing else, so it can be re-pointed after any other revision.
"""
from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

TABLE = 'trading_scripts'
FTS_TABLE = 'trading_scripts_fts'

# The same statements app/models/trading_script.py runs after db.create_all(), frozen here
# so that later model edits cannot change what this revision did.
SQLITE_FTS_DDL = (
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
MYSQL_FULLTEXT_INDEXES = {
    'ft_trading_scripts_title': ('title',),
    'ft_trading_scripts_description': ('description',),
    'ft_trading_scripts_text': ('title', 'description'),
}


def upgrade():
    op.create_table(TABLE,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=300), nullable=False),
    sa.Column('author', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('code', sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb'), nullable=False),
    sa.Column('script_type', sa.String(length=20), nullable=False),
    sa.Column('strategy_type', sa.String(length=50), nullable=True),
    sa.Column('is_open_source', sa.Boolean(), nullable=False),
    sa.Column('likes', sa.Integer(), nullable=False),
    sa.Column('views', sa.Integer(), nullable=False),
    sa.Column('indicators', sa.JSON(), nullable=False),
    sa.Column('signals', sa.JSON(), nullable=False),
    sa.Column('timeframes', sa.JSON(), nullable=False),
    sa.Column('parameters', sa.JSON(), nullable=False),
    sa.Column('metadata', sa.JSON(), nullable=False),
    sa.Column('analysis', sa.JSON(), nullable=False),
    sa.Column('source_url', sa.String(length=500), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_trading_scripts')),
    sa.UniqueConstraint('slug', name=op.f('uq_trading_scripts_slug'))
    )
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.create_index('ix_trading_scripts_created_at', ['created_at'], unique=False)
        batch_op.create_index('ix_trading_scripts_likes', ['likes'], unique=False)
        batch_op.create_index('ix_trading_scripts_script_type', ['script_type'], unique=False)
        batch_op.create_index('ix_trading_scripts_strategy_type', ['strategy_type'], unique=False)
        batch_op.create_index('ix_trading_scripts_views', ['views'], unique=False)

    dialect = op.get_bind().dialect.name
    if dialect == 'sqlite':
        for statement in SQLITE_FTS_DDL:
            op.execute(statement)
    elif dialect in ('mysql', 'mariadb'):
        for name, columns in MYSQL_FULLTEXT_INDEXES.items():
            op.execute(f"CREATE FULLTEXT INDEX {name} ON {TABLE} ({', '.join(columns)})")


def downgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute(f"DROP TABLE IF EXISTS {FTS_TABLE}")  # its triggers go with trading_scripts
    with op.batch_alter_table(TABLE, schema=None) as batch_op:
        batch_op.drop_index('ix_trading_scripts_views')
        batch_op.drop_index('ix_trading_scripts_strategy_type')
        batch_op.drop_index('ix_trading_scripts_script_type')
        batch_op.drop_index('ix_trading_scripts_likes')
        batch_op.drop_index('ix_trading_scripts_created_at')

    op.drop_table(TABLE)
