"""The PV forecast learns the site's surplus per 15-minute slot of standard time (the sun's
clock) and predicts the next day."""

from __future__ import annotations

import datetime as dt

import pytz

from control.forecast import SLOT_S, PvForecaster, site_surplus_w

TZ = pytz.timezone("Europe/Amsterdam")


def t(day: int, hour: int, minute: int = 0, month: int = 6) -> float:
    return TZ.localize(dt.datetime(2026, month, day, hour, minute)).timestamp()


def test_tomorrow_at_noon_is_like_the_last_days_at_noon() -> None:
    f = PvForecaster("Europe/Amsterdam", days=3)
    for day, watts in ((1, 3000.0), (2, 4000.0), (3, 5000.0)):
        for s in range(0, SLOT_S, 60):
            f.record(t(day, 12) + s, watts)
    assert f.expected_w(t(4, 12, 5)) == 4000.0
    assert f.expected_w(t(4, 3)) is None  # never seen at night
    slots = f.forecast(t(4, 6), horizon_s=12 * 3600)
    assert [s.surplus_w for s in slots] == [4000.0]
    assert slots[0].start == t(4, 12) and slots[0].end == t(4, 12) + SLOT_S


def test_today_is_not_used_for_today_and_negative_surplus_counts_as_zero() -> None:
    f = PvForecaster("Europe/Amsterdam")
    f.record(t(5, 10), -800.0)
    f.record(t(6, 10), 2000.0)
    assert f.expected_w(t(6, 10)) == 0.0  # only day 5 is before day 6
    assert f.expected_w(t(7, 10)) == 1000.0


def test_across_a_dst_change_the_sun_stays_at_its_solar_time() -> None:
    f = PvForecaster("Europe/Amsterdam")
    f.record(t(28, 13, month=3), 2500.0)  # Saturday before the spring change, 13:00 CET
    assert f.expected_w(t(29, 14, month=3)) == 2500.0  # the same sun is at 14:00 CEST
    assert f.expected_w(t(29, 13, month=3)) is None
    g = PvForecaster("Europe/Amsterdam")
    g.record(t(24, 16, month=10), 1200.0)  # Saturday before the autumn change, 16:00 CEST
    assert g.expected_w(t(25, 15, month=10)) == 1200.0  # 15:00 CET on the 25-hour day
    # the night's extra hour lands in a slot of its own, not on top of another
    h = PvForecaster("Europe/Amsterdam")
    first = TZ.localize(dt.datetime(2026, 10, 25, 2, 30), is_dst=True).timestamp()
    h.record(first, 100.0)
    h.record(first + 3600, 300.0)  # 02:30 again, now in CET
    assert len(h.table["2026-10-25"]) == 2


def test_a_file_keyed_by_the_clock_is_moved_to_standard_time() -> None:
    old = {"2026-06-01": {"52": [6000.0, 3]}, "2026-01-10": {"40": [900.0, 1]}}
    f = PvForecaster("Europe/Amsterdam")
    f.load_json(old)
    assert f.table == {"2026-06-01": {48: (6000.0, 3)}, "2026-01-10": {40: (900.0, 1)}}
    assert f.expected_w(t(2, 13)) == 2000.0  # 13:00 CEST in June, where it was learned
    g = PvForecaster("Europe/Amsterdam")
    g.load_json(f.to_json())
    assert g.table == f.table


def test_survives_a_json_round_trip_and_drops_garbage() -> None:
    f = PvForecaster("Europe/Amsterdam")
    f.record(t(1, 12), 1500.0)
    g = PvForecaster("Europe/Amsterdam")
    g.load_json({**f.to_json(), "bad": "x", "2026-06-02": {"x": [1, 2], "5": "y"}})
    assert g.expected_w(t(2, 12)) == 1500.0
    assert g.table.keys() == {"2026-06-01"}


def test_surplus_excludes_the_car_from_consumption() -> None:
    assert site_surplus_w(5000.0, (1000.0, 3500.0, 500.0), 3000.0) == 3000.0
    assert site_surplus_w(5000.0, (1000.0, None, 500.0), 0.0) is None
    assert site_surplus_w(None, (0.0, 0.0, 0.0), 0.0) is None


def test_a_dull_morning_lowers_the_rest_of_today_but_not_tomorrow() -> None:
    f = PvForecaster("Europe/Amsterdam", days=3)
    for day in (1, 2, 3):  # three sunny days: 4 kW from 08:00 to 16:00
        for h in range(8, 16):
            for s in range(0, 3600, 300):
                f.record(t(day, h) + s, 4000.0)
    for h in (8, 9):  # today's morning gives a quarter of that
        for s in range(0, 3600, 300):
            f.record(t(4, h) + s, 1000.0)
    assert f.today_ratio(t(4, 10)) == 0.25
    slots = {s.start: s.surplus_w for s in f.forecast(t(4, 10), horizon_s=30 * 3600)}
    assert slots[t(4, 12)] == 1000.0  # today: scaled
    assert slots[t(5, 12)] == 4000.0  # tomorrow: as learned
    # no finished slot of today yet, or too little sun expected in them: no correction
    g = PvForecaster("Europe/Amsterdam", days=3)
    g.table = {k: dict(v) for k, v in f.table.items() if k != "2026-06-04"}
    g.record(t(4, 8), 0.0)
    assert g.today_ratio(t(4, 8, 5)) is None
    g.record(t(4, 7), 0.0)  # 07:00-07:15 was dark on the last days too
    assert g.today_ratio(t(4, 7, 20)) is None
