"""The simulated charger process: model + pymodbus server + relay + a JSON control channel.

``python -m sim charger --port 5020 --control-port 5021 --plug-at 5`` serves units 200 and 1
(and 2 with ``--sockets 2``). Tests and the demo drive scenarios through the control channel:
one JSON object per line in, one JSON reply per line out (see ``ChargerSim.command``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from dataclasses import asdict
from typing import Any, Dict, List, Optional, Tuple

from bridge import codec
from bridge.registers import REGISTERS, Device
from sim.charger_model import Car, ChargerModel, ChargerParams
from sim.clock import SimClock
from sim.modbus_server import FrontRelay, start_backend

log = logging.getLogger("sim.charger")
TICK_S = 0.1  # wall-clock physics step


class ChargerSim:
    """Everything of one simulated charger that lives in an event loop."""

    def __init__(
        self,
        params: ChargerParams,
        clock: SimClock,
        host: str = "127.0.0.1",
        port: int = 5020,
        socket_unit: int = 1,
        station_unit: int = 200,
        idle_timeout_s: float = 60.0,
    ) -> None:
        self.clock = clock
        self.model = ChargerModel(params, clock.now(), socket_unit, station_unit, clock=clock.now)
        self.host, self.port = host, port
        self.units = [station_unit, *self.model.sockets]
        self.relay: Optional[FrontRelay] = None
        self.backend: Any = None
        self.idle_timeout_s = idle_timeout_s
        self._timers: List[Tuple[float, str, Dict[str, Any]]] = []  # (sim time, cmd, args)
        self.down = False

    async def start(self) -> None:
        import socket as _s

        with _s.socket() as s:
            s.bind(("127.0.0.1", 0))
            backend_port = s.getsockname()[1]
        self.backend = await start_backend(self.model, self.units, "127.0.0.1", backend_port)
        self.relay = FrontRelay(
            self.host, self.port, backend_port, idle_timeout_s=self.idle_timeout_s
        )
        await self.relay.start()
        log.info("simulated Alfen on %s:%s (units %s)", self.host, self.port, self.units)

    async def run_physics(self) -> None:
        while True:
            now = self.clock.now()
            self.model.step(now)
            await self._run_due(now)
            await asyncio.sleep(TICK_S)

    def schedule(self, at_sim: float, cmd: str, **args: Any) -> None:
        self._timers.append((at_sim, cmd, args))

    async def _run_due(self, now: float) -> None:
        due = [t for t in self._timers if t[0] <= now]
        self._timers = [t for t in self._timers if t[0] > now]
        for _at, cmd, args in due:
            await self.command({"cmd": cmd, **args})

    async def command(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """Scenario commands; every reply carries ``ok`` and, on success, the status."""
        cmd = msg.get("cmd")
        m = self.model
        now = self.clock.now()
        if cmd == "plug":
            fields = {
                k: msg[k]
                for k in ("max_current_a", "phases", "capacity_kwh", "soc_kwh", "response_s")
                if k in msg
            }
            m.plug(Car(**fields), msg.get("unit"))
        elif cmd == "unplug":
            m.unplug(msg.get("unit"))
        elif cmd == "reboot":
            await self._set_down(True)
            m.reboot()
            self.schedule(now + float(msg.get("down_s", 5)) * 1.0, "_up")
        elif cmd == "_up":
            await self._set_down(False)
        elif cmd == "outage":
            await self._set_down(True)
            self.schedule(now + float(msg.get("seconds", 5)), "_up")
        elif cmd == "silent":
            assert self.relay is not None
            self.relay.silent = True
            self.schedule(now + float(msg.get("seconds", 5)), "_speak")
        elif cmd == "_speak":
            assert self.relay is not None
            self.relay.silent = False
        elif cmd == "fault":
            m.p.fault_mode = str(msg.get("mode", ""))
            if msg.get("seconds"):
                self.schedule(now + float(msg["seconds"]), "fault", mode="")
        elif cmd == "set":
            for key, value in msg.items():
                if key != "cmd" and hasattr(m.p, key):
                    setattr(m.p, key, type(getattr(m.p, key))(value))
        elif cmd != "status":
            return {"ok": False, "error": f"unknown command {cmd!r}"}
        return {"ok": True, "status": self.status()}

    async def _set_down(self, down: bool) -> None:
        assert self.relay is not None
        if down and not self.down:
            await self.relay.stop()
        elif not down and self.down:
            await self.relay.start()
        self.down = down

    def status(self) -> Dict[str, Any]:
        """The model as tests compare it with what the bridge publishes."""
        m = self.model
        out: Dict[str, Any] = {
            "now": m.now,
            "down": self.down,
            "params": asdict(m.p),
            "clients": self.relay.clients if self.relay else 0,
            "refused": self.relay.refused if self.relay else 0,
            "reads": m.reads,
            "sockets": {},
        }
        for unit, s in m.sockets.items():
            regs = {}
            for reg in REGISTERS:
                if reg.device is Device.SOCKET:
                    words = m.peek(unit, reg.address, reg.count)
                    regs[reg.name] = codec.decode(reg, words) if isinstance(words, list) else None
            out["sockets"][str(unit)] = {
                "registers": regs,
                "current_a": list(s.current_a),
                "phases": s.phases,
                "setpoint_a": s.setpoint_a,
                "validity_left_s": s.validity_left_s,
                "car": asdict(s.car) if s.car else None,
                "energy_wh": sum(s.energy_wh),
                "writes": [list(w) for w in s.writes[-200:]],
                "mode3": m.mode3(s),
            }
        return out


async def serve_control(sim: ChargerSim, host: str, port: int) -> asyncio.base_events.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                try:
                    reply = await sim.command(json.loads(line))
                except (ValueError, TypeError) as exc:
                    reply = {"ok": False, "error": str(exc)}
                writer.write((json.dumps(reply) + "\n").encode())
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port, reuse_address=True)


def add_charger_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5020, help="Modbus TCP port")
    p.add_argument("--control-port", type=int, default=0, help="JSON control channel (0: off)")
    p.add_argument("--speed", type=float, default=1.0, help="simulated seconds per real second")
    p.add_argument("--validity-s", type=float, default=60.0)
    p.add_argument("--safe-current", type=float, default=6.0)
    p.add_argument("--station-max", type=float, default=32.0)
    p.add_argument("--no-phase-switching", action="store_true")
    p.add_argument("--one-phase-station", action="store_true")
    p.add_argument("--sockets", type=int, default=1, choices=(1, 2))
    p.add_argument("--idle-timeout-s", type=float, default=60.0)
    p.add_argument(
        "--plug-at", type=float, default=None, help="plug a car in after this many sim seconds"
    )
    p.add_argument("--unplug-at", type=float, default=None)
    p.add_argument("--car-max-a", type=float, default=16.0)
    p.add_argument("--car-phases", type=int, default=3, choices=(1, 2, 3))
    p.add_argument("--car-capacity-kwh", type=float, default=60.0)
    p.add_argument(
        "--car-soc-kwh", type=float, default=20.0, help="energy in the battery at plug-in"
    )
    p.add_argument("--reboot-at", type=float, default=None)
    p.add_argument("--silent-at", type=float, default=None)
    p.add_argument("--silent-for", type=float, default=30.0)


def build_charger(args: argparse.Namespace, clock: SimClock) -> ChargerSim:
    params = ChargerParams(
        validity_s=args.validity_s,
        safe_current_a=args.safe_current,
        station_max_a=args.station_max,
        phase_switching_allowed=not args.no_phase_switching,
        three_phase_station=not args.one_phase_station,
        sockets=args.sockets,
    )
    sim = ChargerSim(params, clock, args.host, args.port, idle_timeout_s=args.idle_timeout_s)
    t0 = clock.now()
    if args.plug_at is not None:
        sim.schedule(
            t0 + args.plug_at,
            "plug",
            max_current_a=args.car_max_a,
            phases=args.car_phases,
            capacity_kwh=args.car_capacity_kwh,
            soc_kwh=args.car_soc_kwh,
        )
    if args.unplug_at is not None:
        sim.schedule(t0 + args.unplug_at, "unplug")
    if args.reboot_at is not None:
        sim.schedule(t0 + args.reboot_at, "reboot")
    if args.silent_at is not None:
        sim.schedule(t0 + args.silent_at, "silent", seconds=args.silent_for)
    return sim


async def run_charger(args: argparse.Namespace) -> None:
    clock = SimClock(args.speed)
    sim = build_charger(args, clock)
    await sim.start()
    if args.control_port:
        await serve_control(sim, args.host, args.control_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    physics = asyncio.ensure_future(sim.run_physics())
    await stop.wait()
    physics.cancel()
    log.info("simulated charger stopped")


def control(port: int, cmd: str, host: str = "127.0.0.1", **args: Any) -> Dict[str, Any]:
    """Send one command to a running simulator's control channel (used by tests and the demo)."""
    import socket

    with socket.create_connection((host, port), timeout=5) as s:
        s.sendall((json.dumps({"cmd": cmd, **args}) + "\n").encode())
        buf = b""
        while not buf.endswith(b"\n"):
            chunk = s.recv(65536)
            if not chunk:
                break
            buf += chunk
    return json.loads(buf)
