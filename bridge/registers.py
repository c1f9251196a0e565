"""The one definition of every Alfen NG9xx register this project uses.

Addresses are the 0-based on-the-wire addresses of Alfen's "Implementation of Modbus Slave TCP/IP
for Alfen NG9xx platform" v2.3 (socket registers at unit 1, station registers at unit 200).
The bridge reads with
them, the simulator serves them, the tests check them; nothing else may hard-code an address.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Dict, Final, List, Tuple


class Device(enum.Enum):
    """Which Modbus unit a register lives on; the unit ids themselves come from config."""

    STATION = "station"  # unit 200 by default (modbus.station_slave_id)
    SOCKET = "socket"  # unit 1 (socket 1) or 2 (right socket of a Double)


class RegType(enum.Enum):
    UINT16 = "uint16"
    INT16 = "int16"
    UINT32 = "uint32"
    UINT64 = "uint64"
    FLOAT32 = "float32"
    FLOAT64 = "float64"
    STRING = "string"


WORDS: Final[Dict[RegType, int]] = {
    RegType.UINT16: 1,
    RegType.INT16: 1,
    RegType.UINT32: 2,
    RegType.UINT64: 4,
    RegType.FLOAT32: 2,
    RegType.FLOAT64: 4,
}


@dataclass(frozen=True)
class Register:
    """One register: where it is, how wide, how to read it, and whether we may write it."""

    name: str
    device: Device
    address: int
    count: int
    type: RegType
    writable: bool = False
    unit: str = ""
    description: str = ""
    poll: bool = True  # read every poll cycle (False: identity, read once per connection)

    def __post_init__(self) -> None:
        if self.type is not RegType.STRING and WORDS[self.type] != self.count:
            raise ValueError(f"{self.name}: {self.type.value} needs {WORDS[self.type]} words")

    @property
    def end(self) -> int:
        """One past the last address this register occupies."""
        return self.address + self.count


def _r(
    name: str, device: Device, address: int, count: int, rtype: RegType, **kw: object
) -> Register:
    return Register(name, device, address, count, rtype, **kw)  # type: ignore[arg-type]


S, K = Device.STATION, Device.SOCKET
F32, F64, U16, I16, U32, U64, STR = (
    RegType.FLOAT32,
    RegType.FLOAT64,
    RegType.UINT16,
    RegType.INT16,
    RegType.UINT32,
    RegType.UINT64,
    RegType.STRING,
)

REGISTERS: Final[Tuple[Register, ...]] = (
    # Product identification, unit 200 (read once per connection).
    _r("name", S, 100, 17, STR, poll=False, description="Station name / id"),
    _r("manufacturer", S, 117, 5, STR, poll=False),
    _r("modbus_table_version", S, 122, 1, I16, poll=False),
    _r("firmware", S, 123, 17, STR, poll=False),
    _r("platform", S, 140, 17, STR, poll=False, description="NG900/NG910/NG920"),
    _r("serial", S, 157, 11, STR, poll=False),
    _r("date_year", S, 168, 1, I16, poll=False),
    _r("date_month", S, 169, 1, I16, poll=False),
    _r("date_day", S, 170, 1, I16, poll=False),
    _r("time_hour", S, 171, 1, I16, poll=False),
    _r("time_minute", S, 172, 1, I16, poll=False),
    _r("time_second", S, 173, 1, I16, poll=False),
    _r("uptime_ms", S, 174, 4, U64, poll=False, unit="ms"),
    _r("utc_offset_min", S, 178, 1, I16, poll=False, unit="min"),
    # Station status, unit 200.
    _r("station_max_current", S, 1100, 2, F32, unit="A", description="Station active max current"),
    _r("temperature", S, 1102, 2, F32, unit="°C", description="Board temperature"),
    _r("ocpp_state", S, 1104, 1, U16),
    _r("sockets", S, 1105, 1, U16),
    # Socket measurements, unit 1/2.
    _r("meter_state", K, 300, 1, U16, description="bitmask: 1 init, 2 updated, 4 warning, 8 error"),
    _r("voltage_l1", K, 306, 2, F32, unit="V"),
    _r("voltage_l2", K, 308, 2, F32, unit="V"),
    _r("voltage_l3", K, 310, 2, F32, unit="V"),
    _r("current_l1", K, 320, 2, F32, unit="A"),
    _r("current_l2", K, 322, 2, F32, unit="A"),
    _r("current_l3", K, 324, 2, F32, unit="A"),
    _r("current_sum", K, 326, 2, F32, unit="A"),
    _r("frequency", K, 336, 2, F32, unit="Hz"),
    _r("power_l1", K, 338, 2, F32, unit="W"),
    _r("power_l2", K, 340, 2, F32, unit="W"),
    _r("power_l3", K, 342, 2, F32, unit="W"),
    _r("power_sum", K, 344, 2, F32, unit="W"),
    _r("energy_l1", K, 362, 4, F64, unit="Wh"),
    _r("energy_l2", K, 366, 4, F64, unit="Wh"),
    _r("energy_l3", K, 370, 4, F64, unit="Wh"),
    _r("energy_sum", K, 374, 4, F64, unit="Wh", description="Real energy delivered, lifetime"),
    # Socket status and transaction, unit 1/2.
    _r("availability", K, 1200, 1, U16, description="1 operative, 0 inoperative"),
    _r("mode3_state", K, 1201, 5, STR, description="IEC 61851 Mode 3 state"),
    _r("applied_max_current", K, 1206, 2, F32, unit="A", description="Actual applied max current"),
    _r("validity_remaining", K, 1208, 2, U32, unit="s", description="Setpoint valid time left"),
    _r("setpoint", K, 1210, 2, F32, writable=True, unit="A", description="Modbus max current"),
    _r("safe_current", K, 1212, 2, F32, unit="A", description="Fallback when setpoint expires"),
    _r("setpoint_accounted", K, 1214, 1, U16, description="1 = 1210 is taken into account"),
    _r("phases", K, 1215, 1, U16, writable=True, description="Charge using 1 or 3 phases"),
)

BY_NAME: Final[Dict[str, Register]] = {r.name: r for r in REGISTERS}
SETPOINT: Final = BY_NAME["setpoint"]
PHASES: Final = BY_NAME["phases"]

MAX_READ_WORDS: Final = 125  # Modbus limit for one FC03 request
MERGE_GAP_WORDS: Final = 16  # reading 16 unused words costs less than one extra round trip


@dataclass(frozen=True)
class Block:
    """A contiguous read covering one or more registers on one device."""

    device: Device
    start: int
    count: int
    registers: Tuple[Register, ...]


def read_blocks(poll: bool) -> List[Block]:
    """Group registers into as few reads as the map allows (gaps ≤ MERGE_GAP_WORDS merged)."""
    blocks: List[Block] = []
    for device in Device:
        regs = sorted(
            (r for r in REGISTERS if r.device is device and r.poll is poll), key=lambda r: r.address
        )
        current: List[Register] = []
        for reg in regs:
            if current:
                start = current[0].address
                gap = reg.address - max(r.end for r in current)
                if gap <= MERGE_GAP_WORDS and reg.end - start <= MAX_READ_WORDS:
                    current.append(reg)
                    continue
                blocks.append(_block(device, current))
            current = [reg]
        if current:
            blocks.append(_block(device, current))
    return blocks


def _block(device: Device, regs: List[Register]) -> Block:
    start = regs[0].address
    return Block(device, start, max(r.end for r in regs) - start, tuple(regs))


POLL_BLOCKS: Final = read_blocks(poll=True)
IDENTITY_BLOCKS: Final = read_blocks(poll=False)
