"""SQLAlchemy models, one module per concept."""

from app.models.candle import Candle
from app.models.optimization import OptimizationJob, OptimizationRun
from app.models.pattern import Pattern
from app.models.preference import UserSymbolPreference
from app.models.symbol import Symbol
from app.models.trading_script import TradingScript
from app.models.user import User

__all__ = [
    "Candle",
    "OptimizationJob",
    "OptimizationRun",
    "Pattern",
    "Symbol",
    "TradingScript",
    "User",
    "UserSymbolPreference",
]
