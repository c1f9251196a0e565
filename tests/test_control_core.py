"""The pure core: gates, statuses, MANUAL, the main-fuse limit, config → CoreSettings."""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict, List, Optional, Sequence, Tuple

import pytest

from common.config import validate_config
from control.core import CoreSettings, decide
from control.model import (
    ChargerView,
    Decision,
    Memory,
    Mode,
    Prices,
    SiteView,
    Snapshot,
    Status,
    UserSettings,
)
from control.status import mode3_info

T0 = 1_780_000_000.0  # 2026-05-28, a Thursday


def charger(amps: float = 0.0, phases: int = 3, **kw: Any) -> ChargerView:
    """A charger drawing ``amps`` per phase (0 = connected, not drawing)."""
    on = amps > 0
    base: Dict[str, Any] = dict(
        online=True,
        mode3="C2" if on else "B1",
        vehicle_connected=True,
        charging=on,
        power_w=amps * 230.0 * phases,
        phase_current_a=(amps, amps if phases == 3 else 0.0, amps if phases == 3 else 0.0),
        phase_voltage_v=(230.0, 230.0, 230.0),
        energy_wh=10_000.0,
        phases_measured=phases if on else None,
        station_max_current_a=32.0,
    )
    base.update(kw)
    return ChargerView(**base)


def site(grid_w: float = 0.0, batt_w: float = 0.0, soc: float = 90.0, **kw: Any) -> SiteView:
    base: Dict[str, Any] = dict(
        grid_power_w=(grid_w / 3, grid_w / 3, grid_w / 3),
        pv_power_w=5000.0,
        consumption_w=(300.0, 300.0, 300.0),
        battery_soc=soc,
        battery_power_w=batt_w,
        ess_min_soc=10.0,
        fresh=True,
    )
    base.update(kw)
    return SiteView(**base)


def snap(
    t: float = 0.0,
    ch: Optional[ChargerView] = None,
    si: Optional[SiteView] = None,
    mode: Mode = Mode.MANUAL,
    prices: Optional[Prices] = None,
    **user: Any,
) -> Snapshot:
    u = UserSettings(mode=mode, **user)
    return Snapshot(T0 + t, ch or charger(), si or site(), prices or Prices(), u)


def run(
    steps: Sequence[Tuple[float, Snapshot]], s: CoreSettings, mem: Optional[Memory] = None
) -> List[Tuple[Decision, Memory]]:
    mem = mem or Memory()
    out = []
    for t, sn in steps:
        dec, mem = decide(replace(sn, now=T0 + t), mem, s)
        out.append((dec, mem))
    return out


S = CoreSettings()


@pytest.mark.parametrize(
    "raw,status,connected,charging",
    [
        ("A", Status.DISCONNECTED, False, False),
        ("B1\x00\x00", Status.CONNECTED, True, False),
        ("C2 ", Status.CHARGING, True, True),
        ("D2", Status.CHARGING, True, True),
        ("E", Status.CP_SHORTED, False, False),
        ("F", Status.GROUND_FAULT, False, False),
    ],
)
def test_mode3_mapping(raw: str, status: Status, connected: bool, charging: bool) -> None:
    info = mode3_info(raw)
    assert (info.status, info.connected, info.charging) == (status, connected, charging)
    assert info.fault == (raw in ("E", "F"))


def test_unknown_mode3_stays_visible() -> None:
    dec, _ = decide(snap(ch=charger(mode3="X9", vehicle_connected=True)), Memory(), S)
    assert "X9" in str(dec.details["mode3"])
    dec, _ = decide(snap(ch=charger(mode3="Z", vehicle_connected=False)), Memory(), S)
    assert dec.amps == 0 and dec.status == Status.DISCONNECTED and "'Z'" in dec.reason


@pytest.mark.parametrize(
    "ch,user,status,word",
    [
        (charger(online=False), {}, Status.DISCONNECTED, "not reachable"),
        (charger(mode3="F"), {}, Status.GROUND_FAULT, "state F"),
        (charger(mode3="E"), {}, Status.CP_SHORTED, "state E"),
        (charger(mode3="A", vehicle_connected=False), {}, Status.DISCONNECTED, "no vehicle"),
        (charger(), {"enabled": False}, Status.WAIT_START, "Start charging resumes"),
    ],
)
def test_gates_pause(ch: ChargerView, user: Dict[str, Any], status: Status, word: str) -> None:
    dec, _ = decide(snap(ch=ch, set_current_a=16, **user), Memory(), S)
    assert dec.amps == 0 and dec.status == status and word in dec.reason


def test_manual_statuses_over_time() -> None:
    # offered → start charging (21) → charging (2) → full car leaves B2 → charged (3) → stop (24)
    steps = [
        (0, snap(ch=charger(), set_current_a=10)),
        (5, snap(ch=charger(10.0), set_current_a=10)),
        (100, snap(ch=charger(mode3="B2"), set_current_a=10)),
        (200, snap(ch=charger(10.0), set_current_a=10, enabled=False)),
    ]
    got = [(d.amps, d.status) for d, _ in run(steps, S)]
    assert got == [
        (10, Status.START_CHARGING),
        (10, Status.CHARGING),
        (10, Status.CHARGED),
        (0, Status.STOP_CHARGING),
    ]


def test_manual_limits_station_user_and_floor() -> None:
    dec, _ = decide(snap(set_current_a=40, max_current_a=20), Memory(), S)
    assert dec.amps == 20
    dec, _ = decide(snap(ch=charger(station_max_current_a=13.0), set_current_a=16), Memory(), S)
    assert dec.amps == 13
    dec, _ = decide(snap(set_current_a=4), Memory(), S)
    assert dec.amps == 0 and "below the 6 A minimum" in dec.reason


def test_fuse_limit_in_manual_per_phase() -> None:
    # L2 carries 20 A of house load besides the car's 16 A: only 5 A more fits a 25 A fuse
    ch = charger(16.0)
    grid = (16 * 230.0, 36 * 230.0, 16 * 230.0)
    dec, _ = decide(snap(ch=ch, si=site(grid_power_w=grid), set_current_a=16), Memory(), S)
    assert dec.amps == 0 and dec.status == Status.CHARGING_LIMIT and "L2" in dec.reason
    grid = (16 * 230.0, 30 * 230.0, 16 * 230.0)  # 14 A house on L2 → 11 A for the car
    dec, _ = decide(snap(ch=ch, si=site(grid_power_w=grid), set_current_a=16), Memory(), S)
    assert dec.amps == pytest.approx(11.0) and "main fuse" in dec.reason


def test_fuse_limit_applies_in_auto_and_export_helps() -> None:
    # exporting 3 kW on L1 leaves more than the fuse for a single-phase car there
    si = site(grid_power_w=(-3000.0, 500.0, 500.0), batt_w=0.0)
    from control.core import fuse_limit_a

    room, _ = fuse_limit_a(snap(si=si), S, 1)
    assert room == pytest.approx(25 + 3000 / 230, abs=0.01)
    room3, why = fuse_limit_a(snap(si=si), S, 3)
    assert room3 == pytest.approx(25 - 500 / 230, abs=0.01) and "L2" in why


def test_unknown_grid_meter_caps_manual_at_the_fuse() -> None:
    si = site(grid_power_w=(None, None, None), fresh=False)
    dec, _ = decide(snap(si=si, set_current_a=32), Memory(), S)
    assert dec.amps == 25 and "grid meter unknown" in dec.reason


def test_settings_from_config_reads_every_section() -> None:
    cfg = validate_config(
        {
            "modbus": {"ip": "10.0.0.2"},
            "victron": {"fuse_limit_a": 35},
            "auto": {
                "start_delay_s": 30,
                "phase_switch_cooldown_s": 600,
                "battery_capacity_kwh": 13.5,
                "battery_check": False,
            },
            "tibber": {"strategy": "percentile", "cheap_percentile": 0.25},
            "scheduled": {"deadline_energy_kwh": 20, "deadline_time": "06:30"},
            "schedule": {
                "items": [{"enabled": 1, "days_mask": 2, "start": "22:00", "end": "06:00"}]
            },
        },
        env={},
    )
    s = CoreSettings.from_config(cfg)
    assert (s.fuse_limit_a, s.start_delay_s, s.phase_cooldown_s) == (35, 30, 600)
    assert (s.strategy, s.cheap_percentile, s.deadline_time) == ("percentile", 0.25, "06:30")
    assert s.windows[0].days_mask == 2 and s.windows[0].start_min == 22 * 60
    assert s.timezone == "Europe/Amsterdam" and s.min_current_a == 6.0
    assert s.battery_capacity_kwh == 13.5 and s.battery_check is False
    defaults = CoreSettings.from_config(validate_config({"modbus": {"ip": "x"}}, env={}))
    assert defaults.battery_capacity_kwh is None and defaults.battery_check is True
