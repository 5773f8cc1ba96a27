"""Extract inputs, indicators and signal kinds from Pine Script source (pure: no Flask, no SQLAlchemy).

The analysis is deliberately tolerant: Pine Script is not parsed into a full
syntax tree. One regular expression walks the source left to right and
consumes comments and string literals whole (so a ``//`` or a parenthesis
inside a string never confuses it) while it picks out the calls that matter:
``input*``, ``ta.*`` (and the v4 bare built-ins such as ``ema()``),
``strategy.*``, ``alertcondition``/``alert`` and the script declaration. Only
the argument lists of those calls are tokenized, which keeps a 50,000-script
import fast. Whatever cannot be understood is recorded in ``skipped`` and
never raised: a bad script must not fail an import.

Supported input forms: v5 ``input.int/float/bool/string/source/timeframe/
color/session/symbol/price/text_area`` and ``input()`` (positional or
keyword ``defval``), v4 ``input(14, title=..., type=input.integer)``, with
title, minval, maxval, step and options.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

# ---------------------------------------------------------------- vocabulary

# ta.* functions that are helpers, not indicators (they are reported as signals or ignored).
TA_HELPERS = frozenset(
    {
        "crossover",
        "crossunder",
        "cross",
        "change",
        "valuewhen",
        "barssince",
        "rising",
        "falling",
        "cum",
        "max",
        "min",
        "median",
        "mode",
        "range",
        "correlation",
        "percentile_linear_interpolation",
        "percentile_nearest_rank",
    }
)

# v4 built-ins that are indicators when called without the ``ta.`` namespace.
V4_INDICATORS = frozenset(
    {
        "sma",
        "ema",
        "wma",
        "rma",
        "vwma",
        "hma",
        "alma",
        "swma",
        "rsi",
        "macd",
        "atr",
        "vwap",
        "bb",
        "bbw",
        "kc",
        "kcw",
        "stoch",
        "cci",
        "mfi",
        "obv",
        "dmi",
        "supertrend",
        "sar",
        "mom",
        "roc",
        "stdev",
        "tsi",
        "wpr",
        "cmo",
        "cog",
        "linreg",
        "pivothigh",
        "pivotlow",
        "highest",
        "lowest",
    }
)
V4_SIGNAL_FUNCS = frozenset({"crossover", "crossunder", "cross"})
# Built-in series that are indicators when read without a call (``ta.vwap``, v4 ``vwap``).
INDICATOR_VARIABLES = frozenset({"vwap", "obv", "tr", "accdist", "pvt", "wad", "nvi", "pvi", "iii", "wvad"})

# Signal kinds per call name.
SIGNAL_KINDS = {
    "ta.crossover": "crossover",
    "ta.crossunder": "crossover",
    "ta.cross": "crossover",
    "crossover": "crossover",
    "crossunder": "crossover",
    "cross": "crossover",
    "ta.pivothigh": "pivot",
    "ta.pivotlow": "pivot",
    "pivothigh": "pivot",
    "pivotlow": "pivot",
    "strategy.entry": "entry",
    "strategy.order": "entry",
    "strategy.exit": "exit",
    "strategy.close": "exit",
    "strategy.close_all": "exit",
    "alertcondition": "alert",
    "alert": "alert",
    "plotshape": "marker",
    "plotchar": "marker",
    "plotarrow": "marker",
}

# Which positional argument (0-based) of an indicator call is a period, by parameter name.
PERIOD_ARGS: dict[str, tuple[tuple[int, str], ...]] = {
    "sma": ((1, "length"),),
    "ema": ((1, "length"),),
    "wma": ((1, "length"),),
    "rma": ((1, "length"),),
    "vwma": ((1, "length"),),
    "hma": ((1, "length"),),
    "alma": ((1, "length"),),
    "rsi": ((1, "length"),),
    "cci": ((1, "length"),),
    "mfi": ((1, "length"),),
    "mom": ((1, "length"),),
    "roc": ((1, "length"),),
    "stdev": ((1, "length"),),
    "wpr": ((0, "length"),),
    "cmo": ((1, "length"),),
    "linreg": ((1, "length"),),
    "highest": ((1, "length"),),
    "lowest": ((1, "length"),),
    "atr": ((0, "length"),),
    "macd": ((1, "fastlen"), (2, "slowlen"), (3, "siglen")),
    "bb": ((1, "length"),),
    "bbw": ((1, "length"),),
    "kc": ((1, "length"),),
    "kcw": ((1, "length"),),
    "stoch": ((3, "length"),),
    "supertrend": ((1, "atrPeriod"),),
    "dmi": ((0, "diLength"), (1, "adxSmoothing")),
    "tsi": ((1, "short_length"), (2, "long_length")),
}

# Positional parameters of each input function (v5 unless noted).
_INPUT_POSITIONAL = {
    "input.int": ("defval", "title", "minval", "maxval", "step", "tooltip", "inline", "group", "confirm"),
    "input.float": ("defval", "title", "minval", "maxval", "step", "tooltip", "inline", "group", "confirm"),
    "input.bool": ("defval", "title", "tooltip", "inline", "group", "confirm"),
    "input.string": ("defval", "title", "options", "tooltip", "inline", "group", "confirm"),
    "input.timeframe": ("defval", "title", "options", "tooltip", "inline", "group", "confirm"),
    "input.source": ("defval", "title", "tooltip", "inline", "group"),
    "input.color": ("defval", "title", "tooltip", "inline", "group", "confirm"),
    "input.session": ("defval", "title", "options", "tooltip", "inline", "group", "confirm"),
    "input.symbol": ("defval", "title", "tooltip", "inline", "group", "confirm"),
    "input.price": ("defval", "title", "tooltip", "inline", "group", "confirm"),
    "input.time": ("defval", "title", "tooltip", "inline", "group", "confirm"),
    "input.text_area": ("defval", "title", "tooltip", "group", "confirm"),
}
_INPUT_V5 = ("defval", "title", "tooltip", "inline", "group")
_INPUT_V4 = ("defval", "title", "type", "minval", "maxval", "confirm", "step", "options")
_INPUT_TYPE_OF_FUNC = {name: name.split(".", 1)[1] for name in _INPUT_POSITIONAL}
_INPUT_TYPE_OF_FUNC["input.text_area"] = "string"
_INPUT_TYPE_OF_FUNC["input.timeframe"] = "timeframe"
# v4 ``type=`` values (``input.integer`` or the older bare ``integer``).
_V4_TYPES = {
    "integer": "int",
    "float": "float",
    "bool": "bool",
    "string": "string",
    "source": "source",
    "resolution": "timeframe",
    "session": "session",
    "symbol": "symbol",
    "color": "color",
    "time": "time",
    "price": "price",
}
_SOURCES = frozenset({"open", "high", "low", "close", "volume", "hl2", "hlc3", "ohlc4", "hlcc4"})
_LIMIT_KEYS = ("minval", "maxval", "step", "options")

# ---------------------------------------------------------------- scanner

_NAME = r"[A-Za-z_]\w*"
_BARE_NAMES = {"input", "strategy", "indicator", "study", *V4_INDICATORS, *(k for k in SIGNAL_KINDS if "." not in k)}


def _trie_pattern(words: Iterable[str]) -> str:
    """Return a regex matching exactly ``words``, shaped as a trie so the engine never tries them one by one."""
    trie: dict[str, Any] = {}
    for word in words:
        node = trie
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}

    def render(node: dict[str, Any]) -> str:
        branches = [re.escape(char) + render(child) for char, child in sorted(node.items()) if char]
        if not branches:
            return ""
        body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
        return f"(?:{body})?" if "" in node else body

    return render(trie)


# One left-to-right pass in C: comments and strings are consumed whole (a "//" or "(" inside a string
# is never seen), constant assignments ("LEN = 50") are noted, and only the names that matter are
# matched: namespaced ta./input./strategy. names and the bare built-ins above; every other
# identifier is skipped without a Python-level step, which keeps a 50,000-script import fast.
_SCAN = re.compile(
    r"(?P<comment>//[^\n]*|/\*.*?\*/)"
    r"|(?P<string>\"(?:[^\"\\\n]|\\.)*\"?|'(?:[^'\\\n]|\\.)*'?)"
    rf"|^[ \t]*(?:(?:var|const|int|float|simple)\s+)*(?P<const>{_NAME})[ \t]*:?=[ \t]*"
    r"(?P<number>[+-]?\d+(?:\.\d+)?)[ \t]*(?=//|\n|$)"
    rf"|(?<![\w.#])(?P<name>(?:ta|input|strategy)\s*\.\s*{_NAME}|{_trie_pattern(_BARE_NAMES)}\b)(?P<call>\s*\()?",
    re.DOTALL | re.MULTILINE,
)
_VERSION = re.compile(r"//\s*@version\s*=\s*(\d+)")
# Tokens of an argument list: everything else is argument text.
_ARG_TOKEN = re.compile(r"\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*'|//[^\n]*|[()\[\]{},]")
_COMMENT_OUTSIDE_STRINGS = re.compile(r"(?P<string>\"(?:[^\"\\\n]|\\.)*\"|'(?:[^'\\\n]|\\.)*')|//[^\n]*")
_KEYWORD = re.compile(rf"\s*({_NAME})\s*=(?!=)")
_MAX_ARGS_CHARS = 5000
_ESCAPE = re.compile(r"\\(.)")
_INTEGER = re.compile(r"[+-]?\d+")
_ASSIGNED_TO = re.compile(
    rf"(?:^|[\n;,\[])[ \t]*(?:(?:var|varip|const|simple|series|input|int|float|bool|string|color)\s+)*"
    rf"({_NAME})\s*:?=\s*$"
)
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")
_MAX_SKIPPED = 50


@dataclass
class PineInput:
    """One ``input*()`` call: the variable it sets, its type, default and the limits it gives."""

    name: str
    type: str
    default: Any
    title: str | None = None
    function: str = "input"
    line: int = 0
    minval: Any = None
    maxval: Any = None
    step: Any = None
    options: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the input as JSON-ready data; limits appear only when the script gives them."""
        # Built by hand: dataclasses.asdict deep-copies, the slowest step of a 50,000-script import.
        data = {
            "name": self.name,
            "type": self.type,
            "default": self.default,
            "title": self.title,
            "function": self.function,
            "line": self.line,
        }
        for key in _LIMIT_KEYS:
            value = getattr(self, key)
            if value is not None:
                data[key] = value
        return data


@dataclass
class IndicatorCall:
    """One indicator call and its period arguments resolved to numbers (None when not a constant)."""

    name: str
    line: int
    periods: list[int | float | None] = field(default_factory=list)


@dataclass
class PineAnalysis:
    """What a script declares and uses; ``skipped`` lists what the analysis could not understand."""

    version: int | None = None
    declaration: str | None = None  # "strategy" | "indicator" (v4 "study" counts as indicator)
    declared_title: str | None = None
    inputs: list[PineInput] = field(default_factory=list)
    indicators: list[str] = field(default_factory=list)
    signals: list[str] = field(default_factory=list)
    indicator_calls: list[IndicatorCall] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """Return the analysis as JSON-ready data."""
        return {
            "version": self.version,
            "declaration": self.declaration,
            "declared_title": self.declared_title,
            "inputs": [i.to_dict() for i in self.inputs],
            "indicators": list(self.indicators),
            "signals": list(self.signals),
            "indicator_calls": [
                {"name": c.name, "line": c.line, "periods": list(c.periods)} for c in self.indicator_calls
            ],
            "skipped": list(self.skipped),
        }


@dataclass
class _Arg:
    keyword: str | None
    text: str
    value: Any
    literal: bool


class _Unparsed(Exception):
    """An argument list the tokenizer could not close."""


# ---------------------------------------------------------------- public API


def analyze(code: str | None) -> PineAnalysis:
    """Analyze Pine Script source; never raises, whatever the input."""
    result = PineAnalysis()
    if not code:
        return result
    try:
        _analyze(code, result)
    except Exception as exc:  # noqa: BLE001 - tolerance is the contract: record, never fail an import
        _skip(result, f"analysis stopped early: {type(exc).__name__}: {exc}")
    return result


def analyze_chunk(codes: list[str]) -> list[PineAnalysis]:
    """Analyze several scripts (the unit of work of a worker process)."""
    return [analyze(code) for code in codes]


def _analyze(code: str, result: PineAnalysis) -> None:
    version_match = _VERSION.search(code)
    result.version = int(version_match.group(1)) if version_match else None
    v4_style = result.version is not None and result.version < 5
    constants: dict[str, Any] = {}
    input_values: dict[str, Any] = {}
    pending_calls: list[tuple[str, int, list[_Arg]]] = []
    indicators: dict[str, None] = {}
    signals: dict[str, None] = {}

    for match in _SCAN.finditer(code):
        name = match.group("name")
        if name is None:
            if match.group("const"):
                constants.setdefault(match.group("const"), _number(match.group("number")))
            elif match.group("string") and not _closed_string(match.group("string")):
                _skip(result, f"line {_line_of(code, match.start())}: unterminated string")
            continue
        if "." in name:
            name = "".join(name.split())  # "ta . ema" is legal Pine
        is_call = match.group("call") is not None
        short = name[3:] if name.startswith("ta.") else None
        if not is_call:
            if short in INDICATOR_VARIABLES or (v4_style and name in ("vwap", "obv")):
                indicators.setdefault(short or name)
            continue
        line = _line_of(code, match.start())
        is_input = name == "input" or name.startswith("input.")
        is_declaration = name in ("strategy", "indicator", "study")
        is_v4_indicator = "." not in name and name in V4_INDICATORS and not _is_definition(code, match.end())
        is_indicator = (short is not None and short not in TA_HELPERS) or is_v4_indicator
        if not (is_input or is_declaration or is_indicator or name in SIGNAL_KINDS):
            continue
        if name in SIGNAL_KINDS:
            signals.setdefault(SIGNAL_KINDS[name])
        if is_indicator:
            indicators.setdefault(short or name)
        if not (is_input or is_declaration or is_indicator):
            continue
        try:
            args = _parse_args(code, match.end())
        except _Unparsed:
            _skip(result, f"line {line}: could not read the arguments of {name}()")
            continue
        if is_declaration:
            if result.declaration is None:
                result.declaration = "strategy" if name == "strategy" else "indicator"
                title = _argument(args, ("title",), 0)
                result.declared_title = title.value if title is not None and isinstance(title.value, str) else None
        elif is_input:
            item = _read_input(name, args, v4_style=v4_style, line=line, result=result)
            if item is not None:
                item.name = (
                    _assigned_name(code, match.start()) or _slug(item.title) or f"input_{len(result.inputs) + 1}"
                )
                result.inputs.append(item)
                input_values[item.name] = item.default
        else:
            pending_calls.append((short or name, line, args))

    # Periods are resolved after the scan: an input may be declared below its first use.
    for ind_name, line, args in pending_calls:
        periods = []
        for position, keyword in PERIOD_ARGS.get(ind_name, ()):
            arg = _argument(args, (keyword,), position)
            periods.append(_resolve_number(arg, input_values, constants) if arg is not None else None)
        result.indicator_calls.append(IndicatorCall(name=ind_name, line=line, periods=periods))
    result.indicators = list(indicators)
    result.signals = list(signals)


def period_signature(call: IndicatorCall | dict[str, Any]) -> str | None:
    """Return an indicator call's periods as ``"12/26/9"`` (None when one is not a constant)."""
    periods = call["periods"] if isinstance(call, dict) else call.periods
    if not periods or any(p is None for p in periods):
        return None
    return "/".join(_format_number(p) for p in periods)


# ---------------------------------------------------------------- helpers


def _skip(result: PineAnalysis, message: str) -> None:
    if len(result.skipped) < _MAX_SKIPPED:
        result.skipped.append(message)


def _line_of(code: str, offset: int) -> int:
    return code.count("\n", 0, offset) + 1


def _closed_string(text: str) -> bool:
    return len(text) >= 2 and text[-1] == text[0] and not text.endswith("\\" + text[0])


def _is_definition(code: str, after_paren: int) -> bool:
    """True for a user function named like a built-in (``ema(src, len) =>``): not a call."""
    depth = 1
    index = after_paren
    limit = min(len(code), after_paren + 300)
    while index < limit and depth:
        char = code[index]
        depth += char == "("
        depth -= char == ")"
        index += 1
    return code[index : index + 8].lstrip().startswith("=>")


def _parse_args(code: str, start: int) -> list[_Arg]:
    """Split the argument list that starts after ``(`` at ``start`` into positional/keyword arguments.

    Only brackets, commas, strings and comments are tokens (matched in C); the text between
    top-level commas is one argument.
    """
    args: list[_Arg] = []
    depth = 0
    arg_start = start
    has_comment = False
    for token in _ARG_TOKEN.finditer(code, start, min(len(code), start + _MAX_ARGS_CHARS)):
        char = token.group()[0]
        if char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0:
                text = code[arg_start : token.start()]
                if text.strip() or args:
                    args.append(_make_arg(text, has_comment))
                return args
            depth -= 1
        elif char == "," and depth == 0:
            args.append(_make_arg(code[arg_start : token.start()], has_comment))
            arg_start, has_comment = token.end(), False
        elif char == "/":
            has_comment = True
    raise _Unparsed


def _make_arg(text: str, has_comment: bool) -> _Arg:
    if has_comment:
        text = _COMMENT_OUTSIDE_STRINGS.sub(lambda m: m.group("string") or "", text)
    keyword = None
    named = _KEYWORD.match(text)
    if named:
        keyword, text = named.group(1), text[named.end() :]
    text = text.strip()
    value, literal = _literal(text)
    if not literal:
        text = " ".join(text.split())
    return _Arg(keyword=keyword, text=text, value=value, literal=literal)


def _literal(text: str) -> tuple[Any, bool]:
    """Evaluate a Pine literal (number, bool, string, na, array of literals); else return the text."""
    if _NUMBER.fullmatch(text):
        return _number(text), True
    if text in ("true", "false"):
        return text == "true", True
    if text == "na":
        return None, True
    if len(text) >= 2 and text[0] in "\"'" and text[-1] == text[0]:
        body = text[1:-1]
        return (_ESCAPE.sub(r"\1", body) if "\\" in body else body), True
    if text.startswith("[") and text.endswith("]"):
        items = [part.strip() for part in _split_top(text[1:-1])]
        values = [_literal(item) for item in items if item]
        if all(ok for _, ok in values):
            return [v for v, _ in values], True
    return text, False


def _split_top(text: str) -> list[str]:
    parts, depth, current, quote = [], 0, [], None
    for char in text:
        if quote:
            current.append(char)
            quote = None if char == quote else quote
            continue
        if char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def _number(text: str) -> int | float:
    value = float(text)
    return int(value) if _INTEGER.fullmatch(text) else value


def _format_number(value: int | float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _argument(args: list[_Arg], keywords: tuple[str, ...], position: int | None) -> _Arg | None:
    for arg in args:
        if arg.keyword in keywords:
            return arg
    positional = [a for a in args if a.keyword is None]
    if position is not None and position < len(positional):
        # Pine forbids positional after keyword arguments, so positions count from the start.
        return positional[position] if args.index(positional[position]) == position else None
    return None


def _read_input(name: str, args: list[_Arg], *, v4_style: bool, line: int, result: PineAnalysis) -> PineInput | None:
    if name == "input":
        positional = _INPUT_V4 if v4_style or any(a.keyword == "type" for a in args) else _INPUT_V5
    elif name in _INPUT_POSITIONAL:
        positional = _INPUT_POSITIONAL[name]
    else:
        _skip(result, f"line {line}: unknown input function {name}()")
        return None
    values: dict[str, _Arg] = {}
    for index, arg in enumerate(args):
        key = arg.keyword or (positional[index] if index < len(positional) else None)
        if key is None:
            _skip(result, f"line {line}: extra argument {arg.text!r} of {name}()")
            continue
        values[key] = arg
    default_arg = values.get("defval")
    if default_arg is None:
        _skip(result, f"line {line}: {name}() without a default value")
        return None
    default = default_arg.value
    input_type = _INPUT_TYPE_OF_FUNC.get(name)
    if input_type is None:  # input(): v4 type= argument, else the default decides
        type_arg = values.get("type")
        if type_arg is not None:
            input_type = _V4_TYPES.get(type_arg.text.rsplit(".", 1)[-1])
            if input_type is None:
                _skip(result, f"line {line}: unknown input type {type_arg.text!r}")
        input_type = input_type or _type_of(default_arg)
    if not default_arg.literal and input_type != "color" and not (input_type == "source" and default in _SOURCES):
        _skip(result, f"line {line}: default of {name}() is an expression: {default_arg.text!r}")
    if input_type == "source" and not default_arg.literal:
        default = default_arg.text
    title_arg = values.get("title")
    item = PineInput(
        name="",
        type=input_type,
        default=default,
        title=title_arg.value if title_arg is not None and isinstance(title_arg.value, str) else None,
        function=name,
        line=line,
    )
    for key in _LIMIT_KEYS:
        if key in values:
            setattr(item, key, values[key].value)
    return item


def _type_of(arg: _Arg) -> str:
    value = arg.value
    if not arg.literal:
        return "source" if value in _SOURCES else "unknown"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    return "unknown"


def _assigned_name(code: str, call_start: int) -> str | None:
    match = _ASSIGNED_TO.search(code, max(0, call_start - 120), call_start)
    return match.group(1) if match else None


def _slug(title: str | None) -> str | None:
    if not title:
        return None
    slug = re.sub(r"\W+", "_", title.strip().lower()).strip("_")
    return slug or None


def _resolve_number(arg: _Arg, inputs: dict[str, Any], constants: dict[str, Any]) -> int | float | None:
    value: Any = arg.value if arg.literal else inputs.get(arg.text, constants.get(arg.text))
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value
