"""Physics of a simulated Alfen NG9xx socket and the car plugged into it. No I/O, clock injected.

The model holds the register values the charger would serve and reacts to writes exactly where a
real Alfen does (Alfen's Modbus specification for NG9xx, v2.3): the setpoint 1210 is valid for ``validity_s``
seconds and then falls back to the safe current; 1215 answers exception 3 when phase switching is
not allowed and is silently ignored while the car draws current; multi-register values must be
written whole. The car draws min(offered, car limit, station max) after a response delay once at
least 6 A is offered, and stops when its battery is full.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

from bridge import codec
from bridge.registers import BY_NAME, REGISTERS, Device, Register

ILLEGAL_FUNCTION = 1
ILLEGAL_ADDRESS = 2
ILLEGAL_VALUE = 3
DEVICE_FAILURE = 4

MIN_OFFER_A = 6.0  # IEC 61851 PWM cannot advertise less
# Address ranges each unit answers (Alfen v2.3 §3); reads outside them raise exception 2.
STATION_RANGES = ((100, 179), (1100, 1106), (1400, 1432))
SOCKET_RANGES = ((300, 425), (1200, 1216))


@dataclass
class Car:
    """An EV: how much it takes, on how many phases, and how full it is."""

    max_current_a: float = 16.0
    phases: int = 3
    capacity_kwh: float = 60.0
    soc_kwh: float = 20.0
    response_s: float = 3.0  # delay between being offered current and drawing it

    @property
    def full(self) -> bool:
        return self.soc_kwh >= self.capacity_kwh - 1e-9


@dataclass
class SocketState:
    """One socket's live values (the registers are rendered from these)."""

    car: Optional[Car] = None
    charged_this_plug: bool = False
    offered_since: Optional[float] = None
    current_a: List[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    voltage_v: List[float] = field(default_factory=lambda: [230.0, 230.0, 230.0])
    energy_wh: List[float] = field(default_factory=lambda: [100935.0, 100935.0, 100936.0])
    setpoint_a: Optional[float] = None  # None: no valid EMS setpoint (safe current applies)
    validity_left_s: float = 0.0
    phases: int = 3
    writes: List[tuple] = field(default_factory=list)  # (time, name, value) for tests


@dataclass
class ChargerParams:
    validity_s: float = 60.0
    safe_current_a: float = 6.0
    station_max_a: float = 32.0
    phase_switching_allowed: bool = True
    three_phase_station: bool = True
    firmware: str = "7.4.5-4401"
    platform: str = "NG910"
    serial: str = "ACE0012345"
    name: str = "ALF_1000"
    sockets: int = 1
    fault_mode: str = ""  # "", "exception", "nan", "absurd": how reads misbehave right now
    forced_mode3: str = ""  # e.g. "E" or "F": the socket reports this state and offers nothing
    seed: int = 7


Word = int
ReadResult = Union[List[Word], int]


class ChargerModel:
    """The simulated charger: register reads and writes plus ``step(now)`` physics."""

    def __init__(
        self,
        params: ChargerParams,
        now: float,
        socket_unit: int = 1,
        station_unit: int = 200,
        clock: Optional[Callable[[], float]] = None,
    ) -> None:
        self.p = params
        self.now = now
        self.boot_time = now
        self.socket_unit = socket_unit
        self.station_unit = station_unit
        self.sockets: Dict[int, SocketState] = {socket_unit: SocketState()}
        if params.sockets > 1:
            self.sockets[socket_unit + 1] = SocketState()
        self.rng = random.Random(params.seed)
        self.temperature_c = 31.5
        self.clock = clock  # precise time stamps for the write log (physics ticks every 0.1 s)
        self.reads = 0  # read requests served (the benchmark counts requests per poll)

    # ---- the car -----------------------------------------------------------------------
    def plug(self, car: Car, unit: Optional[int] = None) -> None:
        s = self.sockets[unit or self.socket_unit]
        s.car, s.charged_this_plug, s.offered_since = car, False, None

    def unplug(self, unit: Optional[int] = None) -> None:
        s = self.sockets[unit or self.socket_unit]
        s.car, s.offered_since, s.current_a = None, None, [0.0, 0.0, 0.0]

    def reboot(self) -> None:
        """Setpoint and validity are not preserved across a reboot; energy and 1215 are."""
        for s in self.sockets.values():
            s.setpoint_a, s.validity_left_s, s.offered_since = None, 0.0, None
            s.current_a = [0.0, 0.0, 0.0]
        self.boot_time = self.now

    # ---- physics -----------------------------------------------------------------------
    def offered_a(self, s: SocketState) -> float:
        """Actual applied max current (1206): setpoint or safe current, capped by station max."""
        limit = s.setpoint_a if s.setpoint_a is not None else self.p.safe_current_a
        return max(0.0, min(limit, self.p.station_max_a))

    def active_phases(self, s: SocketState) -> int:
        station = s.phases if self.p.three_phase_station else 1
        return min(station, s.car.phases if s.car else 3)

    def step(self, now: float) -> None:
        dt = max(0.0, now - self.now)
        self.now = now
        for s in self.sockets.values():
            self._step_socket(s, dt)
        self.temperature_c = 30.0 + 0.08 * sum(sum(s.current_a) for s in self.sockets.values())

    def _step_socket(self, s: SocketState, dt: float) -> None:
        if s.setpoint_a is not None:
            s.validity_left_s -= dt
            if s.validity_left_s <= 0:
                s.setpoint_a, s.validity_left_s = None, 0.0
        for i in range(3):  # a little mains noise; real meters never read exactly 230.0
            s.voltage_v[i] = (
                230.0 + 1.5 * math.sin(self.now / 37.0 + i) + self.rng.uniform(-0.3, 0.3)
            )
        offered = self.offered_a(s)
        car = s.car
        target = 0.0
        if car is not None and not car.full and offered >= MIN_OFFER_A and not self.p.forced_mode3:
            if s.offered_since is None:
                s.offered_since = self.now
            if self.now - s.offered_since >= car.response_s:
                target = min(offered, car.max_current_a)
        else:
            s.offered_since = None
        phases = self.active_phases(s)
        for i in range(3):
            want = target if i < phases else 0.0
            # the car's charger ramps at about 5 A/s, and drops at once when told to stop
            cur = s.current_a[i]
            s.current_a[i] = want if want < cur else min(want, cur + 5.0 * dt)
        for i in range(3):
            wh = s.voltage_v[i] * s.current_a[i] * dt / 3600.0
            s.energy_wh[i] += wh
            if car is not None:
                car.soc_kwh += wh / 1000.0
        if any(c > 0.1 for c in s.current_a):
            s.charged_this_plug = True

    def mode3(self, s: SocketState) -> str:
        if self.p.forced_mode3:
            return self.p.forced_mode3
        if s.car is None:
            return "A"
        offered = self.offered_a(s) >= MIN_OFFER_A
        if any(c > 0.1 for c in s.current_a):
            return "C2"
        if s.car.full:
            return "B2" if offered else "B1"
        if offered:
            return "B2"  # offered, car not drawing yet (response delay)
        return "C1" if s.charged_this_plug else "B1"

    # ---- registers ---------------------------------------------------------------------
    def _values(self, device: Device, s: Optional[SocketState]) -> Dict[str, codec.Value]:
        if device is Device.STATION:
            up_ms = int((self.now - self.boot_time) * 1000)
            return {
                "name": self.p.name,
                "manufacturer": "Alfen NV",
                "modbus_table_version": 1,
                "firmware": self.p.firmware,
                "platform": self.p.platform,
                "serial": self.p.serial,
                "date_year": 2026,
                "date_month": 12,
                "date_day": 1,
                "time_hour": 12,
                "time_minute": 0,
                "time_second": 0,
                "uptime_ms": up_ms,
                "utc_offset_min": 60,
                "station_max_current": self.p.station_max_a,
                "temperature": self.temperature_c,
                "ocpp_state": 0,
                "sockets": self.p.sockets,
            }
        assert s is not None
        power = [s.voltage_v[i] * s.current_a[i] for i in range(3)]
        return {
            "meter_state": 0x03,
            "voltage_l1": s.voltage_v[0],
            "voltage_l2": s.voltage_v[1],
            "voltage_l3": s.voltage_v[2],
            "current_l1": s.current_a[0],
            "current_l2": s.current_a[1],
            "current_l3": s.current_a[2],
            "current_sum": None,  # real units serve NaN here
            "frequency": 50.0 + 0.02 * math.sin(self.now / 11.0),
            "power_l1": power[0],
            "power_l2": power[1],
            "power_l3": power[2],
            "power_sum": sum(power),
            "energy_l1": s.energy_wh[0],
            "energy_l2": s.energy_wh[1],
            "energy_l3": s.energy_wh[2],
            "energy_sum": sum(s.energy_wh),
            "availability": 1,
            "mode3_state": self.mode3(s),
            "applied_max_current": self.offered_a(s),
            "validity_remaining": int(math.ceil(s.validity_left_s))
            if s.setpoint_a is not None
            else 0,
            # after expiry the charger reports its fallback, not the last value (evcc #32955)
            "setpoint": s.setpoint_a if s.setpoint_a is not None else self.p.safe_current_a,
            "safe_current": self.p.safe_current_a,
            "setpoint_accounted": 1 if s.setpoint_a is not None else 0,
            "phases": s.phases,
        }

    def _device_for(self, unit: int) -> Optional[tuple]:
        if unit == self.station_unit:
            return Device.STATION, None, STATION_RANGES
        if unit in self.sockets:
            return Device.SOCKET, self.sockets[unit], SOCKET_RANGES
        return None

    def read(self, unit: int, address: int, count: int) -> ReadResult:
        """Holding registers, as a Modbus request sees them; an int result is an exception code."""
        self.reads += 1
        return self.peek(unit, address, count)

    def peek(self, unit: int, address: int, count: int) -> ReadResult:
        """The same read without counting it as a request (status dumps, tests)."""
        dev = self._device_for(unit)
        if dev is None:
            return ILLEGAL_ADDRESS
        device, s, ranges = dev
        if not any(lo <= address and address + count <= hi for lo, hi in ranges):
            return ILLEGAL_ADDRESS
        if self.p.fault_mode == "exception":
            return DEVICE_FAILURE
        words = [0xFFFF] * count  # unmapped words read as all-ones: NaN as a float
        values = self._values(device, s)
        for reg in REGISTERS:
            if reg.device is not device or reg.end <= address or reg.address >= address + count:
                continue
            value = self._fault(reg, values.get(reg.name))
            enc = codec.encode(reg, value)
            for i, w in enumerate(enc):
                a = reg.address + i
                if address <= a < address + count:
                    words[a - address] = w
        return words

    def _fault(self, reg: Register, value: codec.Value) -> codec.Value:
        if self.p.fault_mode == "nan" and isinstance(value, float):
            return None
        if self.p.fault_mode == "absurd" and isinstance(value, float):
            if reg.name.startswith("voltage"):
                return 10000.0
            if reg.name.startswith("energy"):
                return -5.0e6
        return value

    def _stamp(self) -> float:
        return self.clock() if self.clock is not None else self.now

    def write(self, unit: int, address: int, values: Sequence[Word]) -> Optional[int]:
        """FC06/FC16; returns an exception code or None when accepted."""
        dev = self._device_for(unit)
        if dev is None or dev[0] is not Device.SOCKET:
            return ILLEGAL_ADDRESS
        s = dev[1]
        if self.p.fault_mode == "exception":
            return DEVICE_FAILURE
        setpoint, phases = BY_NAME["setpoint"], BY_NAME["phases"]
        if address == setpoint.address:
            if len(values) < setpoint.count:
                return ILLEGAL_VALUE  # multi-register values must be written in one request
            amps = codec.decode(setpoint, list(values[: setpoint.count]))
            if amps is None or not isinstance(amps, float) or amps < 0 or amps > 80:
                return ILLEGAL_VALUE
            s.setpoint_a, s.validity_left_s = amps, self.p.validity_s
            s.writes.append((self._stamp(), "setpoint", amps))
            rest = list(values[setpoint.count :])
            if rest:
                return self.write(unit, address + setpoint.count, rest)
            return None
        if address == phases.address and len(values) == 1:
            if not self.p.phase_switching_allowed or values[0] not in (1, 3):
                return ILLEGAL_VALUE
            s.writes.append((self._stamp(), "phases", values[0]))
            if any(c > 0.5 for c in s.current_a):
                return None  # accepted but ignored while charging (HAPKG, fw 7.4.5)
            s.phases = int(values[0])
            return None
        if any(lo <= address < hi for lo, hi in SOCKET_RANGES):
            return ILLEGAL_ADDRESS if address != setpoint.address + 1 else ILLEGAL_VALUE
        return ILLEGAL_ADDRESS
