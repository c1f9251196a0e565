"""SCHEDULED: windows (overnight, both item forms), Tibber strategies, deadline plans, DST."""

from __future__ import annotations

import datetime as dt
from typing import List

import pytest
import pytz

from control.core import CoreSettings, decide
from control.local_time import deadline_at
from control.model import Memory, Mode, Prices, PriceSlot, Status
from control.scheduled import active_window, percentile_limit, plan_cheapest
from control.settings import parse_windows
from tests.test_control_core import charger, snap

AMS = pytz.timezone("Europe/Amsterdam")


def ts(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return AMS.localize(dt.datetime(y, mo, d, h, mi)).timestamp()


def slots(start: float, prices: List[float], size: int = 900) -> List[PriceSlot]:
    return [PriceSlot(start + i * size, start + (i + 1) * size, p) for i, p in enumerate(prices)]


def test_overnight_legacy_window_belongs_to_its_start_day() -> None:
    # Monday only (Sun=1, Mon=2): Mon 23:00 and Tue 05:59 inside, Tue 23:00 not
    w = parse_windows([{"enabled": 1, "days_mask": 2, "start": "22:00", "end": "06:00"}])
    assert active_window(w, ts(2026, 6, 1, 23), "Europe/Amsterdam") is not None
    assert active_window(w, ts(2026, 6, 2, 5, 59), "Europe/Amsterdam") is not None
    assert active_window(w, ts(2026, 6, 2, 6, 0), "Europe/Amsterdam") is None
    assert active_window(w, ts(2026, 6, 2, 23), "Europe/Amsterdam") is None


def test_item_form_days_and_disabled_items() -> None:
    w = parse_windows(
        [
            {"active": True, "days": [5, 6], "start_time": "10:00", "end_time": "12:00"},
            {"active": False, "days": [0], "start_time": "00:00", "end_time": "23:00"},
        ]
    )
    assert len(w) == 1 and w[0].days_mask == 1 | 64  # Sat and Sun
    assert active_window(w, ts(2026, 6, 6, 11), "Europe/Amsterdam") is not None  # Saturday
    assert active_window(w, ts(2026, 6, 8, 11), "Europe/Amsterdam") is None  # Monday


def test_window_keeps_wall_clock_across_dst() -> None:
    w = parse_windows([{"enabled": True, "days_mask": 127, "start": "01:00", "end": "04:00"}])
    # 29 March 2026: 02:00 → 03:00 does not exist; 03:30 CEST is still inside
    assert active_window(w, ts(2026, 3, 29, 3, 30), "Europe/Amsterdam") is not None
    assert active_window(w, ts(2026, 3, 29, 4, 0), "Europe/Amsterdam") is None


def test_scheduled_windows_fallback_reason_on_price_error() -> None:
    s = CoreSettings(
        tibber_enabled=True,
        windows=parse_windows([{"enabled": 1, "days_mask": 127, "start": "22:00", "end": "06:00"}]),
    )
    p = Prices(error="HTTP 429")
    noon = ts(2026, 6, 1, 12) - snap().now
    dec, _ = decide(snap(noon, ch=charger(), mode=Mode.SCHEDULED, prices=p), Memory(), s)
    assert "price error (HTTP 429)" in dec.reason and "outside the time windows" in dec.reason
    t = ts(2026, 6, 1, 23)
    dec, _ = decide(snap(t - snap().now, mode=Mode.SCHEDULED, prices=Prices()), Memory(), s)
    assert dec.amps == 25 and "no prices" in dec.reason and "22:00–06:00" in dec.reason  # fuse


def test_strategies_on_the_current_slot() -> None:
    now = ts(2026, 6, 1, 12)
    prices = slots(now - 900, [0.10, 0.30, 0.20, 0.12, 0.35, 0.40])
    s_thr = CoreSettings(tibber_enabled=True, strategy="threshold", max_price_total=0.25)
    s_pct = CoreSettings(tibber_enabled=True, strategy="percentile", cheap_percentile=0.4)
    s_lvl = CoreSettings(tibber_enabled=True, strategy="level")
    base = snap(now - snap().now, mode=Mode.SCHEDULED, prices=Prices(tuple(prices), "tibber"))
    assert decide(base, Memory(), s_thr)[0].amps == 0  # 0.30 > 0.25
    # upcoming only: the past 0.10 slot is ignored → 40 % of 5 = 2 cheapest: 0.12, 0.20
    assert percentile_limit(prices, now, 0.4) == pytest.approx(0.20)
    dec, _ = decide(base, Memory(), s_pct)
    assert dec.amps == 0 and dec.reason.startswith("cheapest slots start at 12:15")
    dec, _ = decide(base, Memory(), s_lvl)  # average 0.25 → 0.30 is NORMAL
    assert dec.amps == 0 and dec.status == Status.WAIT_START


def test_deadline_plan_picks_cheapest_quarter_hours() -> None:
    now = ts(2026, 6, 1, 22)
    prices = slots(now, [0.30, 0.10, 0.30, 0.05, 0.30, 0.10, 0.30, 0.30])
    chosen, ok = plan_cheapest(prices, now, now + 8 * 900, 11040 * 0.5, 11040)
    assert ok and [c.price for c in chosen] == [0.05, 0.10]  # ties → the later 0.10
    assert chosen[1].start == now + 5 * 900


def test_deadline_plan_through_decide_with_reason_and_progress() -> None:
    now = ts(2026, 6, 1, 18)
    prices = slots(now, [0.30] * 20 + [0.10] * 8 + [0.30] * 30)  # cheap 23:00–01:00
    s = CoreSettings(timezone="Europe/Amsterdam")
    sn = snap(
        now - snap().now,
        mode=Mode.SCHEDULED,
        prices=Prices(tuple(prices), "tibber"),
        deadline=(11.04, "07:00"),
        max_current_a=16,
    )
    dec, mem = decide(sn, Memory(), s)
    # ties go to the later quarter hours: 00:00–01:00 rather than 23:00–00:00
    assert dec.amps == 0 and dec.reason.startswith("cheapest slots start at 00:00")
    assert mem.plan_deadline == ts(2026, 6, 2, 7) and len(dec.plan) == 4
    # at 00:45, 8 kWh delivered: 3.04 kWh need two quarter hours, only one cheap one is left
    dec, mem = decide(
        snap(
            now + 6.75 * 3600 - snap().now,
            ch=charger(16.0, energy_wh=18_000.0),
            mode=Mode.SCHEDULED,
            prices=Prices(tuple(prices), "tibber"),
            deadline=(11.04, "07:00"),
            max_current_a=16,
        ),
        mem,
        s,
    )
    assert dec.amps == 16 and "3.0 kWh more by 07:00" in dec.reason


def test_deadline_without_prices_falls_back_but_keeps_the_deadline() -> None:
    now = ts(2026, 6, 2, 5)
    s = CoreSettings()
    sn = snap(now - snap().now, mode=Mode.SCHEDULED, deadline=(30.0, "07:00"), max_current_a=16)
    dec, _ = decide(sn, Memory(), s)
    assert dec.amps == 16 and "no prices: charging now" in dec.reason


@pytest.mark.parametrize(
    "now,hhmm,hours",
    [
        ((2026, 3, 28, 18), "07:00", 12),  # spring forward: the night is an hour shorter
        ((2026, 10, 24, 18), "07:00", 14),  # fall back: an hour longer
        ((2026, 3, 28, 23), "02:30", 3.5),  # 02:30 does not exist: 03:30 CEST
    ],
)
def test_deadline_dst(now: tuple, hhmm: str, hours: float) -> None:
    t = ts(*now)
    assert deadline_at(t, hhmm, "Europe/Amsterdam") - t == pytest.approx(hours * 3600)


def test_plan_on_dst_night_counts_real_quarter_hours() -> None:
    start = ts(2026, 10, 24, 22)
    n = int((deadline_at(start, "07:00", "Europe/Amsterdam") - start) / 900)
    assert n == 40  # 22:00 → 07:00 across the extra hour = 10 h
    chosen, ok = plan_cheapest(slots(start, [0.2] * n), start, start + n * 900, 11040 * 10, 11040)
    assert ok and len(chosen) == 40


def test_pv_forecast_makes_slots_free() -> None:
    from control.model import ForecastSlot

    now = ts(2026, 6, 1, 10)
    prices = slots(now, [0.10, 0.20])
    fc = (ForecastSlot(now + 900, now + 1800, 11040.0),)
    chosen, _ = plan_cheapest(prices, now, now + 1800, 11040 * 0.25, 11040, fc)
    assert [c.price for c in chosen] == [0.20]  # the sunny slot costs nothing
