"""The Jinja filters and globals every page formats with: numbers (``app.core.formatting``) and parameter sets.

Registered once on the app (a blueprint without routes), so a template never
formats a number with ``"%.2f"|format`` of its own: ``{{ v | price }}``,
``{{ v | pct }}``, ``{{ v | rate }}``, ``{{ v | r }}``, ``{{ v | num }}``,
``{{ seconds | duration }}``; parameter sets go through the macros in
``_params.html`` (``param_chips``, ``param_diff``).
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import Blueprint

from app.core import formatting
from app.strategies import param_view

bp = Blueprint("filters", __name__)

for _name, _function in {
    "price": formatting.price,
    "pct": formatting.pct,
    "rate": formatting.rate,
    "r": formatting.r_multiple,
    "num": formatting.number,
    "duration": formatting.duration,
}.items():
    bp.add_app_template_filter(_function, _name)
bp.add_app_template_global(formatting.metric, "metric")
bp.add_app_template_global(formatting.metric_label, "metric_label")
bp.add_app_template_global(param_view.chips, "param_chips")
bp.add_app_template_global(param_view.diff, "param_diff")


@bp.app_template_filter("urlencode_without")
def urlencode_without(args, names: list[str]) -> str:
    """The query string ``args`` without ``names`` (links that change sort or page keep the filters)."""
    return urlencode([(k, v) for k, v in args.items(multi=True) if k not in names])


@bp.app_template_filter("when")
def when(iso: str | None) -> str:
    """An ISO timestamp as the pages print it: ``2024-03-01 14:00`` (UTC, minutes)."""
    return iso[:16].replace("T", " ") if iso else formatting.MISSING
