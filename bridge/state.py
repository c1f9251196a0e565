"""The charger's state as one frozen snapshot, and its MQTT payload (schemas/state.schema.json)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from bridge import codec
from common.evcs import finite_number

CHARGING_PHASE_A = 1.0  # a phase carrying more than this is counted as in use


@dataclass(frozen=True)
class CommandStatus:
    amps: Optional[float] = None
    phases: Optional[int] = None
    accepted: Optional[bool] = None
    at: Optional[float] = None
    lease_s_left: Optional[float] = None
    refreshing: bool = False
    reason: str = "no command received yet"


@dataclass(frozen=True)
class ChargerState:
    ts: float
    connected: bool
    values: Tuple[Tuple[str, Any], ...]  # decoded registers (name, value); None = unknown
    command: CommandStatus
    phase_switching: Optional[bool] = None  # False: disabled in config or refused by the charger

    def get(self, name: str) -> Any:
        return dict(self.values).get(name)

    @classmethod
    def from_values(
        cls,
        ts: float,
        connected: bool,
        values: Dict[str, codec.Value],
        command: CommandStatus,
        phase_switching: Optional[bool] = None,
    ) -> ChargerState:
        return cls(ts, connected, tuple(sorted(values.items())), command, phase_switching)


def mode3_flags(state: Optional[str]) -> Tuple[Optional[bool], Optional[bool], Optional[bool]]:
    """(vehicle connected, charging, fault) from a Mode 3 string; unknown strings stay unknown."""
    if not state:
        return None, None, None
    s = state.strip().upper()
    if s == "A":
        return False, False, False
    if s in ("B1", "B2", "C1", "D1"):
        return True, False, False
    if s in ("C2", "D2"):
        return True, True, False
    if s == "E":  # some firmware shows E at idle (evcc #8396): not connected, not a hard fault
        return False, False, False
    if s == "F":
        return None, False, True
    return None, None, None


def measured_phases(currents: Tuple[Optional[float], ...]) -> Optional[int]:
    """Phases really in use, from the phase currents (1215 is unreliable); None when idle."""
    known = [c for c in currents if c is not None and math.isfinite(c)]
    if not known:
        return None
    used = sum(1 for c in known if c > CHARGING_PHASE_A)
    if used == 0:
        return None
    return 1 if used == 1 else 3


def _num(v: Any, digits: int = 3) -> Optional[float]:
    """A finite number rounded for the payload (the state is read by people and HA)."""
    n = finite_number(v)
    return None if n is None else round(n, digits)


def to_payload(st: ChargerState) -> Dict[str, Any]:
    """Render the snapshot as the ``{base}/state`` JSON (NaN never appears: unknown is null)."""
    g = dict(st.values)
    currents = (g.get("current_l1"), g.get("current_l2"), g.get("current_l3"))
    connected, charging, fault = mode3_flags(g.get("mode3_state"))
    phases = {}
    for i in (1, 2, 3):
        phases[f"l{i}"] = {
            "voltage_v": _num(g.get(f"voltage_l{i}"), 2),
            "current_a": _num(g.get(f"current_l{i}"), 3),
            "power_w": _num(g.get(f"power_l{i}"), 1),
        }
    finite_currents = [f for f in (finite_number(c) for c in currents) if f is not None]
    accounted = g.get("setpoint_accounted")
    avail = g.get("availability")
    c = st.command
    return {
        "ts": round(st.ts, 3),
        "connected": st.connected,
        "available": None if avail is None else avail == 1,
        "mode3": g.get("mode3_state"),
        "vehicle_connected": connected,
        "charging": charging,
        "fault": fault,
        **phases,
        "power_w": _num(g.get("power_sum"), 1),
        "current_a": _num(max(finite_currents), 3) if finite_currents else None,
        "frequency_hz": _num(g.get("frequency"), 3),
        "energy_wh": _num(g.get("energy_sum"), 1),
        "applied_max_current_a": _num(g.get("applied_max_current"), 2),
        "setpoint_a": _num(g.get("setpoint"), 2),
        "safe_current_a": _num(g.get("safe_current"), 2),
        "validity_s": g.get("validity_remaining"),
        "setpoint_accounted": None if accounted is None else accounted == 1,
        "phases_configured": g.get("phases"),
        "phases_measured": measured_phases(currents),
        "station_max_current_a": _num(g.get("station_max_current"), 2),
        "temperature_c": _num(g.get("temperature"), 1),
        "phase_switching": st.phase_switching,
        "command": {
            "amps": c.amps,
            "phases": c.phases,
            "accepted": c.accepted,
            "at": c.at,
            "lease_s_left": None if c.lease_s_left is None else round(c.lease_s_left, 1),
            "refreshing": c.refreshing,
            "reason": c.reason,
        },
    }


def info_payload(
    identity: Dict[str, codec.Value], socket_unit: int, phase_switching: Optional[bool]
) -> Dict[str, Any]:
    return {
        "name": identity.get("name") or "",
        "manufacturer": identity.get("manufacturer") or "",
        "firmware": identity.get("firmware") or "",
        "platform": identity.get("platform") or "",
        "serial": identity.get("serial") or "",
        "sockets": identity.get("sockets"),
        "modbus_table_version": identity.get("modbus_table_version"),
        "socket_unit": socket_unit,
        "phase_switching": phase_switching,
    }
