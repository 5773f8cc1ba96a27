"""Did a production set's edge decay? Its live trades against the backtest's expectation (pure).

Inputs: the live net R of the set's closed trades in exit order, and the
``Expectation`` its backtest gives (mean and standard deviation of net R per
trade, out-of-sample where walk-forward ran, and the backtest's trade R for
resampling). Every statistic at trade ``j`` depends on trades ``1..j`` only
(prefix invariant: no lookahead), tested.

- **Monte Carlo band**: ``MC_RUNS`` cumulative-R paths of the same number of
  trades resampled from the backtest's trades (re-centred on the expected
  mean), the ``BAND_QUANTILES`` at every trade count. Fixed seed: the band is a
  function of the expectation only.
- **CUSUM** (one-sided, lower): on standardised R ``z = (r - mean) / sd``,
  ``S_j = max(0, S_{j-1} - z_j - k)``, alarm when ``S_j > h``. ``k = CUSUM_K``
  (0.25: tuned to a fall of half a standard deviation per trade) and
  ``h = CUSUM_H`` (8). In control (z standard normal) Siegmund's
  approximation gives an average run length to a false alarm of about 740
  trades (``cusum_arl``); after the edge drops to 0 the drift is ``mean / sd``
  and the same formula gives the expected delay.
- **SPRT** (Wald): H0 "edge = backtest" (mean = expected mean) against H1
  "edge = 0" (mean 0), normal with the backtest's sd; log likelihood ratio per
  trade ``(m^2 - 2 r m) / (2 sd^2)``; decay accepted at ``log((1 - beta) / alpha)``,
  the backtest's edge at ``log(beta / (1 - alpha))`` (``SPRT_ALPHA`` = 0.05 the
  false-alarm rate, ``SPRT_BETA`` = 0.10 the rate of missing a dead edge).
  Expected trades to a decision under H1: ``sprt_expected_trades``.
- **Minimum track record length** (Bailey & Lopez de Prado): the trades
  needed before a mean this large is distinguishable from 0 at 95%,
  ``1 + (1 - g3 SR + (g4 - 1) / 4 SR^2) (z_0.95 / SR)^2`` with the backtest's
  per-trade Sharpe ratio SR, skewness g3 and kurtosis g4. Fewer live trades
  and no alarm: the verdict is ``too_early``, not ``ok``.
- **Many sets**: each set's one-sided p-value of "live mean below the
  expected mean" (z-test with the backtest's sd) goes into Benjamini-Hochberg
  at ``FDR_Q`` (0.10) over every set monitored together; a CUSUM or SPRT
  alarm becomes ``alarm`` only when its set's p-value survives BH, else
  ``watch``. So at most about 10% of the sets called in alarm are expected to
  be false alarms, however many sets are monitored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

CUSUM_K = 0.25
CUSUM_H = 8.0
SPRT_ALPHA = 0.05
SPRT_BETA = 0.10
FDR_Q = 0.10
MC_RUNS = 2000
MC_SEED = 20240920
BAND_QUANTILES = (0.05, 0.5, 0.95)
TRL_CONFIDENCE = 0.95
MIN_EXPECTATION_TRADES = 10  # fewer backtest trades: no expectation to hold a set to

OK, WATCH, ALARM, TOO_EARLY, NO_EXPECTATION = "ok", "watch", "alarm", "too_early", "no_expectation"


@dataclass(frozen=True)
class Expectation:
    """What the backtest promises per trade: mean and sd of net R, and its trades' R for resampling."""

    mean_r: float
    sd_r: float
    sample_r: np.ndarray
    source: str = "in_sample"  # or "out_of_sample"

    @classmethod
    def from_trades(cls, r: Any, *, mean_r: float | None = None, source: str = "in_sample") -> Expectation:
        """Build it from backtest trade R; ``mean_r`` (e.g. the out-of-sample expectancy) overrides the mean."""
        sample = np.asarray(r, dtype=np.float64)
        if sample.ndim != 1 or not np.all(np.isfinite(sample)):
            raise ValueError("backtest trade R must be a 1-d array of finite numbers")
        mean = float(sample.mean()) if mean_r is None and sample.size else float(mean_r or 0.0)
        sd = float(sample.std(ddof=1)) if sample.size >= 2 else 0.0
        return cls(mean_r=mean, sd_r=sd, sample_r=sample, source=source)

    @property
    def usable(self) -> bool:
        """A positive edge with spread, from enough trades: something that can decay."""
        return self.sample_r.size >= MIN_EXPECTATION_TRADES and self.sd_r > 0 and self.mean_r > 0


def cusum_path(r: Any, *, mean_r: float, sd_r: float, k: float = CUSUM_K) -> np.ndarray:
    """Return the lower one-sided CUSUM after each trade (module docstring)."""
    z = (np.asarray(r, dtype=np.float64) - mean_r) / sd_r
    out = np.empty(z.shape[0])
    s = 0.0
    for j, value in enumerate(z):
        s = max(0.0, s - value - k)
        out[j] = s
    return out


def cusum_arl(*, drift: float, k: float = CUSUM_K, h: float = CUSUM_H) -> float:
    """Return Siegmund's average run length of the lower CUSUM when the standardised mean falls by ``drift``."""
    delta = drift - k  # mean increment of S while it is away from 0
    b = h + 1.166
    if abs(delta) < 1e-9:
        return b * b
    return (math.exp(-2.0 * delta * b) + 2.0 * delta * b - 1.0) / (2.0 * delta * delta)


def sprt_bounds(alpha: float = SPRT_ALPHA, beta: float = SPRT_BETA) -> tuple[float, float]:
    """Return Wald's (lower, upper) log likelihood ratio bounds: (edge holds, edge gone)."""
    return math.log(beta / (1.0 - alpha)), math.log((1.0 - beta) / alpha)


def sprt_path(r: Any, *, mean_r: float, sd_r: float) -> np.ndarray:
    """Return the cumulative log likelihood ratio of "edge = 0" over "edge = backtest" after each trade."""
    x = np.asarray(r, dtype=np.float64)
    return np.cumsum((mean_r * mean_r - 2.0 * x * mean_r) / (2.0 * sd_r * sd_r))


def sprt_decision(path: np.ndarray, *, alpha: float = SPRT_ALPHA, beta: float = SPRT_BETA) -> tuple[str, int | None]:
    """Return ("decay" | "holds" | "continue", trade count at the decision) of the first bound crossed."""
    lower, upper = sprt_bounds(alpha, beta)
    crossed = np.flatnonzero((path >= upper) | (path <= lower))
    if crossed.size == 0:
        return "continue", None
    j = int(crossed[0])
    return ("decay" if path[j] >= upper else "holds"), j + 1


def sprt_expected_trades(expectation: Expectation, *, alpha: float = SPRT_ALPHA, beta: float = SPRT_BETA) -> float:
    """Return Wald's expected number of trades to a decision once the edge is 0 (H1)."""
    lower, upper = sprt_bounds(alpha, beta)
    drift = expectation.mean_r**2 / (2.0 * expectation.sd_r**2)  # E[LLR per trade | H1]
    return ((1.0 - beta) * upper + beta * lower) / drift


def min_track_record(expectation: Expectation, *, confidence: float = TRL_CONFIDENCE) -> int:
    """Return the minimum track record length in trades (module docstring)."""
    sample = expectation.sample_r
    sr = expectation.mean_r / expectation.sd_r
    g3 = float(stats.skew(sample)) if sample.size > 2 else 0.0
    g4 = float(stats.kurtosis(sample, fisher=False)) if sample.size > 3 else 3.0
    z = float(stats.norm.ppf(confidence))
    return int(math.ceil(1.0 + max(0.0, 1.0 - g3 * sr + (g4 - 1.0) / 4.0 * sr * sr) * (z / sr) ** 2))


def monte_carlo_band(expectation: Expectation, trades: int, *, runs: int = MC_RUNS, seed: int = MC_SEED) -> np.ndarray:
    """Return a (len(BAND_QUANTILES) x trades) array: quantiles of cumulative R after 1..trades resampled trades."""
    if trades <= 0:
        return np.zeros((len(BAND_QUANTILES), 0))
    sample = expectation.sample_r - expectation.sample_r.mean() + expectation.mean_r
    # Trade-major draws: the first j rows are the same whatever ``trades`` is, so the band is prefix invariant.
    draws = np.random.default_rng(seed).choice(sample, size=(trades, runs), replace=True)
    return np.quantile(np.cumsum(draws, axis=0), BAND_QUANTILES, axis=1)


def cumulative_r_paths(r: Any, expectation: Expectation) -> dict[str, list[float]]:
    """Return the live cumulative R after 0..n trades beside the Monte Carlo band for the same trade counts.

    ``{"trades", "live", "low", "median", "high"}``, each starting at trade 0 (cumulative R 0): what the
    outcomes page draws. The band is ``monte_carlo_band``'s (the same numbers as a state's ``band``).
    """
    x = np.asarray(r, dtype=np.float64)
    band = monte_carlo_band(expectation, int(x.size))
    paths = {"trades": list(range(x.size + 1)), "live": [0.0, *np.cumsum(x).tolist()]}
    for name, row in zip(("low", "median", "high"), band, strict=True):
        paths[name] = [0.0, *row.tolist()]
    return paths


def shortfall_p_value(r: Any, expectation: Expectation) -> float:
    """Return the one-sided p-value of "live mean below the expected mean" (z-test, backtest sd); 1 without trades."""
    x = np.asarray(r, dtype=np.float64)
    if x.size == 0:
        return 1.0
    z = (x.mean() - expectation.mean_r) / (expectation.sd_r / math.sqrt(x.size))
    return float(stats.norm.cdf(z))


def benjamini_hochberg(p_values: Any, *, q: float = FDR_Q) -> np.ndarray:
    """Return which hypotheses Benjamini-Hochberg rejects at false discovery rate ``q`` (boolean per p-value)."""
    p = np.asarray(p_values, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, np.bool_)
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, m + 1) / m
    rejected = np.zeros(m, np.bool_)
    if passed.any():
        rejected[order[: int(np.flatnonzero(passed)[-1]) + 1]] = True
    return rejected


@dataclass(frozen=True)
class SetMonitor:
    """One set's live record, its statistics and (after ``judge``) its verdict."""

    trades: int
    live_mean_r: float
    win_rate: float
    cumulative_r: float
    expectation: dict[str, Any]
    cusum: float
    cusum_alarm_at: int | None
    sprt_llr: float
    sprt: str
    sprt_decided_at: int | None
    p_value: float
    min_track_record: int | None
    trades_for_verdict: int | None
    expected_detection_trades: dict[str, float] | None
    band: dict[str, float] | None
    verdict: str = NO_EXPECTATION
    evidence: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def monitor_set(r: Any, expectation: Expectation) -> SetMonitor:
    """Return a set's statistics over its live trade R (exit order); ``judge`` gives the verdicts of many sets."""
    x = np.asarray(r, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError("live trade R must be a 1-d array of finite numbers")
    n = int(x.size)
    base = {
        "trades": n,
        "live_mean_r": float(x.mean()) if n else 0.0,
        "win_rate": float(100.0 * np.count_nonzero(x > 0) / n) if n else 0.0,
        "cumulative_r": float(x.sum()),
        "expectation": {
            "mean_r": expectation.mean_r,
            "sd_r": expectation.sd_r,
            "trades": int(expectation.sample_r.size),
            "source": expectation.source,
        },
    }
    if not expectation.usable:
        return SetMonitor(
            **base, cusum=0.0, cusum_alarm_at=None, sprt_llr=0.0, sprt="continue", sprt_decided_at=None,
            p_value=1.0, min_track_record=None, trades_for_verdict=None, expected_detection_trades=None, band=None,
        )  # fmt: skip
    m, sd = expectation.mean_r, expectation.sd_r
    cusum = cusum_path(x, mean_r=m, sd_r=sd)
    over = np.flatnonzero(cusum > CUSUM_H)
    llr = sprt_path(x, mean_r=m, sd_r=sd)
    decision, decided_at = sprt_decision(llr)
    trl = min_track_record(expectation)
    band = monte_carlo_band(expectation, n)
    return SetMonitor(
        **base,
        cusum=float(cusum[-1]) if n else 0.0,
        cusum_alarm_at=int(over[0]) + 1 if over.size else None,
        sprt_llr=float(llr[-1]) if n else 0.0,
        sprt=decision,
        sprt_decided_at=decided_at,
        p_value=shortfall_p_value(x, expectation),
        min_track_record=trl,
        trades_for_verdict=max(0, trl - n),
        expected_detection_trades={
            "sprt": sprt_expected_trades(expectation),
            "cusum": cusum_arl(drift=m / sd),
            "cusum_false_alarm_arl": cusum_arl(drift=0.0),
        },
        band={"low": float(band[0, -1]), "median": float(band[1, -1]), "high": float(band[2, -1])} if n else None,
    )


def judge(monitors: list[SetMonitor], *, q: float = FDR_Q) -> list[SetMonitor]:
    """Return the monitors with their verdicts, Benjamini-Hochberg across all of them (module docstring)."""
    judged_idx = [i for i, mon in enumerate(monitors) if mon.min_track_record is not None and mon.trades > 0]
    rejected = benjamini_hochberg([monitors[i].p_value for i in judged_idx], q=q)
    significant = {i for i, r in zip(judged_idx, rejected.tolist(), strict=True) if r}
    out = []
    for i, mon in enumerate(monitors):
        verdict, evidence = _verdict(mon, i in significant, q)
        out.append(SetMonitor(**{**mon.to_dict(), "verdict": verdict, "evidence": evidence}))
    return out


def _verdict(mon: SetMonitor, significant: bool, q: float) -> tuple[str, list[str]]:
    if mon.min_track_record is None:
        return NO_EXPECTATION, ["the backtest promises no positive edge from enough trades: nothing to hold it to"]
    evidence = []
    if mon.cusum_alarm_at is not None:
        evidence.append(f"CUSUM above h={CUSUM_H:g} (k={CUSUM_K:g}) at trade {mon.cusum_alarm_at}")
    if mon.sprt == "decay":
        evidence.append(f"SPRT accepts edge = 0 at trade {mon.sprt_decided_at} (alpha {SPRT_ALPHA}, beta {SPRT_BETA})")
    if mon.band is not None and mon.cumulative_r < mon.band["low"]:
        evidence.append(f"cumulative R {mon.cumulative_r:.2f} below the 5% Monte Carlo band {mon.band['low']:.2f}")
    alarmed = mon.cusum_alarm_at is not None or mon.sprt == "decay"
    if alarmed and significant:
        evidence.append(f"shortfall p = {mon.p_value:.4f} survives Benjamini-Hochberg at q = {q:g}")
        return ALARM, evidence
    if alarmed or evidence:
        return WATCH, evidence
    if mon.trades < mon.min_track_record:
        return TOO_EARLY, [f"{mon.trades} of {mon.min_track_record} trades for a verdict"]
    return OK, [f"live mean {mon.live_mean_r:.3f} R vs expected {mon.expectation['mean_r']:.3f} R"]
