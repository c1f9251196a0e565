"""The shim's logic: MQTT events in, D-Bus values out, GX writes out as MQTT commands.

``Inputs`` caches what MQTT said (retained state, info, control state, availability, broker link)
and builds a ``paths.View``; ``Shim`` renders the view onto a vedbus-shaped service in one batch
(one ItemsChanged) and turns accepted writes into ``{base}/control/set/<what>`` commands. No
D-Bus or GLib import here: the runner (``main.py``) owns the loop, so tests can drive it with
an in-memory service (tests/memory_service.py) and plain calls.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from common.clock import SYSTEM_CLOCK, Clock
from common.config import topics_for
from common.config_fields import config_field, config_value, read_fields, text
from common.evcs import finite_number
from common.inbound import Inbox
from common.mqtt_link import Connected, Disconnected, Event, Message
from common.schemas import PayloadError, parse_and_validate, validate
from common.topics import Topics
from dbus_shim.paths import BY_PATH, PATHS, Identity, View, render, text_of
from dbus_shim.store import ShimMemory, Store, monotonic_energy

log = logging.getLogger(__name__)

PENDING_S = 5.0  # show an accepted write this long while the controller confirms it
ENERGY_SAVE_S = 900.0  # persist the energy floor at most this often (flash wear on a GX)


@dataclass(frozen=True)
class ShimConfig:
    topics: Topics
    device_instance: int  # config: the service name suffix and MQTT id
    custom_name: str = config_field("dbus.custom_name", text)
    position: int = config_field("dbus.position", int)
    state_file: Path = Path("dbus_shim.json")
    stale_s: float = 10.0  # no state for this long: the bridge is gone
    max_set_current_a: float = config_field("controls.max_set_current")
    connection: str = "MQTT"
    process_version: str = "0.1.0"

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> ShimConfig:
        topics = topics_for(cfg)
        poll_s = float(config_value(cfg, "poll_interval_ms")) / 1000.0
        instance = int(config_value(cfg, "device_instance"))
        host, port = config_value(cfg, "mqtt.host"), config_value(cfg, "mqtt.port")
        return cls(
            topics=topics,
            device_instance=instance,
            state_file=Path(config_value(cfg, "state_dir")) / f"dbus_shim_{instance}.json",
            # 10 polls, at least 10 s: a slow poll is not an outage
            stale_s=max(10.0, 10 * poll_s),
            connection=f"MQTT {host}:{port} {topics.base}",
            **read_fields(cls, cfg),
            process_version=_version(),
        )


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("alfen-victron")
    except Exception:
        return "0.1.0"


@dataclass
class Inputs:
    """The latest of each MQTT input, with arrival times (monotonic seconds)."""

    broker_up: bool = False
    availability: str = ""
    control_availability: str = ""
    state: Dict[str, Any] = field(default_factory=dict)
    state_at: float = 0.0
    info: Dict[str, Any] = field(default_factory=dict)
    control: Dict[str, Any] = field(default_factory=dict)


class Shim:
    def __init__(
        self,
        cfg: ShimConfig,
        publish: Callable[[str, str], bool],
        store: Store,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.cfg = cfg
        self.topics = cfg.topics
        self._publish = publish
        self.store = store
        self.clock = clock
        self.memory: ShimMemory = ShimMemory()
        self.inputs = Inputs()
        self.device_instance = cfg.device_instance
        self.service: Any = None
        self.pending: Dict[str, Tuple[Any, float]] = {}
        self.energy_kwh: Optional[float] = None
        self._energy_saved_at = 0.0
        self._bad_topics: set[str] = set()
        self.on_serial: Optional[Callable[[str], None]] = None
        self.refresh_soon: Callable[[], None] = lambda: None  # the runner schedules a refresh
        # The shim acts on no command topic; the inbox keeps a bad message from the rest.
        self.inbox = Inbox(
            "dbus",
            self.topics,
            lambda topic, payload, _retain: publish(
                topic, payload if isinstance(payload, str) else payload.decode()
            ),
        )

    # ---- startup ------------------------------------------------------------------------------
    def load(self) -> None:
        self.memory = self.store.load()

    def subscriptions(self) -> List[str]:
        t = self.topics
        return [t.availability, t.state, t.info, t.control_state, t.control_availability]

    def build(self, service: Any) -> None:
        """Add every path (values as known now); the caller registers the name afterwards."""
        self.service = service
        values = render(self.view())
        for row in PATHS:
            service.add_path(
                row.path,
                values[row.path],
                description=row.description,
                writeable=row.writable,
                onchangecallback=self._on_write if row.writable else None,
                gettextcallback=text_of if row.text is not None else None,
            )

    # ---- MQTT in ------------------------------------------------------------------------------
    def apply(self, event: Event) -> None:
        if isinstance(event, Connected):
            self.inputs.broker_up = True
        elif isinstance(event, Disconnected):
            self.inputs.broker_up = False
        elif isinstance(event, Message):
            self.inbox.deliver(self._apply_message, event, self.clock.monotonic())

    def _apply_message(self, msg: Message) -> None:
        t, inp = self.topics, self.inputs
        if msg.topic == t.availability:
            inp.availability = msg.payload.decode("utf-8", "replace").strip()
        elif msg.topic == t.control_availability:
            inp.control_availability = msg.payload.decode("utf-8", "replace").strip()
        elif msg.topic in (t.state, t.info, t.control_state):
            schema = {t.state: "state", t.info: "info", t.control_state: "control_state"}
            data = self._parse(msg, schema[msg.topic])
            if data is None:
                return
            if msg.topic == t.state:
                inp.state, inp.state_at = data, self.clock.monotonic()
                self._update_energy(data)
            elif msg.topic == t.info:
                inp.info = data
                self._note_serial(str(data.get("serial", "")))
            else:
                inp.control = data

    def _parse(self, msg: Message, schema: str) -> Optional[Dict[str, Any]]:
        if not msg.payload:  # a cleared retained topic
            return {}
        try:
            data = parse_and_validate(schema, msg.payload)
        except PayloadError as exc:
            if msg.topic not in self._bad_topics:
                log.warning("ignoring %s: %s", msg.topic, exc)
                self._bad_topics.add(msg.topic)
            return None
        if msg.topic in self._bad_topics:
            log.info("%s is valid again", msg.topic)
            self._bad_topics.discard(msg.topic)
        return data if isinstance(data, dict) else None

    def _update_energy(self, state: Dict[str, Any]) -> None:
        wh = finite_number(state.get("energy_wh"))
        if wh is None:
            return
        mem = self.memory
        total, offset = monotonic_energy(wh / 1000.0, mem.energy_offset_kwh, mem.energy_last_kwh)
        changed_offset = offset != mem.energy_offset_kwh
        if changed_offset:
            log.warning(
                "charger energy counter fell to %.3f kWh; keeping the total rising", wh / 1000
            )
        mem.energy_offset_kwh, mem.energy_last_kwh, self.energy_kwh = offset, total, total
        if changed_offset or self.clock.monotonic() - self._energy_saved_at >= ENERGY_SAVE_S:
            self.store.save(mem)
            self._energy_saved_at = self.clock.monotonic()

    def _note_serial(self, serial: str) -> None:
        if serial and serial != self.memory.serial:
            self.memory.serial = serial
            self.store.save(self.memory)
            if self.on_serial is not None:
                self.on_serial(serial)

    # ---- D-Bus out ----------------------------------------------------------------------------
    def view(self) -> View:
        inp, cfg = self.inputs, self.cfg
        fresh = bool(inp.state) and self.clock.monotonic() - inp.state_at <= cfg.stale_s
        connected = (
            inp.broker_up
            and inp.availability == "online"
            and fresh
            and inp.state.get("connected") is True
        )
        control_ok = inp.broker_up and inp.control_availability != "offline" and bool(inp.control)
        mem = self.memory
        return View(
            identity=Identity(cfg.process_version, cfg.connection, self.device_instance),
            connected=connected,
            control_ok=control_ok,
            state=inp.state,
            info=inp.info,
            control=inp.control,
            energy_kwh=self.energy_kwh,
            custom_name=mem.custom_name if mem.custom_name is not None else cfg.custom_name,
            position=mem.position if mem.position is not None else cfg.position,
            max_current_ceiling_a=cfg.max_set_current_a,
        )

    def refresh(self) -> int:
        """Bring every path up to date in one batch (one ItemsChanged); returns paths changed."""
        if self.service is None:
            return 0
        values = render(self.view())
        self._overlay_pending(values)
        changed = 0
        with self.service as s:
            for path, value in values.items():
                current = s[path]
                if current == value and type(current) is type(value):
                    continue
                if current == value:  # 12.0 -> 12: vedbus compares with ==, so pass via invalid
                    s[path] = None
                s[path] = value
                changed += 1
        return changed

    def _overlay_pending(self, values: Dict[str, Any]) -> None:
        now = self.clock.monotonic()
        for path, (value, until) in list(self.pending.items()):
            if now > until or values[path] == value:
                del self.pending[path]
            else:
                values[path] = value

    def set_device_instance(self, instance: int) -> None:
        if instance != self.device_instance:
            log.info("device instance is now %s", instance)
            self.device_instance = instance
            self.refresh_soon()

    def save(self) -> None:
        self.store.save(self.memory)

    # ---- GX writes ----------------------------------------------------------------------------
    def _on_write(self, path: str, value: Any) -> bool:
        """vedbus change callback: validate, then forward or keep; False refuses (SetValue 2)."""
        row = BY_PATH[path]
        view = self.view()
        accepted = row.check(value, view) if row.check is not None else None
        if accepted is None:
            log.info("refused GX write %s = %r", path, value)
            return False
        if row.local is not None:
            setattr(self.memory, row.local, accepted)
            self.store.save(self.memory)
        elif row.command is not None and not self._send(row.command, accepted):
            log.warning("refused GX write %s = %r: the controller cannot be reached", path, value)
            return False
        log.info("GX write %s = %r", path, accepted)
        self.pending[path] = (accepted, self.clock.monotonic() + PENDING_S)
        self.refresh_soon()  # re-type the stored value (12.0 -> 12) and keep it shown
        return True

    def _send(self, command: Tuple[str, Callable[[Any], Dict[str, Any]]], value: Any) -> bool:
        what, payload_of = command
        if not self.inputs.broker_up or self.inputs.control_availability == "offline":
            return False
        payload = payload_of(value)
        try:
            validate(f"set_{what}", payload)
        except PayloadError as exc:
            log.warning("not sending control/set/%s %s: %s", what, payload, exc)
            return False
        return self._publish(self.topics.control_set(what), json.dumps(payload))
