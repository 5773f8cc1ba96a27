from datetime import datetime

import numpy as np
import pytest
from sqlalchemy import select

from app.core.candles import read_candles_csv
from app.core.patterns import get_detector
from app.models import Pattern
from app.services.candles import candle_store
from app.services.scanning import pattern_scanner
from app.services.scanning.stored_setups import StoredZones, naive_ns

SLICE = {"symbol": "BTC/USDT", "timeframe": "1d"}
IMBALANCE = (Pattern.pattern_type == "imbalance",)


@pytest.fixture
def scanned(db, bundled_dir):
    candle_store.store_candles(read_candles_csv(bundled_dir / "BTC_USDT-1d.csv.gz"), **SLICE)
    pattern_scanner.scan_detector(get_detector("imbalance"), **SLICE)
    return list(db.session.scalars(select(Pattern).where(*IMBALANCE).order_by(Pattern.id)))


def loaded(until=None) -> StoredZones:
    zones = StoredZones()
    zones.load(IMBALANCE, until)
    return zones


def test_every_stored_identity_is_known_and_only_those(scanned):
    zones = loaded()
    codes = np.array([1 if p.direction == "bullish" else -1 for p in scanned], np.int8)
    stamps = naive_ns([p.detected_at for p in scanned])
    assert zones.identities.contains(codes, stamps).all()
    assert not zones.identities.contains(-codes, stamps).any()  # the same candle, the other direction
    assert not zones.identities.contains(codes, stamps + 1).any()


def test_a_live_scan_follows_every_open_zone_in_id_order(scanned):
    zones = loaded()
    open_ids = [p.id for p in scanned if p.status not in ("invalidated", "expired")]
    assert open_ids and [zones.patterns[i].id for i in zones.followed(None)] == open_ids


def test_as_of_a_date_only_zones_detected_by_then_and_not_closed_by_then(scanned):
    until = scanned[len(scanned) // 2].detected_at
    zones = loaded(until)
    expected = [
        p.id
        for p in scanned
        if p.detected_at <= until
        and (p.status not in ("invalidated", "expired") or (p.status_changed_at and p.status_changed_at > until))
    ]
    assert [zones.patterns[i].id for i in zones.followed(until)] == expected


def test_a_status_set_moves_the_row_and_the_arrays(scanned):
    zones = loaded(datetime(2000, 1, 1))
    position = int(np.flatnonzero(zones.status == 0)[0])
    zones.set_status(position, "expired", changed_ns=int(naive_ns([datetime(2000, 1, 2)])[0]))
    assert zones.patterns[position].status == "expired"
    assert zones.patterns[position].status_changed_at == datetime(2000, 1, 2)
    held = len(zones.patterns)
    zones.followed(datetime(2000, 1, 3))  # closed by then: no later scan follows it
    assert len(zones.patterns) == held - 1


def test_added_patterns_are_followed_and_known(scanned, db):
    zones = loaded(datetime(2000, 1, 1))
    new = Pattern(**{**_columns(scanned[0]), "detected_at": datetime(1999, 12, 31), "status": "active"})
    db.session.add(new)
    db.session.flush()
    (position,) = zones.add([new])
    assert zones.patterns[position] is new
    assert position in zones.followed(datetime(2000, 1, 1))
    assert zones.identities.contains(
        np.array([1 if new.direction == "bullish" else -1], np.int8), naive_ns([new.detected_at])
    )


def test_rows_written_behind_the_session_are_read_again(scanned, db):
    first = loaded()
    target = first.patterns[0]
    db.session.execute(
        Pattern.__table__.update().where(Pattern.id == target.id).values(status="expired")
    )  # written behind the session: the held row is stale until expired
    db.session.commit()  # expires every held row (the default outside a replay)
    assert [p.id for p in loaded().patterns] == [p.id for p in first.patterns[1:]]


def test_scans_sharing_zones_must_go_forward_in_time(scanned):
    zones = loaded(datetime(2021, 6, 1))
    zones.followed(datetime(2021, 6, 1))
    with pytest.raises(ValueError, match="forward in time"):
        zones.followed(datetime(2021, 5, 1))


def _columns(pattern: Pattern) -> dict:
    names = ("symbol_id", "timeframe", "pattern_type", "direction", "zone_low", "zone_high")
    return {name: getattr(pattern, name) for name in names}
