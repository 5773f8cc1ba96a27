"""Request and response schemas of the JSON API v1 (pydantic): the code validates with them, the spec is made of them.

Requests are strict: unknown fields are refused (422, naming the field),
numbers must be finite, sizes are bounded. Responses declare what the
services return; extra keys a service adds later pass through (documented as
additional properties) instead of breaking clients.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.services.optimizer.pages import FOLDS, RANKING_METRICS
from app.services.optimizer.run_query import MAX_LIMIT, SORTABLE

Text = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Symbol = Annotated[str, StringConstraints(min_length=1, max_length=30)]
Timeframe = Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Metric = Literal[tuple(RANKING_METRICS)]  # type: ignore[valid-type]
Sortable = Literal[SORTABLE]  # type: ignore[valid-type]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]
Id = Annotated[int, Field(ge=1, le=2**53)]
Scalar = FiniteFloat | int | bool | Annotated[str, StringConstraints(max_length=100)]


class In(BaseModel):
    """Base of request schemas: unknown fields are an error, numbers finite."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class Out(BaseModel):
    """Base of response schemas: what is declared is checked; anything else passes through."""

    model_config = ConfigDict(extra="allow")


# ---------------------------------------------------------------------- errors, health


class ErrorBody(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorOut(BaseModel):
    """The one error shape (docs/design-rules.md#errors)."""

    error: ErrorBody


class HealthOut(Out):
    status: str
    database: str | None = None
    schema_: str | None = Field(None, alias="schema")
    revision: str | None = None


# ---------------------------------------------------------------------- strategies, candles, setups


class StrategyOut(Out):
    name: str
    kind: str
    entry_order: str
    description: str
    parameters: list[dict[str, Any]]
    constraints: list[str]
    presets: dict[str, Any]
    json_schema: dict[str, Any]


class StrategyListOut(Out):
    strategies: list[StrategyOut]


class CoverageRow(Out):
    symbol: str
    timeframe: str
    first: str
    last: str
    count: int
    gaps: int | None = None
    missing_bars: int | None = None


class CoverageOut(Out):
    coverage: list[CoverageRow]


class SetupQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    status: Annotated[str, StringConstraints(min_length=1, max_length=20)] | None = None
    limit: int = Field(100, ge=1, le=500)
    cursor: Id | None = None


class SetupRow(Out):
    id: int
    symbol: str
    timeframe: str
    strategy: str
    direction: str
    status: str
    entry: float | None = None
    stop_loss: float | None = None
    tp1: float | None = None
    tp2: float | None = None
    tp3: float | None = None


class SetupPageOut(Out):
    rows: list[SetupRow]
    next_cursor: int | None


# ---------------------------------------------------------------------- jobs


class JobListQuery(In):
    limit: int = Field(50, ge=1, le=500)


class ProgressOut(Out):
    status: str
    completed_runs: int
    failed_runs: int
    total_runs: int
    progress_pct: float
    runs_per_second: float | None
    eta_seconds: float | None


class LuckOut(Out):
    """What luck alone shows a job's trials (app/evaluation/selection/preflight.py)."""

    trials: int
    years: float
    expected_max_sharpe: float
    target_sharpe: float
    min_backtest_years: float
    warning: str


class JobOut(Out):
    id: int
    name: str
    description: str | None
    status: str
    summary: str | None
    symbols: list[str]
    timeframes: list[str]
    strategies: list[str]
    start_date: str
    end_date: str
    ranking_metric: str
    min_trades: int
    validation: str
    monte_carlo: bool
    progress: ProgressOut
    luck: LuckOut
    created_at: str
    started_at: str | None
    completed_at: str | None


class JobListOut(Out):
    jobs: list[JobOut]


class JobReportOut(Out):
    id: int
    name: str
    status: str
    scope: dict[str, list[str]]
    costs: dict[str, float]
    progress: dict[str, Any]
    slices: list[dict[str, Any]]
    lookahead: dict[str, Any]


class JobCreateIn(In):
    """A new optimization job; left out, scope and range default to the weekly sweep's (``flask optimize new``)."""

    name: Text | None = None
    symbols: Annotated[list[Symbol], Field(min_length=1, max_length=50)] | None = None
    timeframes: Annotated[list[Timeframe], Field(min_length=1, max_length=7)] | None = None
    strategies: Annotated[list[Name], Field(min_length=1, max_length=20)] | None = None
    start_date: Annotated[str, StringConstraints(min_length=4, max_length=30)] | None = None
    end_date: Annotated[str, StringConstraints(min_length=4, max_length=30)] | None = None
    grids: Annotated[str, StringConstraints(max_length=40)] | dict[str, Any] = "default"
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    ranking_metric: Metric = "composite_score"
    min_trades: int = Field(10, ge=0, le=100_000)
    costs: Annotated[str, StringConstraints(max_length=40)] | dict[str, FiniteFloat] | None = None
    validation: Literal["none", "walk_forward"] = "none"
    monte_carlo: bool = True


# ---------------------------------------------------------------------- runs, matrix, importance, best


class RunsQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    params: Annotated[str, StringConstraints(max_length=2000)] | None = Field(
        None, description='JSON object of parameter values to match, e.g. {"rr_target": 2.0}'
    )
    min_trades: int | None = Field(None, ge=0, le=10**9)
    best_only: bool = False
    sort: Sortable = "composite_score"
    order: Literal["desc", "asc"] = "desc"
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=1_000_000)
    cursor: Annotated[str, StringConstraints(max_length=200)] | None = None
    fields: Annotated[str, StringConstraints(max_length=1000)] | None = Field(
        None, description="comma-separated metric names (default: all)"
    )


class RunsCsvQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    params: Annotated[str, StringConstraints(max_length=2000)] | None = None
    min_trades: int | None = Field(None, ge=0, le=10**9)
    best_only: bool = False
    sort: Sortable = "composite_score"
    order: Literal["desc", "asc"] = "desc"
    fields: Annotated[str, StringConstraints(max_length=1000)] | None = None


class RunRow(Out):
    id: int
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]


class RunPageOut(Out):
    total: int
    rows: list[RunRow]
    next_cursor: str | None


class TradesOut(Out):
    run_id: int
    job_id: int
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    metrics: dict[str, float | int]
    trades: list[dict[str, Any]]
    trades_total: int
    equity_curve: list[dict[str, Any]]
    drawdown: list[dict[str, Any]]
    r_histogram: list[dict[str, Any]]
    recomputed: bool
    candles_changed: bool | None


class SliceQuery(In):
    job_id: Id | None = None
    symbol: Symbol
    timeframe: Timeframe
    strategy: Name


class MatrixQuery(SliceQuery):
    x: Name
    y: Name
    metric: Metric = "composite_score"
    fold: Literal[FOLDS] = "max"  # type: ignore[valid-type]
    min_trades: int = Field(10, ge=0, le=10**9)


class MatrixOut(Out):
    job_id: int
    slice_id: int
    x_values: list[Any]
    y_values: list[Any]
    cells: list[list[dict[str, Any]]]
    best: dict[str, Any] | None


class ImportanceQuery(SliceQuery):
    metric: Metric = "composite_score"


class ImportanceOut(Out):
    job_id: int
    slice_id: int
    metric: str
    runs: int
    parameters: list[dict[str, Any]]


class BestQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    metric: Metric = "total_profit_pct"
    min_trades: int = Field(10, ge=0, le=10**9)
    job_id: Id | None = None
    robust: bool = False


class BestRow(Out):
    symbol: str
    timeframe: str
    strategy: str
    job_id: int
    run_id: int
    metric: str
    value: float | int
    params: dict[str, Any]
    metrics: dict[str, float | int]


class BestOut(Out):
    best: list[BestRow]


# ---------------------------------------------------------------------- tokens


class TokenCreateIn(In):
    name: Text


class TokenOut(Out):
    id: int
    name: str
    prefix: str
    created_at: str
    last_used_at: str | None
    revoked_at: str | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the token itself: shown only in this response")


class TokenListOut(Out):
    tokens: list[TokenOut]


# ---------------------------------------------------------------------- scripts (the catalogue's endpoints)


class ScriptSearchQuery(Out):
    """Documented here; the catalogue's ``parse_search_params`` validates (400 naming the field)."""

    query: str | None = Field(None, description="words to search (at most 200 characters)")
    q: str | None = Field(None, description="alias of query")
    script_type: str | None = None
    strategy_type: str | None = None
    indicator: str | None = None
    timeframe: str | None = None
    open_source: str | None = Field(None, description="true or false")
    sort: str | None = Field(None, description="relevance, likes, views or newest")
    limit: str | None = Field(None, description="1 to 100")
    offset: str | None = None


class ScriptSearchOut(Out):
    total: int
    hits: list[dict[str, Any]]


class AnyOut(Out):
    """A JSON object (the catalogue's statistics and script records)."""


# ---------------------------------------------------------------------- parameters (production, preferences)


class MarketQuery(In):
    symbol: Symbol
    timeframe: Timeframe
    strategy: Name


class ParametersQuery(MarketQuery):
    regime: Literal["current", "base"] = Field(
        "current", description="current: the set for the newest candle's market regime when one exists; base: never"
    )


class TrialsOut(Out):
    raw: int = Field(description="cumulative trials of the ledger: every set any job tried on the slice")
    effective: int | None = Field(description="after clustering correlated trials (null: not measured)")
    job: int = Field(description="the producing job's trials")


class ProvenanceOut(Out):
    """Where a set came from and whether it beat the luck of its trials (docs/parameter-loop.md#provenance)."""

    job_id: int
    job_name: str
    run_id: int
    data_start: str
    data_end: str
    trials: TrialsOut
    dsr: float | None
    psr: float | None
    pbo: float | None
    walk_forward: dict[str, Any] | None
    luck: str | None = Field(description="the gate's refusal at the current settings; null: it beats luck")


class ParametersOut(Out):
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    source: Literal["user", "production", "default"]
    as_of: str | None
    metrics: dict[str, Any] | None
    confidence: dict[str, Any]
    regime: str | None
    set_id: int | None
    provenance: ProvenanceOut | None


class ContextQuery(In):
    symbol: Symbol
    timeframe: Timeframe


class ParameterSetOut(Out):
    id: int
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    source: str
    job_id: int | None
    run_id: int | None
    metrics: dict[str, Any]
    provenance: ProvenanceOut | None
    applied_by: str | None
    applied_at: str
    is_active: bool


class ActiveSetOut(Out):
    active: ParameterSetOut | None


class HistoryOut(Out):
    history: list[ParameterSetOut]


class ChangesQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    limit: int = Field(100, ge=1, le=1000)


class ChangesOut(Out):
    changes: list[dict[str, Any]]


class ApplyIn(In):
    """Apply a run (the dashboard's Apply) or, without ``run_id``, the newest job's best of the given slices."""

    run_id: Id | None = None
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    min_improvement_pct: float = Field(5.0, ge=0, le=10_000, allow_inf_nan=False)
    robust: bool = True
    min_trades: int | None = Field(None, ge=0, le=100_000)


class RollbackIn(In):
    symbol: Symbol
    timeframe: Timeframe
    strategy: Name
    to_set_id: Id


class DecisionOut(Out):
    symbol: str
    timeframe: str
    strategy: str
    decision: Literal["applied", "proposed", "skipped"]
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    improvement_pct: float | None
    metrics: dict[str, Any]


class DecisionsOut(Out):
    decisions: list[DecisionOut]


class UserSetOut(Out):
    id: int
    symbol: str
    strategy: str
    params: dict[str, Any]
    use_custom: bool
    params_source: str | None
    updated_at: str | None
    provenance: ProvenanceOut | None


class UserSetsOut(Out):
    sets: list[UserSetOut]


class PreferenceIn(In):
    symbol: Symbol
    strategy: Name
    params: Annotated[dict[str, Scalar], Field(max_length=50)]


class CopyRunIn(In):
    run_id: Id


class CopyProductionIn(In):
    symbol: Symbol
    timeframe: Timeframe
    strategy: Name


class PreferenceKeyQuery(In):
    symbol: Symbol
    strategy: Name


# ---------------------------------------------------------------------- outcomes and the decay monitor


class OutcomesQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None
    state: Literal["waiting", "open", "closed", "cancelled", "invalid", "skipped"] | None = None
    limit: int = Field(100, ge=1, le=500)
    offset: int = Field(0, ge=0, le=10**9)


class OutcomeRow(Out):
    id: int
    setup_kind: str
    symbol: str
    timeframe: str
    strategy: str
    direction: int
    detected_at: str
    params_source: str
    parameter_set_id: int | None
    state: str
    r_multiple: float | None
    exit_reason: str | None


class OutcomesOut(Out):
    total: int
    rows: list[OutcomeRow]


class MonitorQuery(In):
    symbol: Symbol | None = None
    timeframe: Timeframe | None = None
    strategy: Name | None = None


class MonitorSuggestion(Out):
    action: Literal["rollback", "default", "reoptimize"]
    to_set_id: int | None
    params: dict[str, Any] | None
    evidence: list[str]


class MonitorState(Out):
    set_id: int
    symbol: str
    timeframe: str
    strategy: str
    params: dict[str, Any]
    expectation_basis: str
    trades: int
    win_rate: float
    live_mean_r: float
    cumulative_r: float
    expectation: dict[str, Any]
    band: dict[str, float] | None
    cusum: float
    cusum_alarm_at: int | None
    sprt: Literal["holds", "decay", "continue"]
    sprt_decided_at: int | None
    min_track_record: int | None
    trades_for_verdict: int | None
    p_value: float
    verdict: Literal["ok", "watch", "alarm", "too_early", "no_expectation"]
    evidence: list[str]
    suggestion: MonitorSuggestion | None


class MonitorOut(Out):
    sets: list[MonitorState]
