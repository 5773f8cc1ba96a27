"""Web forms (Flask-WTF: every form carries a CSRF token). Field rules live in the services they feed."""

from __future__ import annotations

import json

from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    PasswordField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, Optional
from wtforms.validators import ValidationError as WtfValidationError
from wtforms.widgets import CheckboxInput, ListWidget

from app.core.candles import TIMEFRAME_MS
from app.core.costs import COST_PRESETS
from app.enums import ValidationMode, values
from app.errors import ValidationError as AppValidationError
from app.services.candles import candle_store
from app.services.optimizer import jobs
from app.strategies import get_strategy, strategy_names


class SignInForm(FlaskForm):
    email = StringField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


class ChangePasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired()])
    new = PasswordField("New password", validators=[DataRequired()])


class ActionForm(FlaskForm):
    """A button that changes something (cancel, delete, re-run, apply, rollback, copy): only the CSRF token."""


def _chosen(form, field) -> None:
    """At least one box ticked (not DataRequired: its ``required`` flag would make the browser demand every box)."""
    if not field.data:
        raise WtfValidationError("choose at least one")


class NewJobForm(FlaskForm):
    """The jobs page's New job form; choices come from the declarations (strategies, spaces, cost presets).

    Each field is checked on its own, so its message shows next to it; what
    depends on several fields (candles stored for the scope, the run limit) is
    checked by ``jobs.create_job`` and shown above the form.
    """

    name = StringField("Name", validators=[DataRequired(), Length(max=100)])
    symbols = SelectMultipleField("Symbols", validators=[_chosen], widget=ListWidget(prefix_label=False))
    timeframes = SelectMultipleField("Timeframes", validators=[_chosen], widget=ListWidget(prefix_label=False))
    strategies = SelectMultipleField("Strategies", validators=[_chosen], widget=ListWidget(prefix_label=False))
    preset = SelectField("Grid preset")
    grid = TextAreaField("Custom grid (JSON, overrides the preset)", validators=[Optional()])
    start_date = DateField("Start", validators=[InputRequired()])
    end_date = DateField("End", validators=[InputRequired()])
    costs = SelectField("Costs")
    validation = SelectField("Validation")
    monte_carlo = BooleanField("Monte Carlo", default=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in (self.symbols, self.timeframes, self.strategies):
            field.option_widget = CheckboxInput()
        self.symbols.choices = [(s, s) for s in sorted({row["symbol"] for row in candle_store.coverage()})]
        self.timeframes.choices = [(tf, tf) for tf in TIMEFRAME_MS]
        self.strategies.choices = [(s, s) for s in strategy_names()]
        shared = set.intersection(*(set(get_strategy(s).space.presets) for s in strategy_names()))
        self.preset.choices = [(p, p) for p in sorted(shared, key=lambda p: p != "quick")]
        self.costs.choices = [(c, c) for c in COST_PRESETS]
        self.validation.choices = [(v, v.replace("_", "-")) for v in values(ValidationMode)]

    @property
    def spaces(self) -> dict:
        """Each strategy's declared space (parameters, constraints, presets), shown beside the form."""
        return {name: get_strategy(name).space.describe() for name in strategy_names()}

    def validate_grid(self, field) -> None:
        """A custom grid must be JSON and valid for every chosen strategy's declared space."""
        if not field.data or not field.data.strip():
            return
        try:
            grid = json.loads(field.data)
        except json.JSONDecodeError as exc:
            raise WtfValidationError(f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
        try:
            jobs.check_grids(grid, [s for s in self.strategies.data or [] if s in strategy_names()])
        except AppValidationError as exc:
            raise WtfValidationError(exc.message) from None

    def validate_end_date(self, field) -> None:
        if self.start_date.data and field.data and field.data < self.start_date.data:
            raise WtfValidationError("end must not be before start")

    def job_arguments(self) -> dict:
        """Return ``jobs.create_job``'s keyword arguments from the validated fields."""
        grid = self.grid.data.strip() if self.grid.data else ""
        return {
            "name": self.name.data,
            "symbols": self.symbols.data,
            "timeframes": self.timeframes.data,
            "strategies": self.strategies.data,
            "grids": json.loads(grid) if grid else self.preset.data,
            "start_date": self.start_date.data.isoformat(),
            "end_date": self.end_date.data.isoformat(),
            "costs": self.costs.data,
            "validation": self.validation.data,
            "monte_carlo": bool(self.monte_carlo.data),
        }
