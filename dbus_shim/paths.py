"""The one table of D-Bus paths of ``com.victronenergy.evcharger.alfen_<n>``.

Each row says where a path's value comes from (a function of a ``View`` of the MQTT state), how
it reads as text, and, for a writable path, how a GX write is checked and what it becomes: an
MQTT command to the controller (``control/set/<what>``) or a local setting the shim persists.
Everything here is pure; ``mirror.py`` and ``main.py`` do the I/O. Paths and enums follow what
gui-v2 and Victron's own EVCS driver (dbus-modbus-client's ev_charger.py) use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Final, Mapping, Optional, Tuple

from common.config_fields import config_default
from common.evcs import MIN_CURRENT_A, STATUS_TEXT, Mode, finite_number

SERVICE_PREFIX: Final = "com.victronenergy.evcharger.alfen_"
PRODUCT_ID: Final = 0xFFFF  # third-party drivers use 0xFFFF (Victron EVCS ids are 0xC023-0xC027)
PRODUCT_NAME: Final = "Alfen EV charger"
PROCESS_NAME: Final = "alfen-dbus-shim"
GUI_MAX_CURRENT_A: Final = 32.0  # gui-v2's spin box ceiling when /MaxCurrent is invalid
MAX_NAME_LEN: Final = 64
# gui-v2 shows "Auto mode source: External (<this>)" on the charger's page while
# /GxAutoMode/Enabled is 1 and /Mode is Auto: AUTO is decided here, not in the charger.
GX_AUTO_SOURCE: Final = "Alfen controller"

MODE_TEXT: Final[Dict[int, str]] = {
    int(Mode.MANUAL): "Manual",
    int(Mode.AUTO): "Auto",
    int(Mode.SCHEDULED): "Scheduled",
}
POSITION_TEXT: Final = {0: "AC output", 1: "AC input"}  # the reverse of PV inverters' codes
# Mode 3 state -> /Status (common.evcs.Status codes) when the controller is not there to say more.
MODE3_STATUS: Final = {"A": 0, "B1": 1, "B2": 1, "C1": 1, "D1": 1, "C2": 2, "D2": 2}


@dataclass(frozen=True)
class Identity:
    process_version: str
    connection: str  # /Mgmt/Connection, e.g. "MQTT 127.0.0.1:1883 alfen/0"
    device_instance: int


@dataclass(frozen=True)
class View:
    """What the paths are computed from, at one instant. Empty mappings = not received."""

    identity: Identity
    connected: bool = False  # broker up, bridge online, charger polled, state fresh
    control_ok: bool = False  # broker up, controller not offline, control/state received
    state: Mapping[str, Any] = field(default_factory=dict)
    info: Mapping[str, Any] = field(default_factory=dict)
    control: Mapping[str, Any] = field(default_factory=dict)
    energy_kwh: Optional[float] = None  # lifetime, kept monotonic by the shim
    # copies of config values (ShimConfig passes them); the defaults are the schema's
    custom_name: str = config_default("dbus.custom_name")
    position: int = config_default("dbus.position")
    max_current_ceiling_a: float = float(config_default("controls.max_set_current"))


Text = Callable[[Any], str]
Check = Callable[[Any, View], Optional[Any]]  # normalised value, or None to reject


@dataclass(frozen=True)
class DbusPath:
    path: str
    value: Callable[[View], Any]  # None = invalid
    text: Optional[Text] = None  # None: str(value) (velib's default; /ProductId in hex)
    writable: bool = False
    check: Optional[Check] = None  # writable paths: validate and normalise a GX write
    command: Optional[Tuple[str, Callable[[Any], Dict[str, Any]]]] = None  # control/set/<what>
    local: Optional[str] = None  # a shim setting (persisted) instead of a command
    description: str = ""


# ---- value helpers --------------------------------------------------------------------------
def _r(x: Any, digits: int = 1) -> Optional[float]:
    n = finite_number(x)
    return None if n is None else round(n, digits)


def _int(x: Any) -> Optional[int]:
    n = finite_number(x)
    return None if n is None else round(n)


def _phase(key: str, phase: str) -> Callable[[View], Any]:
    def get(v: View) -> Any:
        if not v.connected:
            return None
        if key == "power_w" and phase != "l1" and v.state.get("phases_measured") == 1:
            return None  # gui-v2 counts a phase once its power is valid: hide unused ones
        ph = v.state.get(phase)
        return _r(ph.get(key)) if isinstance(ph, dict) else None

    return get


def _measured(key: str, digits: int = 1) -> Callable[[View], Any]:
    return lambda v: _r(v.state.get(key), digits) if v.connected else None


def _ctrl(fn: Callable[[Mapping[str, Any]], Any]) -> Callable[[View], Any]:
    return lambda v: fn(v.control) if v.control_ok else None


def _session(key: str) -> Callable[[View], Any]:
    def get(v: View) -> Any:
        session = v.control.get("session") if v.control_ok else None
        if not isinstance(session, dict):
            return None
        return _r(session.get(key), 3) if key == "energy_kwh" else _int(session.get(key))

    return get


def gx_auto_enabled(v: View) -> int:
    """1 while our controller runs AUTO (it is there and says mode 1), else 0."""
    mode = v.control.get("mode") if v.control_ok else None
    return int(type(mode) is int and mode == int(Mode.AUTO))


def _bool_int(x: Any) -> Optional[int]:
    return int(x) if isinstance(x, bool) else None


def status(v: View) -> Optional[int]:
    if not v.connected:
        return None
    code = v.control.get("status") if v.control_ok else None
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    return MODE3_STATUS.get(str(v.state.get("mode3")))


def min_current(v: View) -> float:
    n = finite_number(v.control.get("min_current_a")) if v.control_ok else None
    return n if n is not None else MIN_CURRENT_A


def max_current(v: View) -> float:
    n = finite_number(v.control.get("max_current_a")) if v.control_ok else None
    return n if n is not None else GUI_MAX_CURRENT_A


def ceiling(v: View) -> float:
    station = finite_number(v.state.get("station_max_current_a"))
    return min(v.max_current_ceiling_a, station) if station else v.max_current_ceiling_a


# ---- write checks (dbus-flashmq sends JSON numbers: 1 and 1.0 are both fine) ----------------
def _integral(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return int(value)
    n = finite_number(value)
    return int(n) if n is not None and n.is_integer() else None


def one_of(*allowed: int) -> Check:
    def check(value: Any, _v: View) -> Optional[int]:
        n = _integral(value)
        return n if n in allowed else None

    return check


def _amps(value: Any) -> Optional[float]:
    n = finite_number(value)
    return None if n is None else n


def _tidy(n: float) -> Any:
    return int(n) if float(n).is_integer() else n


def check_set_current(value: Any, v: View) -> Optional[Any]:
    n = _amps(value)
    if n is None or not min_current(v) <= n <= max_current(v):
        return None
    return _tidy(n)


def check_max_current(value: Any, v: View) -> Optional[Any]:
    n = _amps(value)
    if n is None or not max(MIN_CURRENT_A, min_current(v)) <= n <= ceiling(v):
        return None
    return _tidy(n)


def check_name(value: Any, _v: View) -> Optional[str]:
    return value if isinstance(value, str) and len(value) <= MAX_NAME_LEN else None


def refuse(_value: Any, _v: View) -> None:
    return None


# ---- text helpers ---------------------------------------------------------------------------
def unit(fmt: str) -> Text:
    return lambda x: fmt.format(x)


def enum_text(names: Mapping[int, str]) -> Text:
    return lambda x: names.get(x, f"Unknown ({x})")


ON_OFF: Final = {0: "Off", 1: "On"}

PATHS: Final[Tuple[DbusPath, ...]] = (
    # identity (velib's mandatory paths, plus /CustomName and /Serial)
    DbusPath("/Mgmt/ProcessName", lambda v: PROCESS_NAME),
    DbusPath("/Mgmt/ProcessVersion", lambda v: v.identity.process_version),
    DbusPath("/Mgmt/Connection", lambda v: v.identity.connection),
    DbusPath("/DeviceInstance", lambda v: v.identity.device_instance),
    DbusPath("/ProductId", lambda v: PRODUCT_ID),
    DbusPath("/ProductName", lambda v: PRODUCT_NAME),
    DbusPath(
        "/CustomName",
        lambda v: v.custom_name,
        writable=True,
        check=check_name,
        local="custom_name",
        description="Name shown on the GX (kept by the shim)",
    ),
    DbusPath("/FirmwareVersion", lambda v: v.info.get("firmware") or None),
    DbusPath("/HardwareVersion", lambda v: v.info.get("platform") or None),
    DbusPath("/Serial", lambda v: v.info.get("serial") or None),
    DbusPath("/Connected", lambda v: int(v.connected)),
    # measurements
    DbusPath("/Ac/Power", _measured("power_w"), unit("{:.0f} W")),
    *(
        DbusPath(f"/Ac/L{n}/{name}", _phase(key, f"l{n}"), unit(fmt))
        for n in (1, 2, 3)
        for name, key, fmt in (
            ("Power", "power_w", "{:.0f} W"),
            ("Voltage", "voltage_v", "{:.1f} V"),
            ("Current", "current_a", "{:.1f} A"),
        )
    ),
    DbusPath("/Current", _measured("current_a"), unit("{:.1f} A")),
    # The old driver (victron-alfen-charger) published the largest phase current here, as
    # /Current is (state current_a): readers of that path keep working.
    DbusPath(
        "/Ac/Current",
        _measured("current_a"),
        unit("{:.1f} A"),
        description="Largest phase current, as /Current (the old driver's path)",
    ),
    DbusPath(
        "/Ac/Energy/Forward",
        lambda v: round(v.energy_kwh, 3) if v.connected and v.energy_kwh is not None else None,
        unit("{:.2f} kWh"),
        description="Lifetime energy, never decreasing",
    ),
    DbusPath("/Session/Energy", _session("energy_kwh"), unit("{:.2f} kWh")),
    DbusPath("/Session/Time", _session("time_s"), unit("{} s")),
    DbusPath("/ChargingTime", _session("time_s"), unit("{} s"), description="Deprecated"),
    DbusPath("/Status", status, enum_text(STATUS_TEXT)),
    DbusPath(
        "/Position",
        lambda v: v.position,
        enum_text(POSITION_TEXT),
        writable=True,
        check=one_of(0, 1),
        local="position",
    ),
    # controls (the controller owns them; a write becomes control/set/<what>)
    DbusPath(
        "/Mode",
        _ctrl(lambda c: c.get("mode") if c.get("mode") in (0, 1, 2) else None),
        enum_text(MODE_TEXT),
        writable=True,
        check=one_of(0, 1, 2),
        command=("mode", lambda x: {"mode": x}),
    ),
    DbusPath(
        "/StartStop",
        _ctrl(lambda c: _bool_int(c.get("enabled"))),
        enum_text({0: "Stopped", 1: "Enabled"}),
        writable=True,
        check=one_of(0, 1),
        command=("startstop", lambda x: {"enabled": bool(x)}),
    ),
    DbusPath(
        "/SetCurrent",
        _ctrl(lambda c: _int(c.get("set_current_a"))),
        unit("{} A"),
        writable=True,
        check=check_set_current,
        command=("current", lambda x: {"amps": x}),
    ),
    DbusPath(
        "/MaxCurrent",
        _ctrl(lambda c: _int(c.get("max_current_a"))),
        unit("{} A"),
        writable=True,
        check=check_max_current,
        command=("max_current", lambda x: {"amps": x}),
    ),
    DbusPath(
        "/GxAutoMode/Enabled",
        gx_auto_enabled,
        enum_text(ON_OFF),
        description="1 while the Alfen controller runs AUTO (gui-v2: auto mode source)",
    ),
    DbusPath("/GxAutoMode/Source", lambda v: GX_AUTO_SOURCE if gx_auto_enabled(v) else ""),
    DbusPath(
        "/MinCurrent",
        lambda v: round(min_current(v)) if v.control_ok else None,
        unit("{} A"),
    ),
    DbusPath(
        "/AutoStart",
        _ctrl(lambda c: _bool_int(c.get("auto_start"))),
        enum_text(ON_OFF),
        writable=True,
        check=one_of(0, 1),
        command=("autostart", lambda x: {"enabled": bool(x)}),
    ),
    # The Alfen has no Modbus register for its display lock: shown as enabled, writes refused.
    DbusPath(
        "/EnableDisplay",
        lambda v: 1,
        enum_text(ON_OFF),
        writable=True,
        check=refuse,
        description="Not controllable on an Alfen over Modbus",
    ),
)

BY_PATH: Final[Dict[str, DbusPath]] = {p.path: p for p in PATHS}


def render(view: View) -> Dict[str, Any]:
    """Every path's value for this view (None = invalid)."""
    return {p.path: p.value(view) for p in PATHS}


def text_of(path: str, value: Any) -> str:
    """The GetText of a valid value (velib calls this with (path, value))."""
    row = BY_PATH[path]
    if row.text is None:
        return str(value)
    try:
        return row.text(value)
    except (ValueError, TypeError):
        return str(value)
