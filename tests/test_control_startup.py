"""A restarted controller waits a moment for the charger's retained state before it decides.

Seen in the end-to-end test: the first tick after a restart came 5 ms after the broker
connection, before the retained state, and commanded 0 A ("charger not reachable"), a pause of
a charging car, and published the session's energy as last saved (0.0 kWh)."""

from __future__ import annotations

import json
from pathlib import Path

from common.mqtt_link import Connected, Message
from common.topics import Topics
from control.runner import STARTUP_GRACE_S
from tests.test_inbound import charger_state, make_runner

T = Topics("alfen", "0")
T0 = 1_780_000_000.0  # make_runner's clock: the moment the runner was made


def test_no_decision_before_the_charger_state_within_the_grace(tmp_path: Path) -> None:
    runner, link = make_runner(tmp_path)
    runner.handle(Connected(), T0)
    runner.tick(T0 + 0.005)
    assert link.on(T.cmd_current) == [] and link.on(T.control_state) == []
    runner.handle(Message(T.state, charger_state(T0 + 0.1), True), T0 + 0.1)
    runner.tick(T0 + 1)
    assert link.on(T.control_state), "decides as soon as the state is there"
    assert json.loads(link.on(T.control_state)[-1])["inputs_ok"] is False  # no Venus data yet


def test_without_a_charger_state_it_fails_safe_after_the_grace(tmp_path: Path) -> None:
    runner, link = make_runner(tmp_path)
    runner.handle(Connected(), T0)
    for i in range(int(STARTUP_GRACE_S) + 2):
        runner.tick(T0 + i)
    assert [json.loads(p)["amps"] for p in link.on(T.cmd_current)] == [0.0]
    state = json.loads(link.on(T.control_state)[-1])
    assert "not reachable" in state["reason"]
