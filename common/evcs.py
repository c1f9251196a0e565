"""What every process shares about a charge point: Victron's EVCS codes and texts, the 6 A
minimum, and the number helpers that turn untrusted JSON values into measurements.

One definition each, used by the controller, the D-Bus shim, the bridge's Home Assistant
discovery and the UI, so the GX, HA and the page always agree.
"""

from __future__ import annotations

import enum
import math
from typing import Any, Dict, Final, Optional

# IEC 61851: a charger cannot offer less than 6 A; below it, the setpoint means "pause".
MIN_CURRENT_A: Final = 6.0


class Mode(enum.IntEnum):
    MANUAL = 0
    AUTO = 1
    SCHEDULED = 2


class Status(enum.IntEnum):
    """Victron EVCS /Status codes: what com.victronenergy.evcharger services publish and the GX
    shows with the texts below."""

    DISCONNECTED = 0
    CONNECTED = 1
    CHARGING = 2
    CHARGED = 3
    WAIT_SUN = 4
    WAIT_RFID = 5
    WAIT_START = 6
    LOW_SOC = 7
    GROUND_FAULT = 8
    WELDED_CONTACTS = 9
    CP_SHORTED = 10
    RESIDUAL_CURRENT = 11
    UNDERVOLTAGE = 12
    OVERVOLTAGE = 13
    OVERTEMPERATURE = 14
    CHARGING_LIMIT = 20
    START_CHARGING = 21
    SWITCHING_TO_3P = 22
    SWITCHING_TO_1P = 23
    STOP_CHARGING = 24


STATUS_TEXT: Dict[int, str] = {
    0: "Disconnected",
    1: "Connected",
    2: "Charging",
    3: "Charged",
    4: "Waiting for sun",
    5: "Waiting for RFID",
    6: "Waiting for start",
    7: "Low SOC",
    8: "Ground test error",
    9: "Welded contacts test error",
    10: "CP input test error",
    11: "Residual current detected",
    12: "Undervoltage detected",
    13: "Overvoltage detected",
    14: "Overheating detected",
    20: "Charging limit",
    21: "Start charging",
    22: "Switching to 3 phase",
    23: "Switching to 1 phase",
    24: "Stop charging",
}


def finite_number(value: Any) -> Optional[float]:
    """A JSON number as a float, or None for anything else: bool, NaN, infinity, strings.
    NaN means unknown, never 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        f = float(value)
    except OverflowError:  # an int beyond float's range
        return None
    return f if math.isfinite(f) else None
