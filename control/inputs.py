"""The inputs cache: the bridge's ``{base}/state`` and availability, as the core sees them.

Unknown stays None; a state older than ``stale_s`` (five polls, 10 s at least) or a bridge
that says "offline" makes the charger offline.
"""

from __future__ import annotations

import logging
from typing import Any, Dict, List, Optional

from common.evcs import finite_number as _num
from common.schemas import PayloadError, parse_json
from control.model import ChargerView
from control.status import mode3_info

log = logging.getLogger(__name__)


def charger_view(
    state: Optional[Dict[str, Any]], bridge_online: Optional[bool], age_s: float, stale_s: float
) -> ChargerView:
    """``{base}/state`` as the core sees it; unknown stays None, stale means offline."""
    if state is None:
        return ChargerView(online=False, age_s=age_s)
    lines: List[Dict[str, Any]] = []
    for key in ("l1", "l2", "l3"):
        line = state.get(key)
        lines.append(line if isinstance(line, dict) else {})
    cur = tuple(_num(x.get("current_a")) for x in lines)
    volt = tuple(_num(x.get("voltage_v")) for x in lines)
    info = mode3_info(state.get("mode3") if isinstance(state.get("mode3"), str) else None)
    connected = state.get("vehicle_connected")
    charging = state.get("charging")
    fault = state.get("fault")
    phases = state.get("phases_measured")
    configured = state.get("phases_configured")  # register 1215: what the charger is set to
    return ChargerView(
        online=bridge_online is not False and state.get("connected") is True and age_s <= stale_s,
        mode3=state.get("mode3") if isinstance(state.get("mode3"), str) else None,
        vehicle_connected=connected if isinstance(connected, bool) else info.connected,
        charging=charging if isinstance(charging, bool) else info.charging,
        fault=fault if isinstance(fault, bool) else info.fault,
        power_w=_num(state.get("power_w")),
        phase_current_a=(cur[0], cur[1], cur[2]),
        phase_voltage_v=(volt[0], volt[1], volt[2]),
        energy_wh=_num(state.get("energy_wh")),
        phases_measured=phases
        if isinstance(phases, int) and not isinstance(phases, bool)
        else None,
        phases_configured=configured if type(configured) is int and configured in (1, 3) else None,
        station_max_current_a=_num(state.get("station_max_current_a")),
        # the bridge says false once the charger refused 1215 (or config disables switching)
        phase_switching_available=state.get("phase_switching") is not False,
        age_s=age_s,
    )


def stale_after_s(cfg: Dict[str, Any]) -> float:
    """Five polls of the bridge, 10 s at least."""
    return max(10.0, 5 * float(cfg["poll_interval_ms"]) / 1000.0)


class ChargerInputs:
    """The newest charger state and whether the bridge is online."""

    def __init__(self, stale_s: float) -> None:
        self.stale_s = stale_s
        self.state: Optional[Dict[str, Any]] = None
        self.state_at = 0.0
        self.bridge_online: Optional[bool] = None

    def on_state(self, payload: bytes, now: float) -> None:
        """An empty payload clears the retained state; an unreadable one is ignored."""
        if not payload:
            self.state = None
            return
        try:
            value = parse_json(payload)
        except PayloadError as exc:
            log.debug("ignoring unreadable charger state: %s", exc)
            return
        if isinstance(value, dict):
            self.state, self.state_at = value, now

    def on_availability(self, payload: bytes) -> None:
        text = payload.decode("utf-8", "replace").strip()
        self.bridge_online = text == "online" if text else None

    def view(self, now: float) -> ChargerView:
        # a backward clock step makes the age negative: a state arrives every poll, so call it new
        age = max(0.0, now - self.state_at) if self.state is not None else float("inf")
        return charger_view(self.state, self.bridge_online, age, self.stale_s)
