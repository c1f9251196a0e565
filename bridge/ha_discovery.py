"""Home Assistant MQTT discovery for the charger: one device, its entities as data. Pure.

``discovery_messages`` turns ``{base}/info`` (identity), the topic contract and the station max
into retained discovery configs, one per entity, under
``<prefix>/<component>/<unique_id>/config`` (HA's discovery topic with object_id = unique_id
and no node_id). Measurements come from ``{base}/state`` (the bridge); session, status,
reason and the controls from ``{base}/control/state`` (the controller), and commands go to
``{base}/control/set/…`` in the shapes of schemas/set_*.schema.json, never to the bridge.

``Announcer`` remembers what was published, so the bridge re-sends only what changed (a new
station max, a new firmware) and everything after HA's ``online`` birth message or a reconnect;
with discovery disabled it yields empty retained payloads, which delete the entities in HA.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple

from common.config_fields import config_default, config_field, read_fields
from common.evcs import MIN_CURRENT_A
from common.topics import Topics

# HA's own discovery prefix, the schema's default for home_assistant.discovery_prefix
HA_PREFIX: str = config_default("home_assistant.discovery_prefix")
MODES: Tuple[str, ...] = ("manual", "auto", "scheduled")  # index = /Mode (0, 1, 2)
ORIGIN = {"name": "alfen-victron", "url": "https://github.com/rhernaus/victron-alfen-charger"}


def _num(path: str, scale: str = "") -> str:
    """Template: the JSON number at ``path`` (dotted), else None (HA shows 'unknown')."""
    v = "value_json." + path
    return f"{{{{ ({v}{scale}) | round(3) if {v} is number else None }}}}"


@dataclass(frozen=True)
class Entity:
    key: str  # unique_id suffix and object_id
    component: str  # sensor, binary_sensor, select, switch, number
    name: str
    source: str  # "state" (bridge) or "control" (controller)
    config: Tuple[Tuple[str, Any], ...]  # component-specific keys


def _sensor(key: str, name: str, source: str, template: str, **extra: Any) -> Entity:
    return Entity(key, "sensor", name, source, (("value_template", template), *extra.items()))


def _measured(key: str, name: str, path: str, unit: str, device_class: str) -> Entity:
    """A number from ``{base}/state`` measured now (power, a phase current)."""
    return _sensor(
        key,
        name,
        "state",
        _num(path),
        unit_of_measurement=unit,
        device_class=device_class,
        state_class="measurement",
    )


ENTITIES: Tuple[Entity, ...] = (
    _measured("power", "Power", "power_w", "W", "power"),
    *(
        _measured(f"current_l{i}", f"Current L{i}", f"l{i}.current_a", "A", "current")
        for i in (1, 2, 3)
    ),
    _sensor(
        "energy",
        "Energy",
        "state",
        _num("energy_wh", " / 1000"),
        unit_of_measurement="kWh",
        device_class="energy",
        state_class="total_increasing",
    ),
    _sensor(
        "session_energy",
        "Session energy",
        "control",
        _num("session.energy_kwh"),
        unit_of_measurement="kWh",
        device_class="energy",
        state_class="total_increasing",
    ),
    _sensor(
        "session_time",
        "Session time",
        "control",
        _num("session.time_s"),
        unit_of_measurement="s",
        device_class="duration",
        state_class="measurement",
    ),
    _sensor(
        "status",
        "Status",
        "control",
        "{{ value_json.status_text | default(value_json.status) }}",
        icon="mdi:ev-station",
    ),
    _sensor(
        "reason",
        "Reason",
        "control",
        "{{ value_json.reason }}",
        icon="mdi:information-outline",
        entity_category="diagnostic",
    ),
    _sensor(  # the capacity AUTO's battery check works with (configured or learned)
        "battery_check_capacity",
        "Battery capacity (AUTO check)",
        "control",
        "{{ (value_json.battery_check or {}).capacity_kwh | default(None) }}",
        unit_of_measurement="kWh",
        device_class="energy_storage",
        state_class="measurement",
        entity_category="diagnostic",
    ),
    Entity(  # whether AUTO lets the car share the battery's charge today (see README, AUTO)
        "battery_fills",
        "binary_sensor",
        "Battery fills today (AUTO check)",
        "control",
        (
            (
                "value_template",
                "{% set f = (value_json.battery_check or {}).fills %}"
                "{{ 'ON' if f is sameas true else ('OFF' if f is sameas false else 'None') }}",
            ),
            ("payload_on", "ON"),
            ("payload_off", "OFF"),
            ("icon", "mdi:battery-sync"),
            ("entity_category", "diagnostic"),
        ),
    ),
    Entity(
        "mode",
        "select",
        "Mode",
        "control",
        (
            ("value_template", "{{ ['manual', 'auto', 'scheduled'][value_json.mode] }}"),
            ("command_topic", "control/set/mode"),
            ("command_template", '{"mode": "{{ value }}"}'),
            ("options", list(MODES)),
            ("icon", "mdi:solar-power-variant"),
        ),
    ),
    Entity(
        "charging",
        "switch",
        "Charging enabled",
        "control",
        (
            ("value_template", "{{ 'ON' if value_json.enabled else 'OFF' }}"),
            ("command_topic", "control/set/startstop"),
            ("payload_on", '{"enabled": true}'),
            ("payload_off", '{"enabled": false}'),
            ("state_on", "ON"),
            ("state_off", "OFF"),
            ("icon", "mdi:ev-plug-type2"),
        ),
    ),
    Entity(
        "set_current",
        "number",
        "Charging current",
        "control",
        (
            ("value_template", _num("set_current_a")),
            ("command_topic", "control/set/current"),
            ("command_template", '{"amps": {{ value }}}'),
            ("unit_of_measurement", "A"),
            ("device_class", "current"),
            ("step", 1),
            ("mode", "slider"),
        ),
    ),
)


def object_base(info: Mapping[str, Any], topics: Topics) -> str:
    """``alfen_<serial>`` (``[a-zA-Z0-9_-]`` only), or ``alfen_<prefix>_<id>`` without a serial.

    The right socket of an Eve Double (unit 2) shares the station's serial: ``…_socket2``.
    """
    serial = str(info.get("serial") or "").strip()
    raw = f"alfen_{serial}" if serial else f"alfen_{topics.prefix}_{topics.charger_id}"
    unit = info.get("socket_unit")
    if serial and isinstance(unit, int) and unit != 1:
        raw += f"_socket{unit}"
    return re.sub(r"[^a-zA-Z0-9_-]", "_", raw)


def device_block(info: Mapping[str, Any], topics: Topics) -> Dict[str, Any]:
    dev: Dict[str, Any] = {
        "identifiers": [object_base(info, topics)],
        "name": str(info.get("name") or "") or f"Alfen charger {topics.charger_id}",
        "manufacturer": str(info.get("manufacturer") or "") or "Alfen NV",
    }
    for key, field in (("model", "platform"), ("sw_version", "firmware")):
        if info.get(field):
            dev[key] = str(info[field])
    if info.get("serial"):
        dev["serial_number"] = str(info["serial"])
    return dev


def discovery_topic(prefix: str, entity: Entity, base: str) -> str:
    return f"{prefix}/{entity.component}/{base}_{entity.key}/config"


def entity_config(
    entity: Entity, info: Mapping[str, Any], topics: Topics, max_current_a: float
) -> Dict[str, Any]:
    base = object_base(info, topics)
    state_topic = topics.state if entity.source == "state" else topics.control_state
    avail = [{"topic": topics.availability}]
    if entity.source == "control":  # the controller computes these and takes the commands
        avail.append({"topic": topics.control_availability})
    cfg: Dict[str, Any] = {
        "name": entity.name,
        "unique_id": f"{base}_{entity.key}",
        "state_topic": state_topic,
        "availability": avail,
        "availability_mode": "all",
        "device": device_block(info, topics),
        "origin": ORIGIN,
    }
    for key, value in entity.config:
        cfg[key] = topics.sub(value) if key == "command_topic" else value
    if entity.component == "number":
        cfg["min"] = MIN_CURRENT_A
        cfg["max"] = max(MIN_CURRENT_A, float(max_current_a))
    return cfg


def discovery_messages(
    info: Mapping[str, Any], topics: Topics, max_current_a: float, prefix: str = HA_PREFIX
) -> Dict[str, str]:
    """Discovery topic → JSON config for every entity (publish retained)."""
    base = object_base(info, topics)
    return {
        discovery_topic(prefix, e, base): json.dumps(
            entity_config(e, info, topics, max_current_a), sort_keys=True
        )
        for e in ENTITIES
    }


def removal_messages(
    info: Mapping[str, Any], topics: Topics, prefix: str = HA_PREFIX
) -> Dict[str, str]:
    """Discovery topic → empty payload (retained): HA deletes the entities."""
    base = object_base(info, topics)
    return {discovery_topic(prefix, e, base): "" for e in ENTITIES}


def _prefix(value: Any) -> str:
    """An empty discovery prefix would put the topics at the broker's root: HA's own instead."""
    return str(value or HA_PREFIX)


@dataclass(frozen=True)
class HaSettings:
    enabled: bool = config_field("home_assistant.discovery", bool)
    prefix: str = config_field("home_assistant.discovery_prefix", _prefix)

    @property
    def status_topic(self) -> str:
        """HA's birth/last-will topic: ``online`` means re-announce."""
        return f"{self.prefix}/status"

    @classmethod
    def from_config(cls, cfg: Mapping[str, Any]) -> HaSettings:
        return cls(**read_fields(cls, dict(cfg)))


class Announcer:
    """What to publish now; remembers what was published (no I/O here)."""

    def __init__(self, settings: HaSettings, topics: Topics) -> None:
        self.settings, self.topics = settings, topics
        self.sent: Dict[str, str] = {}

    def plan(
        self, info: Optional[Mapping[str, Any]], max_current_a: float, force: bool = False
    ) -> List[Tuple[str, str]]:
        """(topic, payload) pairs to publish retained; ``force`` after a reconnect or HA online."""
        if not info:
            return []
        if self.settings.enabled:
            wanted = discovery_messages(info, self.topics, max_current_a, self.settings.prefix)
        else:
            wanted = removal_messages(info, self.topics, self.settings.prefix)
        # an entity whose topic changed (another serial) is removed under its old topic
        stale = {t: "" for t, p in self.sent.items() if p and t not in wanted}
        todo = {**stale, **{t: p for t, p in wanted.items() if force or self.sent.get(t) != p}}
        self.sent.update(todo)
        return sorted(todo.items())

    def forget(self) -> None:
        """After a disconnect nothing is known to be on the broker any more."""
        self.sent.clear()
