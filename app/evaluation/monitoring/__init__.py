"""Live record of a production set against its backtest expectation (pure: numpy + scipy, no Flask, no SQLAlchemy)."""
