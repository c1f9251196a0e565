"""Home Assistant discovery: payloads carry what HA needs, templates render on real payloads,
commands are valid for the controller, and (end to end) HA's commands reach the charger."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import jinja2
import pytest

from bridge.ha_discovery import (
    ENTITIES,
    Announcer,
    HaSettings,
    discovery_messages,
    removal_messages,
)
from common.schemas import load_schema, parse_and_validate
from common.topics import COMMAND_SCHEMAS, STATE_SCHEMAS, Topics
from sim.charger import control
from tests.helpers import (
    Broker,
    Probe,
    Proc,
    SimProc,
    base_config,
    wait_until,
    write_config,
)

T = Topics("alfen", "0")
INFO = load_schema("info")["examples"][0]
STATE = load_schema("state")["examples"][0]
CONTROL = load_schema("control_state")["examples"][0]
REQUIRED = {
    "sensor": {"state_topic", "value_template"},
    "binary_sensor": {"state_topic", "value_template", "payload_on", "payload_off"},
    "select": {"state_topic", "command_topic", "options", "value_template"},
    "switch": {"state_topic", "command_topic", "payload_on", "payload_off", "state_on"},
    "number": {"state_topic", "command_topic", "min", "max", "step", "value_template"},
}
ENV = jinja2.Environment()


def render(template: str, **ctx: Any) -> str:
    return ENV.from_string(template).render(**ctx)


def configs(max_a: float = 32.0, info: Dict[str, Any] = INFO) -> Dict[str, Dict[str, Any]]:
    return {t: json.loads(p) for t, p in discovery_messages(info, T, max_a).items()}


def test_every_payload_has_what_its_component_needs() -> None:
    cfgs = configs()
    assert len(cfgs) == len(ENTITIES)
    ids = [c["unique_id"] for c in cfgs.values()]
    assert len(set(ids)) == len(ids)
    for topic, c in cfgs.items():
        prefix, component, object_id, last = topic.split("/")
        assert (prefix, last) == ("homeassistant", "config")
        assert object_id == c["unique_id"]
        assert all(ch.isalnum() or ch in "_-" for ch in object_id)
        assert REQUIRED[component] <= set(c), (topic, REQUIRED[component] - set(c))
        assert c["device"]["identifiers"] == ["alfen_ACE0012345"]
        assert c["device"]["manufacturer"] == "Alfen NV" and c["device"]["model"] == "NG910"
        assert c["device"]["sw_version"] == "7.4.5-4401"
        avail = [a["topic"] for a in c["availability"]]
        assert T.availability in avail
        suffix = T.suffix_of(c["state_topic"])
        assert suffix in STATE_SCHEMAS, suffix
        if suffix == "control/state":
            assert T.control_availability in avail
        if "command_topic" in c:
            assert T.suffix_of(c["command_topic"]) in COMMAND_SCHEMAS
    by_key = {c["unique_id"].rsplit("_", 1)[-1]: c for c in cfgs.values()}
    assert (
        by_key["power"]["device_class"] == "power" and by_key["power"]["unit_of_measurement"] == "W"
    )
    energy = next(
        c
        for c in cfgs.values()
        if c["unique_id"].endswith("_energy") and "session" not in c["unique_id"]
    )
    assert (energy["device_class"], energy["state_class"], energy["unit_of_measurement"]) == (
        "energy",
        "total_increasing",
        "kWh",
    )


def _by(component: str) -> Dict[str, Any]:
    return next(c for t, c in configs(16.0).items() if f"/{component}/" in t)


def test_number_is_bounded_by_station_max_and_commands_validate() -> None:
    number = _by("number")
    assert (number["min"], number["max"], number["step"]) == (6.0, 16.0, 1)
    assert number["unit_of_measurement"] == "A"
    for value in (6, 10.5, 16):
        body = render(number["command_template"], value=value)
        assert parse_and_validate("set_current", body.encode()) == {"amps": value}


def test_select_and_switch_send_schema_valid_commands() -> None:
    select = _by("select")
    assert select["options"] == ["manual", "auto", "scheduled"]
    for option in select["options"]:
        parse_and_validate("set_mode", render(select["command_template"], value=option).encode())
    switch = _by("switch")
    for key in ("payload_on", "payload_off"):
        parse_and_validate("set_startstop", switch[key].encode())
    assert render(switch["value_template"], value_json=CONTROL) == switch["state_on"]
    assert render(switch["value_template"], value_json={**CONTROL, "enabled": False}) == "OFF"
    assert render(select["value_template"], value_json=CONTROL) == "auto"


def test_value_templates_render_on_the_schema_examples() -> None:
    for c in configs().values():
        doc = STATE if c["state_topic"] == T.state else CONTROL
        out = render(c["value_template"], value_json=doc)
        assert out not in ("", "None"), (c["unique_id"], out)
        if "unit_of_measurement" in c:
            float(out)
    power = next(c for c in configs().values() if c["unique_id"].endswith("_power"))
    assert float(render(power["value_template"], value_json=STATE)) == STATE["power_w"]
    energy = next(
        c for c in configs().values() if c["unique_id"].endswith("alfen_ACE0012345_energy")
    )
    assert float(render(energy["value_template"], value_json=STATE)) == 302.806
    unknown = render(power["value_template"], value_json={**STATE, "power_w": None})
    assert unknown == "None"  # HA's MQTT sensor takes 'None' as unknown, never 0
    battery = next(c for c in configs().values() if c["unique_id"].endswith("_capacity"))
    assert float(render(battery["value_template"], value_json=CONTROL)) == 10.2
    off = render(battery["value_template"], value_json={**CONTROL, "battery_check": None})
    assert off == "None"  # the check is off or has no capacity yet: unknown
    older = {k: v for k, v in CONTROL.items() if k != "battery_check"}  # an older controller
    assert render(battery["value_template"], value_json=older) == "None"
    fills = next(c for c in configs().values() if c["unique_id"].endswith("_battery_fills"))
    assert fills["payload_on"] == render(fills["value_template"], value_json=CONTROL) == "ON"
    check = {**CONTROL["battery_check"], "fills": False}
    assert render(fills["value_template"], value_json={**CONTROL, "battery_check": check}) == "OFF"
    # HA's binary sensor takes 'None' as unknown: no forecast yet, the check off, older controller
    for unknown in ({**check, "fills": None}, None):
        assert render(
            fills["value_template"], value_json={**CONTROL, "battery_check": unknown}
        ) == ("None")
    assert render(fills["value_template"], value_json=older) == "None"


def test_announcer_sends_changes_forced_all_and_removal() -> None:
    a = Announcer(HaSettings(True, "homeassistant"), T)
    assert a.plan(None, 32.0) == []
    first = a.plan(INFO, 32.0)
    assert len(first) == len(ENTITIES) and all(p for _t, p in first)
    assert a.plan(INFO, 32.0) == []
    changed = a.plan(INFO, 20.0)
    assert [t for t, _p in changed] == [t for t in dict(first) if "/number/" in t]
    assert len(a.plan(INFO, 20.0, force=True)) == len(ENTITIES)
    moved = a.plan({**INFO, "serial": "OTHER1"}, 20.0)
    assert sum(1 for _t, p in moved if p == "") == len(ENTITIES)  # old device removed
    off = Announcer(HaSettings(False, "homeassistant"), T).plan(INFO, 32.0)
    assert dict(off) == removal_messages(INFO, T)
    assert all(p == "" for _t, p in off)


def test_double_socket_gets_its_own_ids() -> None:
    right = configs(info={**INFO, "socket_unit": 2})
    assert not set(right) & set(configs())


# ---- end to end: sim charger + bridge + controller + a real broker ------------------------
HA = "homeassistant/#"


class Stack:
    def __init__(self, broker: Broker, tmp: Path) -> None:
        self.tmp, self.broker = tmp, broker
        self.sim = SimProc("charger", "--plug-at", "0", "--car-max-a", "16", log_dir=tmp)
        self.sim.start()
        self.modbus, self.ctl = self.sim.modbus, self.sim.ctl
        wait_until(self._ok, 10)
        self.bridge: Optional[Proc] = None
        self.controller: Optional[Proc] = None
        self.config = self.write(True)

    def write(self, discovery: bool) -> Path:
        cfg = base_config(
            self.tmp, self.modbus, self.broker.port, home_assistant={"discovery": discovery}
        )
        cfg["controls"] = {"phase_switching": False}
        return write_config(self.tmp / "config.yaml", cfg)

    def _ok(self) -> bool:
        try:
            return bool(control(self.ctl, "status")["ok"])
        except OSError:
            return False

    def socket(self) -> Dict[str, Any]:
        return control(self.ctl, "status")["status"]["sockets"]["1"]

    def start_bridge(self) -> None:
        self.bridge = Proc("bridge", "--config", str(self.config), log_dir=self.tmp).start()

    def stop(self) -> None:
        for p in (self.controller, self.bridge, self.sim):
            if p is not None:
                p.stop()

    def logs(self) -> str:
        procs: List[Any] = [self.sim, self.bridge, self.controller]
        return "\n".join(f"--- {p.module}\n{p.log()[-3000:]}" for p in procs if p)


@pytest.fixture
def stack(broker: Broker, tmp_path: Path) -> Iterator[Stack]:
    s = Stack(broker, tmp_path)
    yield s
    s.stop()


def _discovery(probe: Probe) -> Dict[str, Dict[str, Any]]:
    with probe.lock:
        items = list(probe.latest.items())
    return {
        t: json.loads(p)
        for t, p in items
        if t.startswith("homeassistant/") and p and t.endswith("/config")
    }


@pytest.mark.e2e
def test_e2e_announce_reannounce_commands_and_removal(stack: Stack, broker: Broker) -> None:
    probe = Probe(broker.port, (HA, "alfen/#"))
    try:
        stack.start_bridge()
        stack.controller = Proc("control", "--config", str(stack.config), log_dir=stack.tmp).start()
        _run_story(stack, probe, broker)
    except AssertionError:
        print(stack.logs())
        raise
    finally:
        probe.close()


def _run_story(stack: Stack, probe: Probe, broker: Broker) -> None:
    found = wait_until(lambda: (d := _discovery(probe)) and len(d) == len(ENTITIES) and d, 15)
    number = next(c for t, c in found.items() if "/number/" in t)
    wait_until(lambda: probe.json(T.state) and probe.json(T.state).get("station_max_current_a"), 10)
    smax = probe.json(T.state)["station_max_current_a"]
    wait_until(
        lambda: (
            next(c for t, c in _discovery(probe).items() if "/number/" in t)["max"]
            == min(smax, 64.0)
        ),
        10,
    )
    assert number["min"] == 6.0

    # HA restarts: its birth message brings every config again
    mark = probe.mark()
    probe.publish("homeassistant/status", "online")
    wait_until(lambda: sum(1 for t in found if probe.since(mark, t)) == len(ENTITIES), 10)

    # publish what HA would publish for each entity, and watch the simulated charger
    select = next(c for t, c in found.items() if "/select/" in t)
    switch = next(c for t, c in found.items() if "/switch/" in t)
    wait_until(lambda: probe.json(T.control_state), 15)
    probe.publish(select["command_topic"], render(select["command_template"], value="manual"))
    probe.publish(number["command_topic"], render(number["command_template"], value=10))
    probe.publish(switch["command_topic"], switch["payload_on"])
    wait_until(lambda: abs((stack.socket()["setpoint_a"] or 0) - 10) < 0.01, 20)
    probe.publish(switch["command_topic"], switch["payload_off"])
    wait_until(lambda: (stack.socket()["setpoint_a"] or 0) < 6, 20)
    state = probe.wait_json(T.control_state, lambda v: v["enabled"] is False)
    assert ENV.from_string(switch["value_template"]).render(value_json=state) == "OFF"
    probe.publish(select["command_topic"], render(select["command_template"], value="auto"))
    probe.wait_json(T.control_state, lambda v: v["mode"] == 1)

    # discovery switched off: the bridge deletes its entities (empty retained payloads)
    assert stack.bridge is not None
    stack.bridge.stop()
    stack.config = stack.write(False)
    stack.start_bridge()
    wait_until(lambda: not _discovery(probe), 15)
    late = Probe(broker.port, (HA,))
    try:
        time.sleep(1.0)
        assert not _discovery(late), "retained discovery configs left on the broker"
    finally:
        late.close()
