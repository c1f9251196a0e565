"""The shim's runner: config, D-Bus connection, instance claim, MQTT link, GLib main loop.

MQTT callbacks only enqueue (``common.mqtt_link``); the queue wakes the GLib loop
(``glib_loop.GLibLoop``, GLib through ctypes) with ``idle_add`` and every event is handled there, so D-Bus objects are only touched from the
main loop. A 1 s timer notices a bridge that went silent. SIGTERM releases the bus name,
saves the energy floor and exits 0.
"""

from __future__ import annotations

import logging
import queue
import signal
import threading
from typing import Any, Callable, List, Optional

from common.cli import start
from common.clock import SYSTEM_CLOCK, Clock
from common.config_fields import config_value
from common.mqtt_link import Event, MqttLink, MqttSettings
from dbus_shim.backend import close_service, make_service
from dbus_shim.glib_loop import GLibLoop
from dbus_shim.mirror import Shim, ShimConfig
from dbus_shim.paths import SERVICE_PREFIX
from dbus_shim.settings import claim_instance, unique_id, watch_instance
from dbus_shim.store import Store

log = logging.getLogger("dbus_shim")

TICK_MS = 1000
SERIAL_WAIT_S = 3.0  # at start, wait this long for the retained info (the serial names the claim)


class WakingQueue(queue.Queue):  # type: ignore[type-arg]
    """The link's event queue; a put from paho's thread schedules one drain on the GLib loop."""

    def __init__(self, maxsize: int, wake: Callable[[], None]) -> None:
        super().__init__(maxsize)
        self._wake = wake
        self._armed = threading.Event()

    def put(self, item: Any, block: bool = True, timeout: Optional[float] = None) -> None:
        super().put(item, block, timeout)
        if not self._armed.is_set():
            self._armed.set()
            self._wake()

    def disarm(self) -> None:
        self._armed.clear()


def connect_bus(dcfg: dict) -> Any:  # type: ignore[type-arg]
    import dbus
    import dbus.bus

    if dcfg.get("address"):
        return dbus.bus.BusConnection(dcfg["address"])
    if dcfg.get("bus") == "session":
        return dbus.SessionBus(private=True)
    return dbus.SystemBus(private=True)


class ShimLoop:
    """The shim process: MQTT in, the GLib loop, the D-Bus service (I/O around ``Shim``)."""

    def __init__(self, cfg: dict, clock: Clock = SYSTEM_CLOCK) -> None:  # type: ignore[type-arg]
        self.cfg = cfg
        self.clock = clock
        self.shim_cfg = ShimConfig.from_config(cfg)
        self.link: Optional[MqttLink] = None
        self.shim: Optional[Shim] = None
        self.bus: Any = None
        self.service: Any = None
        self.loop: Optional[GLibLoop] = None
        self.claimed_uid: Optional[str] = None
        self._watch: Any = None
        self.queue: Optional[WakingQueue] = None

    def run(self) -> int:
        from dbus.mainloop.glib import DBusGMainLoop

        DBusGMainLoop(set_as_default=True)
        self.loop = loop = GLibLoop()
        sc = self.shim_cfg
        self.bus = connect_bus(self.cfg.get("dbus", {}))
        link = MqttLink(
            MqttSettings.from_config(self.cfg),
            client_id=f"{config_value(self.cfg, 'mqtt.client_id_prefix')}-dbus-shim-"
            f"{sc.device_instance}",
        )
        shim = Shim(sc, lambda t, p: link.publish(t, p), Store(sc.state_file), self.clock)
        shim.load()
        link.subscriptions = shim.subscriptions()
        self.queue = WakingQueue(10000, lambda: loop.idle_add(self._drain))
        link.events = self.queue
        self.link, self.shim = link, shim
        shim.refresh_soon = lambda: loop.idle_add(self._refresh_once)
        link.start()
        self._wait_for_info(SERIAL_WAIT_S)
        self._claim(shim.memory.serial)
        shim.on_serial = self._claim_again
        name = f"{SERVICE_PREFIX}{sc.device_instance}"
        self.service, backend = make_service(name, self.bus)
        shim.build(self.service)
        try:
            self.service.register()  # only now: a consumer that sees the name reads every path at once
        except Exception as exc:
            log.error("cannot claim %s on D-Bus: %s", name, exc)
            link.stop()
            return 1
        log.info("%s on D-Bus (%s BusItem), instance %s", name, backend, shim.device_instance)
        loop.timeout_add(TICK_MS, self._tick)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.unix_signal_add(sig, self._stop)
        loop.run()
        self._shutdown()
        return 0

    def _wait_for_info(self, timeout_s: float) -> None:
        """Before the loop runs: take retained messages until the info (serial) is in."""
        assert self.link is not None and self.shim is not None
        deadline = self.clock.monotonic() + timeout_s
        while not self.shim.inputs.info and self.clock.monotonic() < deadline:
            event = self.link.next_event(min(0.2, max(0.0, deadline - self.clock.monotonic())))
            if event is not None:
                self.shim.apply(event)
        if self.queue is not None:
            self.queue.disarm()
            if not self.queue.empty():
                self.queue._wake()

    def _claim(self, serial: str) -> None:
        assert self.shim is not None
        uid = unique_id(serial, f"dev{self.shim_cfg.device_instance}")
        instance = claim_instance(self.bus, uid)
        if instance is None:
            return
        self.claimed_uid = uid
        self.shim.set_device_instance(instance)
        if self._watch is not None:
            self._watch.remove()
        self._watch = watch_instance(self.bus, uid, self.shim.set_device_instance)

    def _claim_again(self, serial: str) -> None:
        if self.claimed_uid is not None and self.claimed_uid != unique_id(serial, ""):
            self._claim(serial)

    # ---- loop callbacks (GLib: return False to run once, True to repeat) --------------------------
    def _drain(self) -> bool:
        assert self.queue is not None and self.shim is not None
        self.queue.disarm()
        events: List[Event] = []
        while True:
            try:
                events.append(self.queue.get_nowait())
            except queue.Empty:
                break
        try:
            for event in events:
                self.shim.apply(event)
            if events:
                self.shim.refresh()
        except Exception:  # never let one bad message stop the loop
            log.exception("error handling MQTT events")
        return False

    def _refresh_once(self) -> bool:
        self._safe_refresh()
        return False

    def _tick(self) -> bool:
        self._safe_refresh()  # notices a silent bridge (stale state) and expired pending writes
        return True

    def _safe_refresh(self) -> None:
        assert self.shim is not None
        try:
            self.shim.refresh()
        except Exception:
            log.exception("error updating D-Bus")

    def _stop(self) -> bool:
        log.info("stopping")
        assert self.loop is not None
        self.loop.quit()
        return False

    def _shutdown(self) -> None:
        if self.shim is not None:
            self.shim.save()
        if self.service is not None:
            close_service(self.service, self.bus)
        if self.link is not None:
            self.link.stop()


def main(argv: Optional[List[str]] = None) -> int:
    cfg, _path = start(
        "python -m dbus_shim",
        "Show the Alfen charger on the Victron GX D-Bus as com.victronenergy.evcharger",
        "dbus-shim",
        argv,
    )
    if cfg is None:
        return 2
    try:
        return ShimLoop(cfg).run()
    except Exception:
        log.exception("dbus shim failed")
        return 1
