"""Validate catalogue records (one JSON object per line) and turn them into stored rows (pure).

A record is what a user's ``.jsonl`` file says about one script; a row adds
what the Pine Script analysis found in its code. Validation collects every
error with its line number and field, so a bad file is reported at once and
nothing of it is written.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from app.core.pine_script import PineAnalysis

SCRIPT_TYPES = ("strategy", "indicator")
MAX_ERRORS = 50

_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{0,199}")
_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")
_STRATEGY_TYPE = re.compile(r"[a-z][a-z0-9_-]{0,49}")
_TIMEFRAME = re.compile(r"[1-9][0-9]{0,2}(?:m|h|d|w|M)")
_URL = re.compile(r"https?://[^\s]{1,490}")

# field -> (required, kind)
_FIELDS: dict[str, tuple[bool, str]] = {
    "slug": (True, "slug"),
    "title": (True, "title"),
    "author": (True, "author"),
    "description": (False, "text"),
    "code": (False, "text"),
    "script_type": (False, "script_type"),
    "strategy_type": (False, "strategy_type"),
    "is_open_source": (False, "bool"),
    "likes": (False, "count"),
    "views": (False, "count"),
    "indicators": (False, "names"),
    "signals": (False, "names"),
    "timeframes": (False, "timeframes"),
    "source_url": (False, "url"),
    "metadata": (False, "object"),
}
# The seed's column names (its ``tradingview.scripts`` table) for today's fields: either spelling imports.
SEED_NAMES = {"open_source": "is_open_source"}
_LIMITS = {"title": 300, "author": 100, "text": 2_000_000}


class RecordError(Exception):
    """One problem with one record: its line number, field and what was wrong."""

    def __init__(self, line: int, field_name: str | None, message: str):
        self.line = line
        self.field = field_name
        self.message = message
        where = f"line {line}" + (f", field '{field_name}'" if field_name else "")
        super().__init__(f"{where}: {message}")


class RecordErrors(Exception):
    """Every problem found in a file (at most MAX_ERRORS); the message names the first."""

    def __init__(self, errors: list[RecordError]):
        self.errors = errors
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        super().__init__(f"{errors[0]}{more}")


@dataclass
class ScriptRecord:
    """One validated catalogue record, as the import file gives it."""

    line: int
    slug: str
    title: str
    author: str
    description: str = ""
    code: str = ""
    script_type: str | None = None
    strategy_type: str | None = None
    is_open_source: bool = True
    likes: int = 0
    views: int = 0
    indicators: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    timeframes: list[str] = field(default_factory=list)
    source_url: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json_dict(self) -> dict[str, Any]:
        """Return the record as an export line would hold it (without the line number)."""
        return {key: getattr(self, key) for key in _FIELDS}  # not asdict(): no deep copy of the code

    def content_hash(self) -> str:
        """Return a sha256 over the record's content: equal hashes mean nothing to update."""
        payload = json.dumps(self.to_json_dict(), sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def parse_jsonl(lines: Iterable[str]) -> list[ScriptRecord]:
    """Parse and validate every line; raise RecordErrors naming line and field if any is bad."""
    records: list[ScriptRecord] = []
    errors: list[RecordError] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            data = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(RecordError(number, None, f"not valid JSON ({exc.msg} at column {exc.colno})"))
        else:
            try:
                record = parse_record(data, line=number)
            except RecordErrors as exc:
                errors.extend(exc.errors)
            else:
                if record.slug in seen:
                    errors.append(
                        RecordError(number, "slug", f"'{record.slug}' already used on line {seen[record.slug]}")
                    )
                seen.setdefault(record.slug, number)
                records.append(record)
        if len(errors) >= MAX_ERRORS:
            break
    if errors:
        raise RecordErrors(errors[:MAX_ERRORS])
    return records


def parse_record(data: Any, *, line: int) -> ScriptRecord:
    """Validate one decoded JSON value; raise RecordErrors listing every bad field."""
    if not isinstance(data, dict):
        raise RecordErrors([RecordError(line, None, f"expected a JSON object, got {type(data).__name__}")])
    data, errors = _renamed(data, line)
    errors += [RecordError(line, key, "unknown field") for key in data if key not in _FIELDS]
    values: dict[str, Any] = {}
    for key, (required, kind) in _FIELDS.items():
        if key not in data or data[key] is None:
            if required:
                errors.append(RecordError(line, key, "required"))
            continue
        try:
            values[key] = _check(kind, data[key])
        except ValueError as exc:
            errors.append(RecordError(line, key, str(exc)))
    if errors:
        raise RecordErrors(errors)
    return ScriptRecord(line=line, **values)


def _renamed(data: dict[str, Any], line: int) -> tuple[dict[str, Any], list[RecordError]]:
    """Return ``data`` with the seed's column names turned into today's; a field given both ways is an error."""
    renamed, errors = dict(data), []
    for seed_name, name in SEED_NAMES.items():
        if seed_name in renamed:
            value = renamed.pop(seed_name)
            if name in renamed:
                errors.append(RecordError(line, seed_name, f"give either {seed_name} or {name}, not both"))
            renamed.setdefault(name, value)
    return renamed, errors


def _check(kind: str, value: Any) -> Any:
    if kind in ("slug", "title", "author", "text", "script_type", "strategy_type", "url"):
        if not isinstance(value, str):
            raise ValueError(f"must be a string, got {type(value).__name__}")
        value = value.strip() if kind != "text" else value
        if kind in ("title", "author", "text") and len(value) > _LIMITS[kind]:
            raise ValueError(f"longer than {_LIMITS[kind]} characters")
        if kind in ("title", "author") and not value:
            raise ValueError("must not be empty")
        if kind == "slug" and not _SLUG.fullmatch(value):
            raise ValueError("must be 1-200 lowercase letters, digits, '-' or '_', starting with a letter or digit")
        if kind == "script_type" and value not in SCRIPT_TYPES:
            raise ValueError(f"must be one of {', '.join(SCRIPT_TYPES)}, not {value!r}")
        if kind == "strategy_type":
            value = value.lower()
            if not _STRATEGY_TYPE.fullmatch(value):
                raise ValueError("must be a word such as 'trending' or 'scalping' (letters, digits, '-', '_')")
        if kind == "url" and not _URL.fullmatch(value):
            raise ValueError("must be an http(s) URL of at most 500 characters")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"must be true or false, got {json.dumps(value)}")
        return value
    if kind == "count":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
            raise ValueError(f"must be a whole number >= 0, got {json.dumps(value)}")
        return value
    if kind in ("names", "timeframes"):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError("must be a list of strings")
        if kind == "timeframes":
            bad = [v for v in value if not _TIMEFRAME.fullmatch(v.strip())]
            if bad:
                raise ValueError(f"{bad[0]!r} is not a timeframe like 5m, 1h, 4h, 1d")
            return _unique(v.strip() for v in value)
        names = [v.strip().lower() for v in value]
        bad = [v for v in names if not _NAME.fullmatch(v)]
        if bad:
            raise ValueError(f"{bad[0]!r} is not a name (lowercase letters, digits, '_')")
        return _unique(names)
    if kind == "object":
        if not isinstance(value, dict):
            raise ValueError(f"must be a JSON object, got {type(value).__name__}")
        return value
    raise AssertionError(kind)  # pragma: no cover - every kind is handled above


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def build_row(record: ScriptRecord, analysis: PineAnalysis, *, content_hash: str | None = None) -> dict[str, Any]:
    """Return the stored columns of a record: its own fields plus what its code's analysis found."""
    script_type = record.script_type or analysis.declaration
    if script_type is None:
        raise RecordError(
            record.line, "script_type", "missing, and the code declares neither strategy() nor indicator()"
        )
    return {
        "slug": record.slug,
        "title": record.title,
        "author": record.author,
        "description": record.description,
        "code": record.code,
        "script_type": script_type,
        "strategy_type": record.strategy_type,
        "is_open_source": record.is_open_source,
        "likes": record.likes,
        "views": record.views,
        "timeframes": record.timeframes,
        "source_url": record.source_url,
        "meta": record.metadata,
        "content_hash": content_hash or record.content_hash(),
        **analysis_columns(analysis, declared_indicators=record.indicators, declared_signals=record.signals),
    }


def analysis_columns(
    analysis: PineAnalysis, *, declared_indicators: list[str], declared_signals: list[str]
) -> dict[str, Any]:
    """Return the columns an analysis fills: the union of found and declared names, inputs, details."""
    details = analysis.to_dict()
    details.pop("inputs")
    details.pop("indicators")
    details.pop("signals")
    details["declared_indicators"] = list(declared_indicators)
    details["declared_signals"] = list(declared_signals)
    return {
        "indicators": _unique([*analysis.indicators, *declared_indicators]),
        "signals": _unique([*analysis.signals, *declared_signals]),
        "parameters": [item.to_dict() for item in analysis.inputs],
        "analysis": details,
    }
