"""Pine Script analysis on hand-written snippets: every input form, nested calls, comments, strings, v4 and v5."""

import pytest

from app.core.pine_script import analyze, period_signature


def _inputs(code):
    return {item.name: item.to_dict() for item in analyze(code).inputs}


def test_v5_input_functions_with_positional_and_keyword_arguments():
    inputs = _inputs(
        """//@version=5
indicator("Inputs")
int fastLength = input.int(9, "Fast", minval=1, maxval=200, step=1)
slowLength = input.int(defval = 21, title = "Slow", minval = 2)
ratio = input.float(1.5, "Ratio", 0.1, 5.0, 0.1)
src = input.source(close, "Source")
useFilter = input.bool(true, title="Use filter")
maType = input.string("EMA", "MA type", options=["EMA", "SMA", "WMA"])
tf = input.timeframe("240", "Higher timeframe", options=["60", "240", "D"])
col = input.color(color.red, "Colour")
sess = input.session("0930-1600", "Session")
"""
    )
    assert inputs["fastLength"] == {
        "name": "fastLength",
        "type": "int",
        "default": 9,
        "title": "Fast",
        "function": "input.int",
        "line": 3,
        "minval": 1,
        "maxval": 200,
        "step": 1,
    }
    assert inputs["slowLength"]["default"] == 21 and inputs["slowLength"]["minval"] == 2
    assert "maxval" not in inputs["slowLength"]  # only the limits the script gives
    assert (inputs["ratio"]["minval"], inputs["ratio"]["maxval"], inputs["ratio"]["step"]) == (0.1, 5.0, 0.1)
    assert inputs["src"]["type"] == "source" and inputs["src"]["default"] == "close"
    assert inputs["useFilter"]["default"] is True and inputs["useFilter"]["type"] == "bool"
    assert inputs["maType"]["options"] == ["EMA", "SMA", "WMA"]
    assert inputs["tf"]["type"] == "timeframe" and inputs["tf"]["default"] == "240"
    assert inputs["col"]["type"] == "color" and inputs["sess"]["type"] == "session"


def test_v5_plain_input_infers_type_from_default():
    inputs = _inputs(
        """//@version=5
indicator("x")
length = input(14, "Length")
mult = input(2.0, title="Mult")
on = input(defval=false, title="On")
src = input(title="Source", defval=hl2)
name = input("BTC", "Name")
"""
    )
    assert {k: (v["type"], v["default"]) for k, v in inputs.items()} == {
        "length": ("int", 14),
        "mult": ("float", 2.0),
        "on": ("bool", False),
        "src": ("source", "hl2"),
        "name": ("string", "BTC"),
    }


def test_v4_input_with_type_argument_and_bare_indicators():
    result = analyze(
        """//@version=4
study("RSI v4")
len = input(14, title="Length", type=input.integer, minval=1, maxval=100)
src = input(title="Source", type=input.source, defval=close)
mult = input(2.5, "Mult", input.float)
res = input("D", type=resolution)
fast = ema(close, 12)
r = rsi(src, len)
plotshape(crossover(r, 30))
"""
    )
    inputs = {item.name: item for item in result.inputs}
    assert (inputs["len"].type, inputs["len"].default, inputs["len"].maxval) == ("int", 14, 100)
    assert (inputs["src"].type, inputs["src"].default) == ("source", "close")
    assert (inputs["mult"].type, inputs["mult"].default) == ("float", 2.5)
    assert inputs["res"].type == "timeframe"
    assert result.version == 4 and result.declaration == "indicator" and result.declared_title == "RSI v4"
    assert result.indicators == ["ema", "rsi"]
    assert result.signals == ["marker", "crossover"]
    assert [(c.name, c.periods) for c in result.indicator_calls] == [("ema", [12]), ("rsi", [14])]


def test_comments_and_strings_with_parentheses_do_not_confuse_the_scanner():
    result = analyze(
        """//@version=5
strategy("Cross (fast) // not a comment", overlay=true)
// ta.sma(close, 99) and input.int(5) are commented out
/* ta.wma(close, 3) in a block comment */
len = input.int(20, "Length (bars), see \\"docs\\"", minval=1) // trailing comment with ta.rsi(close, 2)
basis = ta.sma(close, len)
label.new(bar_index, high, "ta.ema(close, 7) is text")
"""
    )
    assert result.declared_title == "Cross (fast) // not a comment"
    assert [i.name for i in result.inputs] == ["len"]
    assert result.inputs[0].title == 'Length (bars), see "docs"'
    assert result.indicators == ["sma"]
    assert [(c.name, c.periods) for c in result.indicator_calls] == [("sma", [20])]
    assert result.skipped == []


def test_nested_calls_and_multi_line_arguments():
    result = analyze(
        """//@version=5
indicator("Nested")
fastLen = input.int(
     12,
     title = "Fast (EMA)",
     minval = math.max(1, 2))
[m, s, h] = ta.macd(ta.sma(close, 3), fastLen, 26, 9)
smooth = ta.ema(ta.rsi(close, 14), math.round(10.0))
if ta.crossover(m, s)
    strategy.entry("L", strategy.long)
alertcondition(ta.crossunder(m, s), "down", "MACD (down)")
"""
    )
    assert result.inputs[0].name == "fastLen" and result.inputs[0].default == 12
    assert result.inputs[0].minval == "math.max(1, 2)"  # not a constant: kept as written
    calls = {(c.name, tuple(c.periods)) for c in result.indicator_calls}
    assert ("macd", (12, 26, 9)) in calls and ("sma", (3,)) in calls and ("rsi", (14,)) in calls
    assert ("ema", (None,)) in calls  # a period the analysis cannot evaluate
    assert result.signals == ["crossover", "entry", "alert"]
    assert set(result.indicators) == {"macd", "sma", "ema", "rsi"}


def test_indicator_variables_and_user_functions_named_like_builtins():
    result = analyze(
        """//@version=4
study("vars")
ema(src, len) => src * 2
x = ema(close, 5)
v = vwap
"""
    )
    assert "vwap" in result.indicators  # v4 built-in variable
    assert [c.name for c in result.indicator_calls] == ["ema"]  # the definition is not a call
    assert analyze('//@version=5\nindicator("v")\nplot(ta.vwap)').indicators == ["vwap"]


def test_periods_resolve_inputs_declared_later_and_constants():
    result = analyze(
        """//@version=5
indicator("order")
LEN = 50
a = ta.ema(close, slowLen)
b = ta.sma(close, LEN)
slowLen = input.int(21)
"""
    )
    assert [(c.name, c.periods) for c in result.indicator_calls] == [("ema", [21]), ("sma", [50])]
    assert result.inputs[0].name == "slowLen"


@pytest.mark.parametrize(
    "code",
    [
        "",
        None,
        'strategy("unterminated',
        "ta.ema(close, (((",
        "input.int(",
        "input.int()",
        "x = input.unknown(5)",
        ")))(((",
        '"\\',
        "\x00\xff" * 100,
        "ta.macd(" * 500,
    ],
)
def test_never_raises_and_records_what_it_skipped(code):
    result = analyze(code)
    assert isinstance(result.to_dict(), dict)
    if code and "(" in code and code not in (")))(((",):
        assert result.skipped, f"nothing recorded for {code!r}"


def test_skipped_names_line_and_reason():
    result = analyze('//@version=5\nindicator("x")\nlen = input.int(10 * 2, "L")\nx = ta.ema(close, \n')
    assert any(note.startswith("line 3:") and "expression" in note for note in result.skipped)
    assert any(note.startswith("line 4:") and "ta.ema" in note for note in result.skipped)


def test_period_signature():
    assert period_signature({"periods": [12, 26, 9]}) == "12/26/9"
    assert period_signature({"periods": [2.5]}) == "2.5"
    assert period_signature({"periods": [12, None]}) is None
    assert period_signature({"periods": []}) is None
