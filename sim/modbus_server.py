"""The only module of the simulator that touches pymodbus's server side.

pymodbus changed its server datastore twice in our supported range (3.8–3.16): up to 3.12 the
server asks a per-device context ``async_getValues(fc, address, count)``; from 3.13 it asks the
server context ``async_getValues(device_id, fc, address, count)``, and 3.16 deprecates both in
favour of SimDevice. We adapt one small ``RegisterSpace`` (read/write by unit) to whichever shape
the installed version has, so the model never sees pymodbus.

In front of pymodbus sits a small TCP relay that behaves like the charger's network side: at most
two masters, idle connections closed after 60 s, and fault modes (listener down, silent).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, List, Optional, Protocol, Sequence, Set, Union

import pymodbus
from pymodbus.datastore import ModbusServerContext
from pymodbus.server import ModbusTcpServer

try:  # pymodbus 3.10-3.12
    from pymodbus.datastore.context import (  # type: ignore[attr-defined]
        ModbusBaseDeviceContext as _BaseDeviceContext,
    )
except ImportError:
    try:  # pymodbus 3.8-3.9 (Python 3.9): the same shape under its older name
        from pymodbus.datastore.context import (  # type: ignore[attr-defined,no-redef]
            ModbusBaseSlaveContext as _BaseDeviceContext,
        )
    except ImportError:  # 3.13+ has no per-device base class
        _BaseDeviceContext = None  # type: ignore[assignment,misc]
try:
    from pymodbus.constants import ExcCodes as _ExcCodes
except ImportError:  # pragma: no cover
    _ExcCodes = None  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

NEW_SHAPE = hasattr(ModbusServerContext, "async_getValues")
# pymodbus < 3.9 ignores the code setValues returns: a refused write would look accepted.
_IGNORES_SET_RESULT = tuple(int(x) for x in pymodbus.__version__.split(".")[:2]) < (3, 9)


class WriteRefused(Exception):
    """The model refused a write (pymodbus 3.8 only learns of it through an exception)."""


class RegisterSpace(Protocol):
    def read(self, unit: int, address: int, count: int) -> Union[List[int], int]: ...
    def peek(self, unit: int, address: int, count: int) -> Union[List[int], int]: ...
    def write(self, unit: int, address: int, values: Sequence[int]) -> Optional[int]: ...


def _exc(code: int) -> Any:
    return _ExcCodes(code) if _ExcCodes is not None else code


def _is_write(fc: int) -> bool:
    return fc in (6, 16)


class _NewServerContext(ModbusServerContext):  # type: ignore[misc]
    """pymodbus 3.13+: one server-level context that receives the device id."""

    def __init__(
        self, space: RegisterSpace, units: Sequence[int]
    ) -> None:  # no super(): it builds SimDevices
        self.space = space
        self._devices = {u: None for u in units}  # type: ignore[misc]
        self.simdevices: list = []
        self.old_simulator = True  # 3.16: "use this context as is"

    async def async_getValues(
        self, device_id: int, func_code: int, address: int, count: int = 1
    ) -> Any:
        if func_code not in (3,) and not _is_write(func_code):
            return _exc(1)
        # FC06/16: pymodbus reads back after writing to build the echo; that is no request
        read = self.space.peek if _is_write(func_code) else self.space.read
        res = read(device_id, address, count)
        return _exc(res) if isinstance(res, int) else res

    async def async_setValues(
        self, device_id: int, func_code: int, address: int, values: Any
    ) -> Any:
        if not _is_write(func_code):
            return _exc(1)
        values = list(values) if isinstance(values, (list, tuple)) else [values]
        res = self.space.write(device_id, address, values)
        return None if res is None else _exc(res)

    def device_ids(self) -> List[int]:
        return list(self._devices)


def _old_device_context(space: RegisterSpace, unit: int) -> Any:
    """pymodbus 3.8–3.12: one context per device id."""
    assert _BaseDeviceContext is not None

    class _Device(_BaseDeviceContext):  # type: ignore[misc,valid-type]
        async def async_getValues(self, fc_as_hex: int, address: int, count: int = 1) -> Any:
            if _is_write(fc_as_hex):  # the echo of FC06/16 reads back what was written
                return space.peek(unit, address, count)
            if fc_as_hex != 3:
                return 1
            return space.read(unit, address, count)

        async def async_setValues(self, fc_as_hex: int, address: int, values: Any) -> Any:
            if not _is_write(fc_as_hex):
                return 1
            values = list(values) if isinstance(values, (list, tuple)) else [values]
            code = space.write(unit, address, values)
            if code is not None and _IGNORES_SET_RESULT:
                raise WriteRefused(code)  # becomes exception 4 on 3.8: the best it can say
            return code

        def reset(self) -> None:
            pass

        def validate(self, fc_as_hex: int, address: int, count: int = 1) -> bool:
            """pymodbus 3.8 asks first (and ignores what setValues returns, so a refused write
            reads as a device failure there, not as the charger's exception 3)."""
            return not isinstance(space.peek(unit, address, count), int)

    return _Device()


def build_context(space: RegisterSpace, units: Sequence[int]) -> Any:
    if NEW_SHAPE:
        return _NewServerContext(space, units)
    return ModbusServerContext({u: _old_device_context(space, u) for u in units}, single=False)


async def start_backend(
    space: RegisterSpace, units: Sequence[int], host: str, port: int
) -> ModbusTcpServer:
    """Start pymodbus's TCP server (in this event loop) serving ``space``."""
    server = ModbusTcpServer(build_context(space, units), address=(host, port))
    asyncio.get_running_loop().create_task(server.serve_forever())
    for _ in range(200):
        if getattr(server, "transport", None) is not None or _listening(server):
            break
        await asyncio.sleep(0.01)
    return server


def _listening(server: Any) -> bool:
    serving = getattr(server, "serving", None)
    return bool(serving is not None and getattr(server, "transport", None))


class FrontRelay:
    """The charger's network face: connection limit, idle timeout, outage and silence faults."""

    def __init__(
        self,
        host: str,
        port: int,
        backend_port: int,
        max_clients: int = 2,
        idle_timeout_s: float = 60.0,
    ) -> None:
        self.host, self.port, self.backend_port = host, port, backend_port
        self.max_clients, self.idle_timeout_s = max_clients, idle_timeout_s
        self.silent = False
        self.refused = 0
        self._server: Optional[asyncio.base_events.Server] = None
        self._conns: Set[asyncio.Task] = set()
        self._writers: Set[asyncio.StreamWriter] = set()

    @property
    def clients(self) -> int:
        return len(self._conns)

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, reuse_address=True
        )

    async def stop(self) -> None:
        """Close the listener and every connection (a charger that is switched off)."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for w in list(self._writers):
            w.close()
        for t in list(self._conns):
            t.cancel()
        await asyncio.sleep(0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if len(self._conns) >= self.max_clients:
            self.refused += 1
            log.info("refusing a third Modbus master")
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", self.backend_port)
        except OSError:
            self._conns.discard(task)
            writer.close()
            return
        try:
            await self._pump(reader, writer, b_reader, b_writer)
        finally:
            self._conns.discard(task)
            self._writers.discard(writer)
            for w in (writer, b_writer):
                w.close()

    async def _pump(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        b_reader: asyncio.StreamReader,
        b_writer: asyncio.StreamWriter,
    ) -> None:
        async def upstream() -> None:
            while True:
                data = await asyncio.wait_for(reader.read(4096), self.idle_timeout_s)
                if not data:
                    return
                if self.silent:
                    continue  # a hanging charger: requests vanish, the socket stays open
                b_writer.write(data)
                await b_writer.drain()

        async def downstream() -> None:
            while True:
                data = await b_reader.read(4096)
                if not data:
                    return
                if not self.silent:
                    writer.write(data)
                    await writer.drain()

        tasks = [asyncio.ensure_future(upstream()), asyncio.ensure_future(downstream())]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            pass
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:  # collect the idle TimeoutError and friends
                try:
                    await t
                except (asyncio.CancelledError, asyncio.TimeoutError, OSError, ConnectionError):
                    pass
