"""What the controller tells the page: site power, prices and the deadline plan's finish."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from common.clock import ManualClock
from common.config import validate_config
from common.mqtt_link import Message
from common.schemas import load_schema, validate
from common.topics import Topics
from control.model import (
    ChargerView,
    Decision,
    Memory,
    Mode,
    Prices,
    PriceSlot,
    SiteView,
    Status,
)
from control.report import (
    deadline_report,
    plan_finish,
    prices_report,
    site_report,
    strategy_plan,
)
from control.runner import Runner
from control.settings import CoreSettings
from control.settings_cmd import defaults_from_config
from tests.fakes import build_runner
from tests.helpers import base_config

T = Topics("alfen", "0")

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


# ---- the strategy's slots -----------------------------------------------------------------
def _slots(start: float, prices: list) -> tuple:
    return tuple(PriceSlot(start + Q * i, start + Q * (i + 1), p) for i, p in enumerate(prices))


def _settings(**kw: object) -> CoreSettings:
    return replace(CoreSettings(), tibber_enabled=True, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw, expected",
    [
        ({"strategy": "threshold", "max_price_total": 0.2}, [1, 3]),
        ({"strategy": "percentile", "cheap_percentile": 0.5}, [1, 3]),
        ({"strategy": "percentile", "cheap_percentile": 0.25}, [3]),
    ],
)
def test_strategy_plan_marks_the_slots_the_strategy_charges_in(kw: dict, expected: list) -> None:
    slots = _slots(0.0, [0.1, 0.3, 0.2, 0.25, 0.15])  # the first one is over
    got = strategy_plan(Prices(slots, "tibber"), Q + 1, _settings(**kw))
    assert [slots.index(x) for x in got] == [i + 1 for i in expected]


def test_strategy_plan_is_empty_without_usable_prices() -> None:
    slots = _slots(0.0, [0.1, 0.1])
    s = _settings(strategy="threshold", max_price_total=1.0)
    assert strategy_plan(Prices(slots, "tibber", error="HTTP 401"), 1.0, s) == ()
    assert strategy_plan(Prices(slots, "tibber"), 3 * Q, s) == ()  # no price for now
    assert strategy_plan(Prices(slots, "tibber"), 1.0, replace(s, tibber_enabled=False)) == ()


# ---- the runner puts it in control/state --------------------------------------------------
class FakeLink:
    def __init__(self) -> None:
        self.sent: Dict[str, Any] = {}

    def start(self) -> None: ...
    def stop(self, final: Any = None) -> None: ...
    def subscribe(self, topic: str) -> None: ...
    def next_event(self, timeout_s: float) -> Any:
        return None

    def publish(self, topic: str, payload: Any, retain: bool = False, qos: int = 0) -> bool:
        self.sent[topic] = json.loads(payload) if payload not in ("online", "offline") else payload
        return True


class FakeTibber:
    def __init__(self, prices: Prices) -> None:
        self._prices = prices

    def load_cache(self) -> None: ...
    def poll(self, now: float) -> None: ...
    def prices(self, now: float) -> Prices:
        return self._prices


def _runner(tmp_path: Path, now: float, slots: tuple) -> Tuple[Runner, FakeLink]:
    raw = base_config(
        tmp_path,
        1502,
        1883,
        tibber={
            "enabled": True,
            "access_token": "t",
            "strategy": "threshold",
            "max_price_total": 0.2,
        },
        pricing={"source": "tibber"},
    )
    cfg = validate_config(raw)
    link = FakeLink()
    runner = build_runner(
        cfg,
        link,
        ManualClock(wall=now),
        defaults=replace(defaults_from_config(cfg), mode=Mode.SCHEDULED),
        tibber=FakeTibber(Prices(slots, "tibber")),
    )
    runner.load()
    state = {**load_schema("state")["examples"][0], "ts": now, "mode3": "B2", "power_w": 0.0}
    runner.handle(Message(T.availability, b"online", True), now)
    runner.handle(Message(T.state, json.dumps(state).encode(), True), now)
    return runner, link


def test_scheduled_control_state_carries_the_plan_and_the_deadline(tmp_path: Path) -> None:
    now = 1_764_561_600.0 + 60  # 04:01 in Amsterdam
    slots = _slots(now - 60, [0.3, 0.15, 0.3, 0.1] + [0.3] * 92)
    runner, link = _runner(tmp_path, now, slots)
    runner.tick(now)
    body = link.sent[T.control_state]
    validate("control_state", body)
    assert [p["start"] for p in body["plan"]] == [slots[1].start, slots[3].start]
    assert body["schedule"] is None  # no deadline: the price strategy decides
    prices = link.sent[T.control_prices]
    validate("control_prices", prices)
    assert len(prices["slots"]) == 96 and prices["source"] == "tibber"

    runner.user = replace(runner.user, deadline=(5.0, "07:30"))
    runner.tick(now + 1)
    body = link.sent[T.control_state]
    validate("control_state", body)
    sched = body["schedule"]
    assert sched["by_hhmm"] == "07:30" and sched["energy_kwh"] == 5.0 and sched["left_kwh"] == 5.0
    assert sched["on_time"] is True and now < sched["finish"] <= sched["by"]
    assert body["plan"] and sched["finish"] <= body["plan"][-1]["end"]
    runner.store.close()
