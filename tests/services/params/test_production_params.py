"""What production trades per slice: ``production_by_regime`` as of a time, and the replay's timeline of it."""

from datetime import datetime

import pytest
from params_helpers import BETTER, DEFAULTS, SLICE
from sqlalchemy import update

from app.models import ProductionParameterSet, Symbol
from app.services.params import parameter_sets
from app.services.params.production_params import ProductionTimeline, production_by_regime

APPLIED = [datetime(2024, 1, 1), datetime(2024, 6, 1), datetime(2024, 6, 1)]  # the last two applied at once


@pytest.fixture
def history(db):
    db.session.add(Symbol(name="BTC/USDT", exchange="binance"))
    db.session.commit()
    for when, params in zip(APPLIED, [BETTER, DEFAULTS, {**BETTER, "rr_target": 1.5}], strict=True):
        row = parameter_sets.apply_set(**SLICE, params=params, source="manual", actor="t", reason="test")
        db.session.execute(
            update(ProductionParameterSet).where(ProductionParameterSet.id == row["id"]).values(applied_at=when)
        )
    db.session.commit()


def _seen(by_regime) -> list[tuple]:
    return [(r.set_id, r.source, r.params, g.labels) for r, g in by_regime]


@pytest.mark.parametrize(
    "as_of",
    [datetime(2023, 12, 31), datetime(2024, 1, 1), datetime(2024, 3, 1), datetime(2024, 6, 1), datetime(2025, 1, 1)],
)
def test_the_timeline_resolves_what_production_resolved_then(history, as_of):
    timeline = ProductionTimeline(**SLICE)
    assert _seen(timeline.by_regime(as_of)) == _seen(production_by_regime(**SLICE, as_of=as_of))


def test_the_timeline_hands_out_copies(history):
    timeline = ProductionTimeline(**SLICE)
    timeline.by_regime(datetime(2024, 3, 1))[0][0].params["rr_target"] = 99.0
    assert timeline.by_regime(datetime(2024, 3, 1))[0][0].params == BETTER
