"""The only module that imports pymodbus's client: one persistent connection to the charger.

Both of pymodbus's error channels (a raised ModbusException / OSError and a returned
``isError()`` response) become our ``ChargerUnavailable`` / ``ChargerRejected(code)`` here, so
nothing else needs to know pymodbus. Writes of multi-register values go in one FC16 request, as
the charger requires.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any, Dict, List, Optional

from pymodbus.client import ModbusTcpClient
from pymodbus.exceptions import ModbusException

from bridge import codec
from bridge.registers import Block, Device, Register
from common.config_fields import config_value

log = logging.getLogger(__name__)

# pymodbus 3.10 renamed slave= to device_id=; accept both so the client works across the range.
_UNIT_KW = (
    "device_id"
    if "device_id" in inspect.signature(ModbusTcpClient.read_holding_registers).parameters
    else "slave"
)


class ChargerUnavailable(Exception):
    """No answer: connection refused, timed out or dropped."""


class ChargerRejected(Exception):
    """The charger answered with a Modbus exception."""

    def __init__(self, what: str, code: int) -> None:
        super().__init__(f"{what}: Modbus exception {code}")
        self.code = code


class ModbusLink:
    def __init__(
        self, host: str, port: int, socket_unit: int, station_unit: int, timeout_s: float
    ) -> None:
        self.host, self.port = host, port
        self.units: Dict[Device, int] = {Device.SOCKET: socket_unit, Device.STATION: station_unit}
        self.timeout_s = timeout_s
        self._client: Optional[ModbusTcpClient] = None
        self.requests = 0  # Modbus requests sent (for the benchmark)

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> ModbusLink:
        m = cfg["modbus"]
        return cls(
            m["ip"],
            int(m["port"]),
            int(m["socket_slave_id"]),
            int(m["station_slave_id"]),
            float(config_value(cfg, "modbus.timeout_s")),
        )

    @property
    def connected(self) -> bool:
        return self._client is not None and bool(self._client.connected)

    def connect(self) -> None:
        self.close()
        client = ModbusTcpClient(self.host, port=self.port, timeout=self.timeout_s, retries=0)
        try:
            ok = client.connect()
        except (OSError, ModbusException) as exc:
            raise ChargerUnavailable(f"connect {self.host}:{self.port}: {exc}") from None
        if not ok:
            client.close()
            raise ChargerUnavailable(f"cannot connect to {self.host}:{self.port}")
        self._client = client

    def close(self) -> None:
        if self._client is not None:
            try:
                self._client.close()
            except (OSError, ModbusException):
                pass
            self._client = None

    def _call(self, what: str, fn: str, *args: Any, device: Device, **kw: Any) -> Any:
        if self._client is None:
            raise ChargerUnavailable("not connected")
        self.requests += 1
        try:
            rr = getattr(self._client, fn)(*args, **kw, **{_UNIT_KW: self.units[device]})
        except (ModbusException, OSError, ValueError, AttributeError) as exc:
            # pymodbus raises ConnectionException/ModbusIOException on timeouts and resets
            self.close()
            raise ChargerUnavailable(f"{what}: {exc}") from None
        if rr is None:
            self.close()
            raise ChargerUnavailable(f"{what}: no response")
        if rr.isError():
            code = int(getattr(rr, "exception_code", 0) or 0)
            if code == 0:  # a transport-level error object, not a Modbus exception
                self.close()
                raise ChargerUnavailable(f"{what}: {rr}")
            raise ChargerRejected(what, code)
        return rr

    def read_words(self, device: Device, start: int, count: int) -> List[int]:
        rr = self._call(
            f"read {start}+{count}", "read_holding_registers", start, count=count, device=device
        )
        words = list(rr.registers)
        if len(words) != count:
            raise ChargerUnavailable(f"read {start}+{count}: got {len(words)} words")
        return words

    def read_block(self, block: Block) -> Dict[str, codec.Value]:
        words = self.read_words(block.device, block.start, block.count)
        return codec.decode_block(block.registers, block.start, words)

    def write(self, reg: Register, value: codec.Value) -> None:
        """Write one register value; multi-word values in one FC16 request, 1-word ones by FC06."""
        if not reg.writable:
            raise ValueError(f"{reg.name} is read-only")
        words = codec.encode(reg, value)
        if len(words) == 1:
            self._call(
                f"write {reg.name}", "write_register", reg.address, words[0], device=reg.device
            )
        else:
            self._call(
                f"write {reg.name}", "write_registers", reg.address, words, device=reg.device
            )
