"""SQLAlchemy models, one module per concept."""

from app.models.api_token import ApiToken
from app.models.candle import Candle, CandleSeries
from app.models.lookahead_verdict import LookaheadVerdict
from app.models.optimization import OptimizationJob, OptimizationRun, OptimizationSlice
from app.models.parameter_set import ParameterChange, ProductionParameterSet
from app.models.pattern import Pattern
from app.models.preference import UserParameterSet, UserSymbolPreference
from app.models.setup_outcome import SetupOutcome
from app.models.signal import Signal
from app.models.symbol import Symbol
from app.models.trading_script import TradingScript
from app.models.user import User

__all__ = [
    "ApiToken",
    "Candle",
    "CandleSeries",
    "LookaheadVerdict",
    "OptimizationJob",
    "OptimizationRun",
    "OptimizationSlice",
    "ParameterChange",
    "Pattern",
    "ProductionParameterSet",
    "SetupOutcome",
    "Signal",
    "Symbol",
    "TradingScript",
    "User",
    "UserParameterSet",
    "UserSymbolPreference",
]
