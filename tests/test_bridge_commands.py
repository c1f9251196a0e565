"""The bridge's command path on a manual clock, against the simulator's register model.

A burst of commands is one setpoint write per poll and the newest value wins (before: every
queued command was written in order, 5,000 of them for 8.6 minutes); a retained command is
never written. No broker, no sockets, no sleeping: the clock is ``common.clock.ManualClock``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Tuple

import pytest

from bridge.service import Bridge
from common.clock import ManualClock
from common.config import topics_for, validate_config
from common.mqtt_link import Connected, Message
from sim.charger_model import ChargerModel, ChargerParams
from tests.fakes import ModelLink, RecordingLink
from tests.helpers import base_config

POLL_S = 0.25


def make_bridge(tmp: Path) -> Tuple[Bridge, ModelLink, RecordingLink, ManualClock, Any]:
    cfg: Dict[str, Any] = validate_config(
        base_config(tmp, 1502, 1883, controls={"verification_delay": 0})
    )
    clock = ManualClock()
    model = ChargerModel(ChargerParams(station_max_a=32.0), now=0.0, clock=clock.monotonic)
    link = ModelLink(model, cfg["modbus"]["ip"], cfg["modbus"]["port"])
    mqtt = RecordingLink()
    topics = topics_for(cfg)
    bridge = Bridge(cfg, link, mqtt, topics, clock=clock)  # type: ignore[arg-type]
    bridge.handle_event(Connected())
    bridge.poll_once()
    assert bridge.online
    return bridge, link, mqtt, clock, topics


def command(bridge: Bridge, topic: str, amps: float, retain: bool = False) -> None:
    bridge.handle_event(Message(topic, json.dumps({"amps": amps}).encode(), retain))


def test_a_burst_is_one_write_per_poll_and_the_newest_wins(tmp_path: Path) -> None:
    bridge, link, _mqtt, clock, t = make_bridge(tmp_path)
    command(bridge, t.cmd_current, 10)
    assert link.setpoints() == [10.0]  # a lone command is written at once
    clock.advance(0.01)
    for i in range(5000):
        command(bridge, t.cmd_current, 6 if i % 2 else 16)
    command(bridge, t.cmd_current, 12)
    assert link.setpoints() == [10.0], "nothing more within the poll"
    clock.advance(POLL_S)
    bridge.poll_once()
    assert link.setpoints() == [10.0, 12.0], "the next poll writes the newest, once"
    for _ in range(8):
        clock.advance(POLL_S)
        bridge.poll_once()
    assert link.setpoints() == [10.0, 12.0]


def test_a_retained_command_is_never_written_and_is_cleared(tmp_path: Path) -> None:
    bridge, link, mqtt, clock, t = make_bridge(tmp_path)
    command(bridge, t.cmd_current, 16, retain=True)
    for _ in range(4):
        clock.advance(POLL_S)
        bridge.poll_once()
    assert 16.0 not in link.setpoints()
    assert (t.cmd_current, "", True) in mqtt.published


@pytest.mark.parametrize("amps", [-1, 80.5, 1e30])
def test_out_of_range_is_refused_on_the_error_topic(tmp_path: Path, amps: float) -> None:
    bridge, link, mqtt, _clock, t = make_bridge(tmp_path)
    command(bridge, t.cmd_current, amps)
    assert link.setpoints() == []
    error = json.loads(mqtt.on(t.error)[-1])
    assert error["source"] == "bridge" and "amps" in error["error"]
