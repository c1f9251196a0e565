"""``python -m sim world …``: the simulated charger and the Victron site in one asyncio process.

The charger is ``sim.charger.ChargerSim`` (pymodbus server + JSON control channel). The site is
a balance line: grid = house + EV − PV + battery charging, per phase, and AC consumption
includes the EV (on a GX the charger's power is inside AC consumption). The site is published
the way Venus OS's dbus-flashmq does it:

* ``N/<portal>/system/0/Serial`` retained, always;
* everything else only while a client keeps ``R/<portal>/keepalive`` alive: a keepalive without
  ``suppress-republish`` triggers a full publish (then ``N/<portal>/full_publish_completed``),
  changes stream while alive, a heartbeat every 3 s, and nothing ``KEEPALIVE_WINDOW_S`` after the
  last keepalive;
* values as ``{"value": x}``, not retained.

Time: ``--speed`` scales the site (PV curve, battery, trace replay) so a sunny hour can pass in a
minute. The charger runs on ``--charger-speed`` (default real time) because the bridge and the
controller keep their lease and validity timers on the wall clock.

A trace replay (``--trace``) runs through ``sim.site_model.SiteModel``; without a trace the small
``FallbackSite`` (clear-sky curve, house load, ESS battery) runs, and it also takes the scenario
commands tests use (``cloud``, ``sun``, ``site`` overrides).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import math
import random
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Protocol, Tuple

import pytz

from common.mqtt_link import Connected, Message, MqttLink, MqttSettings
from common.schemas import PayloadError, parse_json
from common.topics import ESS_MIN_SOC_PATH, venus_settings, venus_system
from sim.charger import ChargerSim, add_charger_args, build_charger, serve_control
from sim.clock import SimClock

log = logging.getLogger("sim.world")
KEEPALIVE_WINDOW_S = 60.0  # dbus-flashmq keeps publishing this long after the last keepalive
HEARTBEAT_S = 3.0  # flashmq's N/<id>/heartbeat period
Triple = Tuple[float, float, float]


@dataclass(frozen=True)
class SiteReading:
    """One instant of the site, in Venus units (W, %)."""

    grid_w: Triple
    pv_on_grid_w: Triple
    pv_dc_w: float
    consumption_w: Triple
    battery_soc: Optional[float]
    battery_power_w: Optional[float]  # + charging
    ess_min_soc: float

    def venus_values(self) -> Dict[str, Optional[float]]:
        """Path (under system/0) → value, for every path the controller reads."""
        out: Dict[str, Optional[float]] = {"Dc/Pv/Power": round(self.pv_dc_w, 1)}
        for i in range(3):
            n = i + 1
            out[f"Ac/Grid/L{n}/Power"] = round(self.grid_w[i], 1)
            out[f"Ac/PvOnGrid/L{n}/Power"] = round(self.pv_on_grid_w[i], 1)
            out[f"Ac/PvOnOutput/L{n}/Power"] = None  # no PV inverter on the output here
            out[f"Ac/Consumption/L{n}/Power"] = round(self.consumption_w[i], 1)
        out["Dc/Battery/Soc"] = None if self.battery_soc is None else round(self.battery_soc, 1)
        out["Dc/Battery/Power"] = (
            None if self.battery_power_w is None else round(self.battery_power_w, 1)
        )
        return out


class Site(Protocol):
    def step(self, now: float, ev_w: Triple) -> SiteReading: ...


@dataclass
class SiteParams:
    pv_peak_w: float = 6000.0
    house_w: float = 400.0
    battery_kwh: float = 10.0
    battery_soc: float = 60.0
    battery_max_w: float = 3000.0
    min_soc: float = 20.0
    timezone: str = "Europe/Amsterdam"
    noise_w: float = 30.0
    seed: int = 11


class FallbackSite:
    """PV bell curve (06:00–20:00 local), house load, an ESS battery that holds grid at zero."""

    def __init__(self, p: SiteParams):
        self.p = p
        self.tz = pytz.timezone(p.timezone)
        self.soc = p.battery_soc
        self.pv_factor = 1.0  # clouds
        self.pv_override: Optional[float] = None
        self.house_override: Optional[float] = None
        self._last: Optional[float] = None
        self._rng = random.Random(p.seed)

    def pv_w(self, now: float) -> float:
        local = dt.datetime.fromtimestamp(now, self.tz)
        hour = local.hour + local.minute / 60.0 + local.second / 3600.0
        if not 6.0 <= hour <= 20.0:
            return 0.0
        return self.p.pv_peak_w * math.sin(math.pi * (hour - 6.0) / 14.0) ** 1.5

    def step(self, now: float, ev_w: Triple) -> SiteReading:
        dt_s = 0.0 if self._last is None else max(0.0, now - self._last)
        self._last = now
        pv, house = self.pv_w(now), self.p.house_w + self._rng.uniform(-1, 1) * self.p.noise_w
        pv = (self.pv_override if self.pv_override is not None else pv) * self.pv_factor
        house = max(0.0, self.house_override if self.house_override is not None else house)
        battery = self._battery(pv - house - sum(ev_w), dt_s)
        house_ph = (house * 0.5, house * 0.25, house * 0.25)
        pv_ph = (pv / 3.0,) * 3
        bat_ph = (battery / 3.0,) * 3 if battery is not None else (0.0,) * 3
        grid = tuple(house_ph[i] + ev_w[i] - pv_ph[i] + bat_ph[i] for i in range(3))
        cons = tuple(house_ph[i] + ev_w[i] for i in range(3))
        return SiteReading(
            grid_w=(grid[0], grid[1], grid[2]),
            pv_on_grid_w=(pv_ph[0], pv_ph[1], pv_ph[2]),
            pv_dc_w=0.0,
            consumption_w=(cons[0], cons[1], cons[2]),
            battery_soc=self.soc if self.p.battery_kwh > 0 else None,
            battery_power_w=battery,
            ess_min_soc=self.p.min_soc,
        )

    def _battery(self, net_w: float, dt_s: float) -> Optional[float]:
        """ESS: absorb surplus / cover deficit within power and SOC limits; + = charging."""
        p = self.p
        if p.battery_kwh <= 0:
            return None
        if net_w > 0 and self.soc < 100.0:
            power = min(net_w, p.battery_max_w)
        elif net_w < 0 and self.soc > p.min_soc:
            power = max(net_w, -p.battery_max_w)
        else:
            power = 0.0
        self.soc = min(100.0, max(0.0, self.soc + power * dt_s / 3600.0 / (p.battery_kwh * 10.0)))
        return power


class TraceSite:
    """Replays a trace through ``sim.site_model.SiteModel`` (the other engineer's physics).

    Index = whole seconds since the trace's start; the last sample holds after the end. The
    cloud and override commands do not apply to a replay (the trace is the weather).
    """

    def __init__(self, path: str, p: SiteParams) -> None:
        from sim.site_model import BatteryParams, SiteModel, read_trace_csv

        self.trace = read_trace_csv(Path(path))
        battery = BatteryParams(
            capacity_wh=max(1.0, p.battery_kwh * 1000.0),
            max_charge_w=p.battery_max_w if p.battery_kwh > 0 else 0.0,
            max_discharge_w=p.battery_max_w if p.battery_kwh > 0 else 0.0,
            ess_min_soc=p.min_soc,
            soc0=p.battery_soc,
        )
        self.model = SiteModel(self.trace, battery)
        self.has_battery = p.battery_kwh > 0
        self.min_soc = p.min_soc
        self.pv_factor = 1.0
        self.pv_override: Optional[float] = None
        self.house_override: Optional[float] = None
        self._last: Optional[float] = None

    @property
    def start_ts(self) -> float:
        return self.trace.start_ts

    def step(self, now: float, ev_w: Triple) -> SiteReading:
        dt_s = 1.0 if self._last is None else max(1e-3, now - self._last)
        self._last = now
        i = min(len(self.trace) - 1, max(0, int(now - self.trace.start_ts)))
        r = self.model.step(i, ev_w, dt_s)
        third = r.pv_w / 3.0
        return SiteReading(
            grid_w=r.grid_w,
            pv_on_grid_w=(third, third, third),
            pv_dc_w=0.0,
            consumption_w=r.consumption_w,
            battery_soc=r.soc if self.has_battery else None,
            battery_power_w=r.battery_w if self.has_battery else None,
            ess_min_soc=self.min_soc,
        )


def make_site(p: SiteParams, trace: Optional[str]) -> Any:
    return TraceSite(trace, p) if trace else FallbackSite(p)


def ev_power(sim: ChargerSim) -> Triple:
    """The EV's real power per phase from the charger model (all sockets)."""
    total = [0.0, 0.0, 0.0]
    for s in sim.model.sockets.values():
        for i in range(3):
            total[i] += s.current_a[i] * s.voltage_v[i]
    return total[0], total[1], total[2]


class VenusPublisher:
    """Publishes a SiteReading like dbus-flashmq: only while kept alive, full dump on request."""

    def __init__(self, link: MqttLink, portal: str, window_s: float = KEEPALIVE_WINDOW_S):
        self.link = link
        self.portal = portal
        self.window_s = window_s
        self.alive_until = 0.0  # monotonic
        self.full_requests = 0
        self.keepalives = 0
        self._sent: Dict[str, str] = {}
        self._full_due = False
        self._heartbeat_at = 0.0
        self.silent = False  # test hook: pretend the GX stopped publishing

    def on_connected(self) -> None:
        self.link.publish(
            venus_system(self.portal, "Serial"), json.dumps({"value": self.portal}), retain=True
        )

    def on_message(self, topic: str, payload: bytes) -> None:
        if topic not in (f"R/{self.portal}/keepalive", f"R/{self.portal}/system/0/Serial"):
            return
        self.keepalives += 1
        self.alive_until = time.monotonic() + self.window_s
        options: List[Any] = []
        try:  # a shared broker (make demo --broker) carries anyone's payloads
            obj = parse_json(payload, 4096) if payload else {}
        except PayloadError:
            obj = {}
        given = obj.get("keepalive-options") if isinstance(obj, dict) else None
        options = given if isinstance(given, list) else []
        if "suppress-republish" not in options:
            self._full_due = True

    @property
    def full_due(self) -> bool:
        return self._full_due

    @property
    def alive(self) -> bool:
        return time.monotonic() < self.alive_until

    def publish(self, reading: SiteReading) -> None:
        if not self.alive or self.silent:
            return
        values = {venus_system(self.portal, k): v for k, v in reading.venus_values().items()}
        values[venus_settings(self.portal, ESS_MIN_SOC_PATH)] = reading.ess_min_soc
        full = self._full_due
        for topic, value in values.items():
            body = json.dumps({"value": value})
            if full or self._sent.get(topic) != body:
                if self.link.publish(topic, body):
                    self._sent[topic] = body
        if full:
            self._full_due = False
            self.full_requests += 1
            self.link.publish(
                f"N/{self.portal}/full_publish_completed", json.dumps({"value": int(time.time())})
            )
        if time.monotonic() >= self._heartbeat_at:
            self._heartbeat_at = time.monotonic() + HEARTBEAT_S
            self.link.publish(f"N/{self.portal}/heartbeat", json.dumps({"value": int(time.time())}))


class World:
    """The charger, the site and the Venus publisher, stepped by one asyncio task."""

    def __init__(self, sim: ChargerSim, site: Any, clock: SimClock, venus: VenusPublisher):
        self.sim, self.site, self.clock, self.venus = sim, site, clock, venus
        self.last: Optional[SiteReading] = None
        self._charger_command = sim.command  # kept before run_world routes the channel here

    def step(self) -> SiteReading:
        self.last = self.site.step(self.clock.now(), ev_power(self.sim))
        self.venus.publish(self.last)
        return self.last

    async def command(self, msg: Dict[str, Any]) -> Dict[str, Any]:
        """Site commands here; everything else goes to the charger's control channel."""
        cmd = msg.get("cmd")
        site = self.site
        if cmd == "cloud":
            site.pv_factor = float(msg.get("factor", 0.1))
        elif cmd == "sun":
            site.pv_factor = 1.0
        elif cmd == "site":
            if "pv_w" in msg:
                site.pv_override = None if msg["pv_w"] is None else float(msg["pv_w"])
            if "house_w" in msg:
                site.house_override = None if msg["house_w"] is None else float(msg["house_w"])
        elif cmd == "venus_silent":
            self.venus.silent = bool(msg.get("silent", True))
        elif cmd != "site_status":
            return await self._charger_command(msg)
        return {"ok": True, "site": self.site_status()}

    def site_status(self) -> Dict[str, Any]:
        r = self.last
        return {
            "sim_time": self.clock.now(),
            "alive": self.venus.alive,
            "keepalives": self.venus.keepalives,
            "full_publishes": self.venus.full_requests,
            "values": None if r is None else r.venus_values(),
            "ess_min_soc": None if r is None else r.ess_min_soc,
        }


def add_world_args(p: argparse.ArgumentParser) -> None:
    add_charger_args(p)  # --speed there is the site's speed here (see the module docstring)
    p.add_argument("--charger-speed", type=float, default=1.0)
    p.add_argument("--mqtt-host", default="127.0.0.1")
    p.add_argument("--mqtt-port", type=int, default=1883)
    p.add_argument("--portal", default="c0619ab0a1fe")
    p.add_argument("--pv-peak-w", type=float, default=6000.0)
    p.add_argument("--house-w", type=float, default=400.0)
    p.add_argument("--battery-kwh", type=float, default=10.0, help="0: no battery")
    p.add_argument("--battery-soc", type=float, default=60.0)
    p.add_argument("--battery-max-w", type=float, default=3000.0)
    p.add_argument("--min-soc", type=float, default=20.0, help="ESS minimum SOC (%%)")
    p.add_argument("--timezone", default="Europe/Amsterdam")
    p.add_argument("--start-hour", type=float, default=None, help="local hour the site starts at")
    p.add_argument(
        "--trace",
        default=None,
        help="trace CSV to replay (sim.site_model format: t_s,pv_w,load_w…)",
    )
    p.add_argument("--keepalive-window-s", type=float, default=KEEPALIVE_WINDOW_S)
    p.add_argument("--publish-interval-s", type=float, default=1.0)


def site_start(args: argparse.Namespace) -> Optional[float]:
    if args.start_hour is None:
        return None
    tz = pytz.timezone(args.timezone)
    today = dt.datetime.now(tz).date()
    midnight = tz.localize(dt.datetime.combine(today, dt.time(0)))
    return midnight.timestamp() + float(args.start_hour) * 3600.0


async def run_world(args: argparse.Namespace) -> None:
    charger_clock = SimClock(args.charger_speed)
    sim = build_charger(args, charger_clock)
    params = SiteParams(
        pv_peak_w=args.pv_peak_w,
        house_w=args.house_w,
        battery_kwh=args.battery_kwh,
        battery_soc=args.battery_soc,
        battery_max_w=args.battery_max_w,
        min_soc=args.min_soc,
        timezone=args.timezone,
    )
    site = make_site(params, args.trace)
    start = site_start(args)
    if isinstance(site, TraceSite):  # a replay starts at the trace's midnight (+ --start-hour)
        start = site.start_ts + (args.start_hour or 0.0) * 3600.0
    site_clock = SimClock(args.speed, start=start)
    link = MqttLink(
        MqttSettings(host=args.mqtt_host, port=args.mqtt_port),
        client_id=f"sim-world-{args.portal}",
        subscriptions=[f"R/{args.portal}/#"],
    )
    venus = VenusPublisher(link, args.portal, args.keepalive_window_s)
    world = World(sim, site, site_clock, venus)
    await sim.start()
    if args.control_port:
        await serve_control(sim, args.host, args.control_port)
        sim.command = world.command  # type: ignore[method-assign]
    link.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.ensure_future(sim.run_physics()),
        asyncio.ensure_future(_pump(link, venus, world, args.publish_interval_s)),
    ]
    log.info(
        "simulated site for portal %s on MQTT %s:%s", args.portal, args.mqtt_host, args.mqtt_port
    )
    await stop.wait()
    for task in tasks:
        task.cancel()
    link.stop()
    log.info("simulated world stopped")


async def _pump(link: MqttLink, venus: VenusPublisher, world: World, interval_s: float) -> None:
    """MQTT events in (non-blocking), the site stepped and published every ``interval_s``."""
    next_step = 0.0
    while True:
        while True:
            event = link.next_event(0)
            if event is None:
                break
            if isinstance(event, Connected):
                venus.on_connected()
            elif isinstance(event, Message):
                venus.on_message(event.topic, event.payload)
        if time.monotonic() >= next_step or venus.full_due:
            world.step()
            next_step = time.monotonic() + interval_s
        await asyncio.sleep(0.05)
