"""The trading-script catalogue: import/export, analysis, full-text search and statistics.

One service behind the CLI (``flask scripts ...``), the pages (``/scripts``)
and the API (``/api/v1/scripts/...``). Search uses the database's own
full-text engine: SQLite FTS5 ranked by bm25 with the title weighted above
the description, or MySQL/MariaDB FULLTEXT with one MATCH per column, weighted
the same way. User text never reaches either engine's query syntax: it is cut
into word tokens, each quoted, so ``"``, ``*``, ``NEAR(``, ``-`` or SQL
metacharacters are only ever words or nothing.
"""

from __future__ import annotations

import multiprocessing
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, column, func, literal_column, or_, select, table, text, update
from sqlalchemy.dialects.mysql import match as mysql_match
from sqlalchemy.exc import IntegrityError

from app.core.pine_script import PineAnalysis, analyze, analyze_chunk, period_signature
from app.core.script_records import (
    SCRIPT_TYPES,
    RecordError,
    RecordErrors,
    ScriptRecord,
    analysis_columns,
    build_row,
    parse_jsonl,
)
from app.errors import ConflictError, NotFoundError, ValidationError
from app.extensions import db
from app.models import TradingScript
from app.models._time import utcnow
from app.models.trading_script import FTS_TABLE
from app.services.optimizer.results import best_params

SORTS = ("relevance", "likes", "views", "newest")
MAX_LIMIT = 100
MAX_QUERY_CHARS = 200
MAX_QUERY_TOKENS = 12
# A title hit counts this many times a description hit (bm25 column weights / MATCH multipliers).
TITLE_WEIGHT = 10.0
DESCRIPTION_WEIGHT = 1.0
# InnoDB's default innodb_ft_min_token_size: shorter words are not indexed, so they cannot be required.
MYSQL_MIN_TOKEN = 3
_BATCH = 500
# Imports this large analyze their Pine code in worker processes (a 50,000-script catalogue: about 2x).
PARALLEL_ANALYSIS_FROM = 5000
MAX_ANALYSIS_WORKERS = 4
_FILTER_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_FILTER_WORD = re.compile(r"[a-z0-9][a-z0-9_-]{0,49}")
_TOKEN = re.compile(r"\w+", re.UNICODE)

# (strategy name in optimizer results, indicator in the catalogue, parameter name fragments in order)
INSIGHT_STRATEGIES = (
    ("macd", "macd", ("fast", "slow", "signal")),
    ("ema_cross", "ema", ("fast", "slow")),
)


# ---------------------------------------------------------------- import / export / analyze


@dataclass
class ImportResult:
    """What an import did: lines read, scripts created, updated, and left as they were."""

    received: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped_notes: int = 0  # things the Pine analysis could not read (never an error)


def import_jsonl(path_or_lines: str | Iterable[str]) -> ImportResult:
    """Import a JSONL catalogue: validate every line, then upsert by slug in one transaction.

    Raises ValidationError (naming line and field) before anything is written
    when any line is bad; an import either stores every script or none.
    """
    if isinstance(path_or_lines, str):
        try:
            with open(path_or_lines, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"cannot read {path_or_lines}: {exc}") from None
    else:
        lines = list(path_or_lines)
    try:
        records = parse_jsonl(lines)
    except RecordErrors as exc:
        raise ValidationError(str(exc), details=[str(e) for e in exc.errors]) from None
    result = ImportResult(received=len(records))
    now = utcnow()
    inserts, updates, errors = [], [], []
    try:
        stored = _stored_hashes([record.slug for record in records])
        changed = []
        for record in records:
            digest = record.content_hash()
            script_id, stored_digest = stored.get(record.slug, (None, None))
            if digest == stored_digest:
                result.unchanged += 1  # unchanged: not even re-analyzed
            else:
                changed.append((record, digest, script_id))
        analyses = analyze_many([record.code for record, _, _ in changed])
        for (record, digest, script_id), analysis in zip(changed, analyses, strict=True):
            try:
                row = build_row(record, analysis, content_hash=digest)
            except RecordError as exc:
                errors.append(exc)
                continue
            result.skipped_notes += len(row["analysis"]["skipped"])
            if script_id is None:
                inserts.append({**row, "created_at": now, "updated_at": now})
            else:
                updates.append({**row, "id": script_id, "updated_at": now})
        if errors:
            raise ValidationError(str(RecordErrors(errors)), details=[str(e) for e in errors])
        table_ = TradingScript.__table__
        for batch in _chunks(inserts, 2000):
            # Core executemany: the ORM's bulk path costs more than the inserts themselves at 50,000 rows.
            db.session.execute(table_.insert(), [_columns(row) for row in batch])
        for batch in _chunks(updates, 2000):
            db.session.execute(update(TradingScript), batch)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        raise ConflictError("another import changed the catalogue at the same time; run the import again") from None
    except BaseException:
        db.session.rollback()
        raise
    result.inserted, result.updated = len(inserts), len(updates)
    return result


def analyze_many(codes: list[str]) -> list[PineAnalysis]:
    """Analyze many scripts, in worker processes when there are enough to repay starting them."""
    workers = min(os.cpu_count() or 1, MAX_ANALYSIS_WORKERS)
    if len(codes) < PARALLEL_ANALYSIS_FROM or workers < 2:
        return [analyze(code) for code in codes]
    chunks = list(_chunks(codes, max(500, len(codes) // (workers * 4))))
    # Like the optimizer: fork where available (children run only the pure analyzer, never the app).
    context = multiprocessing.get_context("fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        return [analysis for chunk in pool.map(analyze_chunk, chunks) for analysis in chunk]


def _stored_hashes(slugs: list[str]) -> dict[str, tuple[int, str]]:
    stored: dict[str, tuple[int, str]] = {}
    for batch in _chunks(slugs, _BATCH):
        query = select(TradingScript.slug, TradingScript.id, TradingScript.content_hash).where(
            TradingScript.slug.in_(batch)
        )
        stored.update((slug, (script_id, digest)) for slug, script_id, digest in db.session.execute(query))
    return stored


def _columns(row: dict[str, Any]) -> dict[str, Any]:
    """Map attribute names to column names (the ``meta`` attribute is the ``metadata`` column)."""
    row = dict(row)
    row["metadata"] = row.pop("meta")
    return row


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def export_records() -> Iterator[dict[str, Any]]:
    """Yield every script as an import record (slug order); importing the output changes nothing."""
    last_slug = ""
    while True:
        scripts = db.session.scalars(
            select(TradingScript).where(TradingScript.slug > last_slug).order_by(TradingScript.slug).limit(_BATCH)
        ).all()
        if not scripts:
            return
        for script in scripts:
            yield _record_of(script)
        last_slug = scripts[-1].slug
        db.session.expunge_all()


def _record_of(script: TradingScript) -> dict[str, Any]:
    analysis = script.analysis or {}
    return ScriptRecord(
        line=0,
        slug=script.slug,
        title=script.title,
        author=script.author,
        description=script.description,
        code=script.code,
        script_type=script.script_type,
        strategy_type=script.strategy_type,
        is_open_source=script.is_open_source,
        likes=script.likes,
        views=script.views,
        indicators=list(analysis.get("declared_indicators", [])),
        signals=list(analysis.get("declared_signals", [])),
        timeframes=list(script.timeframes or []),
        source_url=script.source_url,
        metadata=dict(script.meta or {}),
    ).to_json_dict()


@dataclass
class AnalyzeResult:
    """What ``analyze_all`` did: scripts analyzed, scripts whose stored analysis changed, skip notes."""

    analyzed: int = 0
    changed: int = 0
    skipped_notes: int = 0


def analyze_all() -> AnalyzeResult:
    """Re-run the Pine analysis on every stored script and store what changed (one transaction)."""
    result = AnalyzeResult()
    last_id = 0
    changes = []
    try:
        while True:
            batch = db.session.execute(
                select(
                    TradingScript.id,
                    TradingScript.code,
                    TradingScript.indicators,
                    TradingScript.signals,
                    TradingScript.parameters,
                    TradingScript.analysis,
                )
                .where(TradingScript.id > last_id)
                .order_by(TradingScript.id)
                .limit(_BATCH)
            ).all()
            if not batch:
                break
            for script_id, code, indicators, signals, parameters, stored in batch:
                stored = stored or {}
                analysis = analyze(code)
                columns = analysis_columns(
                    analysis,
                    declared_indicators=stored.get("declared_indicators", []),
                    declared_signals=stored.get("declared_signals", []),
                )
                result.analyzed += 1
                result.skipped_notes += len(analysis.skipped)
                if (columns["indicators"], columns["signals"], columns["parameters"], columns["analysis"]) != (
                    indicators,
                    signals,
                    parameters,
                    stored,
                ):
                    changes.append({"id": script_id, **columns})
            last_id = batch[-1][0]
        for chunk in _chunks(changes, 2000):
            db.session.execute(update(TradingScript), chunk)
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    result.changed = len(changes)
    return result


# ---------------------------------------------------------------- one script


def get_script(slug: str) -> TradingScript:
    """Return the script with this slug or raise NotFoundError."""
    script = db.session.scalar(select(TradingScript).where(TradingScript.slug == slug))
    if script is None:
        raise NotFoundError(f"no script with slug '{slug[:200]}'")
    return script


def script_detail(slug: str) -> dict[str, Any]:
    """Return one script as JSON-ready data: record, indicator/signal names and extracted inputs."""
    script = get_script(slug)
    analysis = script.analysis or {}
    return {
        "slug": script.slug,
        "title": script.title,
        "author": script.author,
        "description": script.description,
        "script_type": script.script_type,
        "strategy_type": script.strategy_type,
        "is_open_source": script.is_open_source,
        "likes": script.likes,
        "views": script.views,
        "indicators": list(script.indicators or []),
        "signals": list(script.signals or []),
        "timeframes": list(script.timeframes or []),
        "parameters": list(script.parameters or []),
        "indicator_periods": [
            {"indicator": call["name"], "periods": call["periods"], "line": call["line"]}
            for call in analysis.get("indicator_calls", [])
        ],
        "pine_version": analysis.get("version"),
        "analysis_skipped": list(analysis.get("skipped", [])),
        "metadata": dict(script.meta or {}),
        "source_url": script.source_url,
        "code": script.code,
        "created_at": _iso(script.created_at),
        "updated_at": _iso(script.updated_at),
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() + "Z" if value else None


# ---------------------------------------------------------------- search


@dataclass(frozen=True)
class SearchParams:
    """A validated search: words, filters, sort and page (the same for CLI, pages and API)."""

    query: str = ""
    script_type: str | None = None
    strategy_type: str | None = None
    indicator: str | None = None
    timeframe: str | None = None
    open_source: bool | None = None
    sort: str = "relevance"
    limit: int = 20
    offset: int = 0

    @property
    def tokens(self) -> list[str]:
        """The query's words, lowercased: the only part of user text a search engine sees."""
        return [t[:40] for t in _TOKEN.findall(self.query.lower())][:MAX_QUERY_TOKENS]


def parse_search_params(args: Mapping[str, Any]) -> SearchParams:
    """Validate request-style arguments (strings) into SearchParams; raise ValidationError naming the field."""
    errors: dict[str, str] = {}
    unknown = sorted(set(args) - {"query", "q", "script_type", "strategy_type", "indicator", "timeframe"} - _PAGING)
    for name in unknown:
        errors[name] = "unknown parameter"
    query = str(args.get("query", args.get("q", "")) or "")
    if len(query) > MAX_QUERY_CHARS:
        errors["query"] = f"at most {MAX_QUERY_CHARS} characters"

    def choice(name: str, allowed: tuple[str, ...] | None = None, pattern: re.Pattern | None = None) -> str | None:
        value = args.get(name)
        if value in (None, ""):
            return None
        value = str(value).strip().lower()
        if (allowed and value not in allowed) or (pattern and not pattern.fullmatch(value)):
            errors[name] = f"must be one of {', '.join(allowed)}" if allowed else "not a valid name"
            return None
        return value

    def integer(name: str, default: int, low: int, high: int) -> int:
        value = args.get(name)
        if value in (None, ""):
            return default
        try:
            number = int(str(value))
        except ValueError:
            errors[name] = f"must be a whole number from {low} to {high}"
            return default
        if not low <= number <= high:
            errors[name] = f"must be from {low} to {high}"
            return default
        return number

    open_source = args.get("open_source")
    if open_source in (None, ""):
        open_flag = None
    elif str(open_source).lower() in ("1", "true", "yes"):
        open_flag = True
    elif str(open_source).lower() in ("0", "false", "no"):
        open_flag = False
    else:
        errors["open_source"] = "must be true or false"
        open_flag = None
    params = SearchParams(
        query=query.strip(),
        script_type=choice("script_type", SCRIPT_TYPES),
        strategy_type=choice("strategy_type", pattern=_FILTER_WORD),
        indicator=choice("indicator", pattern=_FILTER_NAME),
        timeframe=_timeframe(args.get("timeframe"), errors),
        open_source=open_flag,
        sort=choice("sort", SORTS) or "relevance",
        limit=integer("limit", 20, 1, MAX_LIMIT),
        offset=integer("offset", 0, 0, 100_000),
    )
    if errors:
        first = next(iter(errors))
        raise ValidationError(f"{first}: {errors[first]}", details=errors)
    return params


_PAGING = frozenset({"open_source", "sort", "limit", "offset", "page"})


def _timeframe(value: Any, errors: dict[str, str]) -> str | None:
    if value in (None, ""):
        return None
    value = str(value).strip()
    if not re.fullmatch(r"[1-9][0-9]{0,2}[mhdwM]", value):
        errors["timeframe"] = "must be a timeframe like 5m, 1h, 4h, 1d"
        return None
    return value


@dataclass
class SearchHit:
    """One search result; ``score`` is the engine's relevance (higher is better; 0 without words)."""

    slug: str
    title: str
    author: str
    script_type: str
    strategy_type: str | None
    is_open_source: bool
    likes: int
    views: int
    indicators: list[str]
    timeframes: list[str]
    description: str
    created_at: str | None
    score: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class SearchPage:
    """One page of hits (best first) and how many scripts match in all."""

    params: SearchParams
    hits: list[SearchHit] = field(default_factory=list)
    total: int = 0

    def to_dict(self) -> dict[str, Any]:
        p = self.params
        return {
            "query": p.query,
            "filters": {
                "script_type": p.script_type,
                "strategy_type": p.strategy_type,
                "indicator": p.indicator,
                "timeframe": p.timeframe,
                "open_source": p.open_source,
            },
            "sort": p.sort,
            "limit": p.limit,
            "offset": p.offset,
            "total": self.total,
            "hits": [hit.to_dict() for hit in self.hits],
        }


_HIT_COLUMNS = (
    TradingScript.slug,
    TradingScript.title,
    TradingScript.author,
    TradingScript.script_type,
    TradingScript.strategy_type,
    TradingScript.is_open_source,
    TradingScript.likes,
    TradingScript.views,
    TradingScript.indicators,
    TradingScript.timeframes,
    TradingScript.description,
    TradingScript.created_at,
)


def search_scripts(params: SearchParams) -> SearchPage:
    """Return the page of scripts matching the words and filters, ordered as asked (relevance first)."""
    dialect = db.engine.dialect.name
    conditions = _filters(params)
    tokens = params.tokens
    source: Any = TradingScript.__table__
    score: Any = literal_column("0.0")
    relevance: list[Any] = []
    if params.query and not tokens:
        return SearchPage(params=params)  # only punctuation: nothing can match
    if tokens and dialect == "sqlite":
        return _search_fts5(params, tokens, conditions)
    if tokens and dialect in ("mysql", "mariadb"):
        required, ranked = _mysql_queries(tokens)
        if not required:
            return SearchPage(params=params)  # every word shorter than the engine indexes
        conditions.append(
            mysql_match(TradingScript.title, TradingScript.description, against=required).in_boolean_mode()
        )
        score = (
            mysql_match(TradingScript.title, against=ranked).in_boolean_mode() * TITLE_WEIGHT
            + mysql_match(TradingScript.description, against=ranked).in_boolean_mode() * DESCRIPTION_WEIGHT
        )
        relevance = [score.desc()]
    elif tokens:  # any other engine: every word somewhere in the title or description
        conditions.extend(
            or_(
                TradingScript.title.ilike(f"%{t}%", escape="\\"), TradingScript.description.ilike(f"%{t}%", escape="\\")
            )
            for t in (_escape_like(t) for t in tokens)
        )
    query = select(*_HIT_COLUMNS, score.label("score")).select_from(source).where(*conditions)
    rows = db.session.execute(
        query.order_by(*_order(params.sort, relevance)).limit(params.limit).offset(params.offset)
    ).all()
    count = select(func.count()).select_from(source).where(*conditions)
    return SearchPage(params=params, hits=[_hit(row) for row in rows], total=_total(rows, params, count))


def _search_fts5(params: SearchParams, tokens: list[str], filters: list[Any]) -> SearchPage:
    """Search SQLite FTS5: rank inside the FTS query and fetch only the page's rows.

    bm25 over every match is the cost of a broad word (a third of 50,000 scripts say "EMA"), so the
    relevance page is picked by the FTS table alone (joined to the scripts only when filters need
    their columns) and the page's 20 rows are fetched afterwards; COUNT(*) on a MATCH is cheap.
    """
    fts = table(FTS_TABLE, column("rowid"))
    match = text(f"{FTS_TABLE} MATCH :fts_query").bindparams(fts_query=_fts5_query(tokens))
    rank = literal_column(f"bm25({FTS_TABLE}, {TITLE_WEIGHT}, {DESCRIPTION_WEIGHT})")
    if params.sort == "relevance" and not filters:
        page = (
            select(fts.c.rowid.label("id"), rank.label("rank"))
            .where(match)
            .order_by(rank, fts.c.rowid)
            .limit(params.limit)
            .offset(params.offset)
            .subquery("page")
        )
        query = select(*_HIT_COLUMNS, (-page.c.rank).label("score")).join(page, page.c.id == TradingScript.id)
        query = query.order_by(page.c.rank, page.c.id)
        count = select(func.count()).select_from(fts).where(match)
    else:
        # MATERIALIZED: otherwise SQLite may walk a filter's index and run the MATCH once per script.
        matched = select(fts.c.rowid.label("id"), rank.label("rank")).where(match).cte("matched")
        matched = matched.prefix_with("MATERIALIZED")
        # The total rides along as a window count: a separate COUNT would materialize the matches again.
        query = (
            select(*_HIT_COLUMNS, (-matched.c.rank).label("score"), func.count().over().label("total"))
            .select_from(matched)
            .join(TradingScript, TradingScript.id == matched.c.id)
            .where(*filters)
        )
        relevance = [matched.c.rank, matched.c.id]
        query = query.order_by(*_order(params.sort, relevance)).limit(params.limit).offset(params.offset)
        count = (
            select(func.count())
            .select_from(matched)
            .join(TradingScript, TradingScript.id == matched.c.id)
            .where(*filters)
        )
        rows = db.session.execute(query).all()
        total = rows[0].total if rows else (db.session.scalar(count) or 0 if params.offset else 0)
        return SearchPage(params=params, hits=[_hit(row) for row in rows], total=total)
    rows = db.session.execute(query).all()
    return SearchPage(params=params, hits=[_hit(row) for row in rows], total=_total(rows, params, count))


def _total(rows: list[Any], params: SearchParams, count: Any) -> int:
    """Count the matches, unless the whole result is on this page already."""
    if params.offset == 0 and len(rows) < params.limit:
        return len(rows)
    return db.session.scalar(count) or 0


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _fts5_query(tokens: list[str]) -> str:
    """Return an FTS5 query requiring every word; the last one may be a prefix (search as you type)."""
    quoted = [f'"{token}"' for token in tokens]
    quoted[-1] += "*"
    return " ".join(quoted)


def _mysql_queries(tokens: list[str]) -> tuple[str, str]:
    """Return (boolean query requiring every indexable word, query ranking by any of them)."""
    usable = [t for t in tokens if len(t) >= MYSQL_MIN_TOKEN]
    required = " ".join(f"+{t}" for t in usable[:-1]) + (f" +{usable[-1]}*" if usable else "")
    ranked = " ".join(usable[:-1] + [f"{usable[-1]}*"]) if usable else ""
    return required.strip(), ranked


def _filters(params: SearchParams) -> list[Any]:
    conditions = []
    if params.script_type:
        conditions.append(TradingScript.script_type == params.script_type)
    if params.strategy_type:
        conditions.append(TradingScript.strategy_type == params.strategy_type)
    if params.open_source is not None:
        conditions.append(TradingScript.is_open_source.is_(params.open_source))
    # Names are validated ([a-z0-9_] / timeframe syntax); autoescape keeps "_" literal in LIKE.
    if params.indicator:
        conditions.append(cast(TradingScript.indicators, String).contains(f'"{params.indicator}"', autoescape=True))
    if params.timeframe:
        conditions.append(cast(TradingScript.timeframes, String).contains(f'"{params.timeframe}"', autoescape=True))
    return conditions


def _order(sort: str, relevance: list[Any]) -> list[Any]:
    if sort == "likes":
        return [TradingScript.likes.desc(), TradingScript.id.desc()]
    if sort == "views":
        return [TradingScript.views.desc(), TradingScript.id.desc()]
    if sort == "newest":
        return [TradingScript.created_at.desc(), TradingScript.id.desc()]
    return [*relevance, TradingScript.likes.desc(), TradingScript.id.desc()]


def _hit(row: Any) -> SearchHit:
    return SearchHit(
        slug=row.slug,
        title=row.title,
        author=row.author,
        script_type=row.script_type,
        strategy_type=row.strategy_type,
        is_open_source=bool(row.is_open_source),
        likes=row.likes,
        views=row.views,
        indicators=list(row.indicators or []),
        timeframes=list(row.timeframes or []),
        description=_snippet(row.description),
        created_at=_iso(row.created_at),
        score=round(float(row.score or 0.0), 6),
    )


def _snippet(description: str | None, size: int = 200) -> str:
    description = (description or "").strip()
    return description if len(description) <= size else description[: size - 1].rstrip() + "…"


# ---------------------------------------------------------------- statistics

OptimizerLookup = Callable[[str], list[dict[str, Any]]]


def catalogue_stats(*, top: int = 10, optimizer_lookup: OptimizerLookup | None = None) -> dict[str, Any]:
    """Return counts by type and strategy type, the top indicators, period distributions and insights.

    ``optimizer_lookup(strategy)`` returns the optimizer's best parameters per
    symbol and timeframe for an indicator strategy (default:
    ``optimizer_best_params``); the stats work without any.
    """
    by_type = dict(
        db.session.execute(select(TradingScript.script_type, func.count()).group_by(TradingScript.script_type)).all()
    )
    by_strategy = {
        (name or "unspecified"): count
        for name, count in db.session.execute(
            select(TradingScript.strategy_type, func.count()).group_by(TradingScript.strategy_type)
        ).all()
    }
    indicator_counts: Counter[str] = Counter()
    periods: dict[str, Counter[str]] = {}
    ema_pairs: Counter[str] = Counter()
    last_id = 0
    while True:
        batch = db.session.execute(
            select(TradingScript.id, TradingScript.indicators, TradingScript.analysis)
            .where(TradingScript.id > last_id)
            .order_by(TradingScript.id)
            .limit(5000)
        ).all()
        if not batch:
            break
        for _, indicators, analysis in batch:
            indicator_counts.update(set(indicators or []))
            calls = (analysis or {}).get("indicator_calls", [])
            seen: set[tuple[str, str]] = set()
            for call in calls:
                signature = period_signature(call)
                if signature is not None and (call["name"], signature) not in seen:
                    seen.add((call["name"], signature))
                    periods.setdefault(call["name"], Counter())[signature] += 1
            pair = _ema_pair(calls)
            if pair:
                ema_pairs[pair] += 1
        last_id = batch[-1][0]
    distributions = {
        name: [{"periods": sig, "scripts": n} for sig, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))]
        for name, counter in sorted(periods.items())
    }
    community = {
        "macd": _most_common(periods.get("macd", Counter())),
        "ema": _most_common(ema_pairs),
    }
    return {
        "total": sum(by_type.values()),
        "by_script_type": {name: by_type.get(name, 0) for name in SCRIPT_TYPES},
        "by_strategy_type": dict(sorted(by_strategy.items(), key=lambda kv: (-kv[1], kv[0]))),
        "top_indicators": [{"name": n, "scripts": c} for n, c in _top(indicator_counts, top)],
        "indicator_periods": distributions,
        "ema_cross_pairs": [{"periods": sig, "scripts": n} for sig, n in _top(ema_pairs, top)],
        "insights": compare_with_optimizer(community, optimizer_lookup or optimizer_best_params),
    }


def _top(counter: Counter[str], top: int) -> list[tuple[str, int]]:
    return sorted(counter.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def _most_common(counter: Counter[str]) -> tuple[str, int] | None:
    ranked = _top(counter, 1)
    return ranked[0] if ranked else None


def _ema_pair(calls: list[dict[str, Any]]) -> str | None:
    """Return a script's EMA cross pair ``"9/21"``: its first two distinct constant EMA periods, sorted."""
    lengths: list[float] = []
    for call in calls:
        period = call["periods"][0] if call.get("name") == "ema" and call.get("periods") else None
        if period is not None and period not in lengths:
            lengths.append(period)
        if len(lengths) == 2:
            return period_signature({"periods": sorted(lengths)})
    return None


def compare_with_optimizer(
    community: Mapping[str, tuple[str, int] | None], optimizer_lookup: OptimizerLookup
) -> list[dict[str, Any]]:
    """Set the community's most used MACD / EMA-cross periods beside the optimizer's best per symbol and timeframe.

    ``community`` maps an indicator to (periods like "12/26/9", number of scripts). Without optimizer
    results (the strategies do not exist yet, or no job ran them) each insight says so.
    """
    insights = []
    for strategy, indicator, fragments in INSIGHT_STRATEGIES:
        common = community.get(indicator)
        if common is None:
            continue
        label = "EMA cross" if indicator == "ema" else indicator.upper()
        optimized = []
        for row in optimizer_lookup(strategy):
            periods = _periods_from_params(row.get("params") or {}, fragments)
            if periods:
                optimized.append({"symbol": row.get("symbol"), "timeframe": row.get("timeframe"), "periods": periods})
        sentence = f"community {label} {common[0]} ({common[1]} script{'s' if common[1] != 1 else ''})"
        if optimized:
            sentence += "; " + "; ".join(
                f"optimized for {o['symbol']} {o['timeframe']}: {o['periods']}" for o in optimized
            )
        else:
            sentence += f"; no optimizer results for {strategy} yet"
        insights.append(
            {
                "indicator": indicator,
                "strategy": strategy,
                "community": {"periods": common[0], "scripts": common[1]},
                "optimized": optimized,
                "text": sentence,
            }
        )
    return insights


def _periods_from_params(params: Mapping[str, Any], fragments: tuple[str, ...]) -> str | None:
    """Pick e.g. fast/slow/signal periods out of a parameter set by name; None if any is missing."""
    values = []
    for fragment in fragments:
        match = next(
            (v for k, v in params.items() if fragment in k.lower() and isinstance(v, int | float) and v is not True),
            None,
        )
        if match is None or isinstance(match, bool):
            return None
        values.append(match)
    return period_signature({"periods": values})


def optimizer_best_params(strategy: str) -> list[dict[str, Any]]:
    """Return the optimizer's newest best parameters per symbol and timeframe for ``strategy`` ([] when none)."""

    try:
        return best_params(strategy=strategy, metric="composite_score")
    except ValidationError:
        return []
