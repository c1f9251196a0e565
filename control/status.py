"""Mode 3 (IEC 61851, register 1201) → what the controller and the GX need to know.

Alfen reports the Mode 3 state as a short string (A, B1, C2, …; register 1201, 5 words). We map it to
four facts (connected, charging, fault, known) plus the Victron ``/Status`` code it implies on its
own. The core refines that code with what it is doing (waiting for sun, switching phases, …).
Unknown strings stay visible: the reason text and ``label`` carry the raw string, never a guess.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Final, Optional

from common.schema_check import short
from control.model import ChargerView, Status


@dataclass(frozen=True)
class Mode3Info:
    state: str  # normalised string ("" when unknown/absent)
    known: bool
    connected: bool
    charging: bool
    fault: bool
    status: Status  # the code implied by the charger alone
    label: str  # plain text for the reason


# Letter → (connected, charging, fault, status, label). E and F are faults the GX shows as such:
# E = 0 V on CP (no power / CP shorted to PE) → "CP input test error" (10); F = EVSE error; the
# EVCS enum has no generic error, so F uses the ground-test code (8) and the label says "F".
_TABLE: Final[Dict[str, tuple]] = {
    "A": (False, False, False, Status.DISCONNECTED, "no vehicle"),
    "B1": (True, False, False, Status.CONNECTED, "vehicle connected, no current offered"),
    "B2": (True, False, False, Status.CONNECTED, "vehicle connected, not drawing"),
    "C1": (True, False, False, Status.CONNECTED, "vehicle wants to charge, no current offered"),
    "C2": (True, True, False, Status.CHARGING, "charging"),
    "D1": (True, False, False, Status.CONNECTED, "vehicle wants to charge (ventilation)"),
    "D2": (True, True, False, Status.CHARGING, "charging (ventilation)"),
    "E": (False, False, True, Status.CP_SHORTED, "charger error state E (no power / CP short)"),
    "F": (False, False, True, Status.GROUND_FAULT, "charger error state F (EVSE fault)"),
}


def normalise(raw: Optional[str]) -> str:
    """Strip the NUL padding and spaces Alfen leaves in the 5-register string."""
    return (raw or "").replace("\x00", "").strip().upper()


def mode3_info(raw: Optional[str]) -> Mode3Info:
    state = normalise(raw)
    row = _TABLE.get(state)
    if row is not None:
        return Mode3Info(state, True, row[0], row[1], row[2], row[3], row[4])
    # Unknown spelling (firmware differ): keep it visible, assume nothing about the car.
    # a real state is at most 10 characters; an untrusted one must not bloat control/state
    label = f"unknown Mode 3 state {short(raw, 20)}" if state else "Mode 3 state not available"
    return Mode3Info(state, False, False, False, False, Status.CONNECTED, label)


def charger_facts(view: ChargerView) -> Mode3Info:
    """Mode 3 facts, corrected by the bridge's own flags when the string is unknown."""
    info = mode3_info(view.mode3)
    if info.known:
        if view.fault and not info.fault:
            return Mode3Info(
                info.state, True, info.connected, False, True, Status.GROUND_FAULT, "charger fault"
            )
        return info
    connected = view.vehicle_connected or view.charging
    status = (
        Status.CHARGING
        if view.charging
        else (Status.CONNECTED if connected else Status.DISCONNECTED)
    )
    if view.fault:
        status = Status.GROUND_FAULT
    return Mode3Info(info.state, False, connected, view.charging, view.fault, status, info.label)
