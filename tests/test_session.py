"""Sessions as time series: start at plug-in, end at unplug, energy from the lifetime register."""

from __future__ import annotations

from typing import List, Optional, Tuple

import pytest

from control.model import SiteView
from control.session import Reading, Session, ev_sources, split_summary, summary, update

SUNNY = SiteView(grid_power_w=(-500.0, -500.0, -500.0), pv_power_w=8000.0, fresh=True)
GRID = SiteView(grid_power_w=(3000.0, 3000.0, 3000.0), pv_power_w=0.0, fresh=True)
UNKNOWN = SiteView()

# (t, plugged, register Wh, power W, price, site)
Step = Tuple[float, bool, Optional[float], Optional[float], Optional[float], SiteView]


def run(
    steps: List[Step], session: Optional[Session] = None, feed_in: float = 0.0
) -> Tuple[Optional[Session], list]:
    ended = []
    for t, plugged, e, p, price, site in steps:
        session, done = update(session, Reading(t, plugged, e, p, price, site, feed_in))
        if done is not None:
            ended.append(done)
    return session, ended


def test_session_starts_at_plug_in_and_ends_at_unplug() -> None:
    s, ended = run(
        [
            (0, False, 1000.0, 0.0, 0.25, SUNNY),
            (10, True, 1000.0, 0.0, 0.25, SUNNY),
            (20, True, 1010.0, 3600.0, 0.25, SUNNY),
            (30, True, 1020.0, 3600.0, 0.25, SUNNY),
            (40, False, 1020.0, 0.0, 0.25, SUNNY),
        ]
    )
    assert s is None and len(ended) == 1
    e = ended[0]
    assert (e.start, e.end, e.energy_wh, e.charging_time_s) == (10, 40, 20.0, 20.0)
    assert e.solar_share == pytest.approx(1.0)
    assert e.cost == 0.0  # all solar, and exporting it would have earned nothing (feed-in 0)


def test_restart_in_the_middle_neither_loses_nor_double_counts() -> None:
    """The persisted session (as of t=20) resumes at t=300 with a register that moved on."""
    s, _ = run([(0, True, 5000.0, 0.0, 0.3, GRID), (20, True, 5100.0, 7000.0, 0.3, GRID)])
    assert s is not None
    persisted = Session.from_dict(s.to_dict())
    s2, _ = run(
        [(300, True, 5600.0, 7000.0, 0.3, GRID), (301, True, 5602.0, 7000.0, 0.3, GRID)], persisted
    )
    assert s2 is not None and s2.energy_wh == 602.0
    assert s2.cost == pytest.approx(0.602 * 0.3)
    assert s2.charging_time_s == 21.0  # the 280 s gap is not counted: we do not know it


def test_register_going_back_rebases_without_losing_energy() -> None:
    s, _ = run([(0, True, 9000.0, 0.0, None, GRID), (5, True, 9500.0, 7000.0, None, GRID)])
    s, _ = run([(10, True, 100.0, 7000.0, None, GRID), (15, True, 150.0, 7000.0, None, GRID)], s)
    assert s is not None and s.energy_wh == 550.0


def test_unknown_energy_keeps_the_session_and_counts_nothing() -> None:
    s, ended = run([(0, True, 100.0, 0.0, 0.2, GRID), (5, True, None, None, 0.2, GRID)])
    assert s is not None and s.energy_wh == 0.0 and not ended
    s, _ = run([(10, True, 150.0, 7000.0, 0.2, GRID)], s)
    assert s is not None and s.energy_wh == 50.0


def test_no_session_without_a_register_value() -> None:
    s, _ = run([(0, True, None, None, None, UNKNOWN)])
    assert s is None


@pytest.mark.parametrize(
    "ev_w, site, expected",
    [
        (3000.0, SUNNY, (1.0, 0.0, 0.0)),
        (3000.0, GRID, (0.0, 0.0, 1.0)),
        (3000.0, UNKNOWN, (0.0, 0.0, 1.0)),  # unknown is counted as grid: no flattering share
        (
            4000.0,
            SiteView(grid_power_w=(1000.0, 0.0, 0.0), battery_power_w=-1000.0, fresh=True),
            (0.5, 0.25, 0.25),
        ),
    ],
)
def test_ev_sources(ev_w: float, site: SiteView, expected: Tuple[float, float, float]) -> None:
    assert ev_sources(ev_w, site) == pytest.approx(expected)


def test_mixed_sources_give_a_partial_solar_share() -> None:
    s, _ = run(
        [
            (0, True, 0.0, 0.0, 0.25, SUNNY),
            (10, True, 100.0, 7000.0, 0.25, SUNNY),
            (20, True, 200.0, 7000.0, 0.25, GRID),
        ]
    )
    assert s is not None and s.solar_share == pytest.approx(0.5)


def test_summary_matches_the_control_state_schema() -> None:
    from common.schemas import load_schema, validate

    schema_session = load_schema("control_state")["properties"]["session"]
    assert set(summary(None, 0, "EUR")) <= set(schema_session["properties"])
    s, _ = run([(0, True, 0.0, 0.0, 0.25, SUNNY), (60, True, 1500.0, 7000.0, 0.25, SUNNY)])
    body = summary(s, 90.0, "EUR")
    assert body["energy_kwh"] == 1.5 and body["time_s"] == 90 and body["active"] is True
    validate(
        "control_state",
        {
            "ts": 0,
            "mode": 0,
            "enabled": True,
            "set_current_a": 6,
            "max_current_a": 16,
            "commanded_current_a": 0,
            "commanded_phases": 3,
            "status": 0,
            "reason": "x",
            "session": body,
        },
    )


def test_from_dict_rejects_garbage() -> None:
    assert Session.from_dict("x") is None
    assert Session.from_dict({"start": "soon"}) is None
    assert Session.from_dict({"start": 1.0}) is None  # required fields missing


def test_energy_drawn_before_the_car_was_seen_belongs_to_the_new_session() -> None:
    """Plugged in while the charger rebooted: it charged at the safe current unobserved."""
    site = SiteView()
    first_seen = Reading(1000.0, True, 302_950.0, 4100.0, 0.25, site)
    session, ended = update(None, first_seen, idle_energy_wh=302_806.0)
    assert ended is None and session is not None
    assert session.start_energy_wh == 302_806.0 and session.energy_wh == pytest.approx(144.0)


def test_an_implausible_idle_reading_is_not_trusted() -> None:
    site = SiteView()
    r = Reading(1000.0, True, 302_950.0, 0.0, None, site)
    later, _ = update(None, r, idle_energy_wh=303_000.0)  # meter above now: another charger?
    far, _ = update(None, r, idle_energy_wh=1_000.0)  # 300 kWh unseen: not one session
    assert later is not None and later.start_energy_wh == 302_950.0
    assert far is not None and far.start_energy_wh == 302_950.0


def test_solar_costs_the_feed_in_price_and_grid_the_import_price() -> None:
    """Issue 18: a 100 % solar session cost the full import price. 1 kWh of sun, 1 kWh of
    battery, 1 kWh of grid at 0.30 import and 0.08 feed-in: 0.16 solar + 0.30 grid."""
    from_battery = SiteView(grid_power_w=(0.0, 0.0, 0.0), battery_power_w=-7000.0, fresh=True)
    s, _ = run(
        [
            (0, True, 0.0, 0.0, 0.30, SUNNY),
            (10, True, 1000.0, 7000.0, 0.30, SUNNY),
            (20, True, 2000.0, 7000.0, 0.30, from_battery),
            (30, True, 3000.0, 7000.0, 0.30, GRID),
        ],
        feed_in=0.08,
    )
    assert s is not None
    assert (s.solar_cost, s.grid_cost) == pytest.approx((0.16, 0.30))
    assert s.cost == pytest.approx(0.46)
    parts = split_summary(s)
    assert (parts["solar_kwh"], parts["battery_kwh"], parts["grid_kwh"]) == (1.0, 1.0, 1.0)
    assert (parts["solar_cost"], parts["grid_cost"]) == pytest.approx((0.16, 0.30))


def test_tibber_slot_prices_apply_to_the_grid_part_only() -> None:
    s, _ = run(
        [
            (0, True, 0.0, 0.0, 0.10, GRID),
            (10, True, 1000.0, 7000.0, 0.10, GRID),  # cheap slot
            (20, True, 2000.0, 7000.0, 0.40, GRID),  # expensive slot
            (30, True, 3000.0, 7000.0, 0.40, SUNNY),  # expensive, but the sun pays
        ]
    )
    assert s is not None and s.grid_cost == pytest.approx(0.50) and s.solar_cost == 0.0
    assert s.cost == pytest.approx(0.50)


def test_a_session_saved_before_the_split_keeps_its_cost_and_says_the_split_is_unknown() -> None:
    old = {"start": 0.0, "start_energy_wh": 0.0, "last_energy_wh": 1000.0, "last_update": 10.0}
    persisted = Session.from_dict({**old, "cost": 0.25, "grid_wh": 1000.0})
    assert persisted is not None
    s, _ = run([(20, True, 2000.0, 7000.0, 0.30, GRID)], persisted)
    assert s is not None and s.cost == pytest.approx(0.55)
    body = summary(s, 20.0, "EUR")
    assert body["cost"] == pytest.approx(0.55)
    assert body["solar_cost"] is None and body["grid_cost"] is None
    assert body["grid_kwh"] == 2.0
