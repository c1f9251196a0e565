"""What the controller tells the page: site power, prices and the deadline plan's finish."""

from __future__ import annotations

import pytest

from control.model import ChargerView, Decision, Memory, Prices, PriceSlot, SiteView, Status
from control.report import deadline_report, plan_finish, prices_report, site_report

Q = 900.0  # a quarter hour


def test_site_report_splits_the_car_out_of_the_house_and_rounds_to_10_w() -> None:
    site = SiteView(
        grid_power_w=(1001.0, None, -3.0),
        pv_power_w=2504.0,
        consumption_w=(2000.0, 1500.0, 1200.0),
        battery_soc=55.55,
        battery_power_w=-1234.0,
        fresh=True,
    )
    body = site_report(site, ChargerView(online=True, power_w=3700.0), 5.0)
    assert body == {
        "ts": 5.0,
        "fresh": True,
        "pv_w": 2500.0,
        "grid_w": 1000.0,
        "battery_w": -1230.0,
        "battery_soc": 55.5,
        "house_w": 1000.0,
        "ev_w": 3700.0,
    }


def test_site_report_unknown_stays_unknown() -> None:
    body = site_report(SiteView(), ChargerView(online=False, power_w=3700.0), 5.0)
    assert body["fresh"] is False
    assert {k for k, v in body.items() if v is None} == {
        "pv_w",
        "grid_w",
        "battery_w",
        "battery_soc",
        "house_w",
        "ev_w",
    }


def test_prices_report_lists_the_slots() -> None:
    prices = Prices((PriceSlot(0.0, Q, 0.2, "CHEAP"),), source="tibber")
    body = prices_report(prices, "EUR", None)
    assert body["slots"] == [{"start": 0.0, "end": Q, "price": 0.2, "level": "CHEAP"}]
    assert body["static_rate"] is None


@pytest.mark.parametrize(
    "need_wh, expected",
    [
        (11000 / 4, Q),  # exactly the first quarter hour
        (11000 / 4 * 1.5, 2 * Q + Q / 2),  # half way into the second planned slot
        (11000, None),  # two slots deliver 5.5 kWh: the plan falls short
        (0.0, None),
    ],
)
def test_plan_finish(need_wh: float, expected: object) -> None:
    plan = (PriceSlot(0.0, Q, 0.1), PriceSlot(2 * Q, 3 * Q, 0.1))
    assert plan_finish(plan, need_wh, 11000.0) == expected


def test_deadline_report_gives_deadline_and_expected_finish() -> None:
    plan = (PriceSlot(3600.0, 3600.0 + Q, 0.1),)
    d = Decision(0.0, None, Status.WAIT_START, "x", plan, {"need_wh": 2000, "plan_power_w": 11000})
    mem = Memory(plan_key="20@07:30", plan_deadline=7200.0)
    body = deadline_report(d, mem)
    assert body is not None
    assert body["by"] == 7200.0 and body["by_hhmm"] == "07:30" and body["energy_kwh"] == 20.0
    assert body["left_kwh"] == 2.0 and body["on_time"] is True
    assert body["finish"] == round(3600.0 + 2000 / 11000 * 3600)
    assert deadline_report(d, Memory()) is None
