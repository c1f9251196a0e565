"""Hostile retained messages against the real processes on a real mosquitto.

Before any process starts, the broker holds what killed or misled them: a 5,000-digit integer
on the charger's state and on the config notice, a 100,000-deep list on a Venus topic, a
600-deep JSON on the error topic, and retained commands (16 A on ``cmd/current``, SCHEDULED on
``control/set/mode``). The UI, the shim, the controller (started twice) and then the bridge must
all stay up, ignore the retained commands and clear the ones they consume; a flood of 2,000
commands costs the charger at most one write per poll and the newest value wins.
"""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from tests.dbus_support import DbusDaemon, dbus_missing
from tests.helpers import Broker, Probe, Proc, Stack, wait_until

pytestmark = [pytest.mark.e2e]
PORTAL = "hostile01"
HUGE = b"9" * 5000
POLL_S = 0.25
_instances = iter(range(300, 400))


class Site:
    """A simulated charger and every process of ours on one config (a ``sim.stack.Stack`` on
    the session's broker), started one by one in the order a test needs."""

    def __init__(self, tmp: Path, broker: Broker, instance: int) -> None:
        self.broker = broker
        self.base = f"alfen/{instance}"
        self.bus: Optional[DbusDaemon] = None if dbus_missing() else DbusDaemon().start()
        extra: Dict[str, Any] = {"dbus": {"address": self.bus.address}} if self.bus else {}
        self.stack = Stack(
            tmp,
            ("ui", "dbus_shim", "control", "bridge"),
            broker=broker,
            sim="charger",
            sim_args=("--station-max", "20"),
            portal=PORTAL,
            device_instance=instance,
            home_assistant={"discovery": False},
            **extra,
        )
        self.procs: Dict[str, Proc] = {}  # the ones started, by the test's name for them

    def ours(self, name: str, module: str) -> Proc:
        proc = self.stack.ours[module].start()
        self.procs[name] = proc
        return proc

    def sim(self) -> Proc:
        self.procs["sim"] = self.stack.start_sim()
        return self.procs["sim"]

    def setpoints(self) -> List[float]:
        return [w[2] for w in self.stack.socket()["writes"] if w[1] == "setpoint"]

    def writes_since(self, t0: float) -> List[List[Any]]:
        writes = self.stack.socket()["writes"]
        return [w for w in writes if w[1] == "setpoint" and w[0] >= t0]

    def status(self) -> Dict[str, Any]:
        with urllib.request.urlopen(self.stack.ui_url + "/api/status", timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    def stop(self) -> None:
        self.stack.stop()
        if self.bus is not None:
            self.bus.stop()


@pytest.fixture
def site(tmp_path: Path, broker: Broker) -> Iterator[Site]:
    s = Site(tmp_path, broker, next(_instances))  # own topics per test
    yield s
    s.stop()


def retained_now(broker: Broker, topic: str) -> Optional[bytes]:
    """What a client subscribing now gets as retained on ``topic`` (None: nothing)."""
    probe = Probe(broker.port, (topic,))
    try:
        time.sleep(0.5)
        with probe.lock:
            got = [p for t, p, r in probe.messages if t == topic and r]
        return got[-1] if got else None
    finally:
        probe.close()


def latest(probe: Probe, topic: str) -> Any:
    """The newest payload on ``topic`` as JSON, None while it is the poison or absent."""
    try:
        return probe.json(topic)
    except ValueError:
        return None


def poison(probe: Probe, base: str) -> None:
    deep_list = b"[" * 100_000 + b"]" * 100_000
    deep_obj = b'{"e":' * 600 + b"1" + b"}" * 600
    probe.publish(f"{base}/state", b'{"connected": ' + HUGE + b"}", retain=True)
    probe.publish(f"{base}/info", deep_obj, retain=True)
    probe.publish(f"{base}/config/changed", HUGE, retain=True)
    probe.publish(f"{base}/error", deep_obj, retain=True)
    probe.publish(f"N/{PORTAL}/system/0/Dc/Battery/Soc", deep_list, retain=True)
    probe.publish(f"N/{PORTAL}/system/0/Serial", b'{"value": ' + HUGE + b"}", retain=True)
    probe.publish(f"{base}/control/set/mode", {"mode": 2}, retain=True)
    probe.publish(f"{base}/cmd/current", {"amps": 16}, retain=True)


def test_poisoned_retained_topics_kill_nothing_and_commands_must_be_fresh(
    site: Site, probe: Probe
) -> None:
    poison(probe, site.base)
    ui = site.ours("ui", "ui")
    shim = site.ours("shim", "dbus_shim") if site.bus else None
    controller = site.ours("control", "control")
    probe.wait_json(f"{site.base}/control/state", lambda s: s["mode"] == 0, 15)
    time.sleep(2)
    for proc in (ui, shim, controller):
        assert proc is None or proc.alive(), proc.log()[-3000:] if proc else ""
    # the one that consumes control/set/* cleared the retained mode command
    assert retained_now(site.broker, f"{site.base}/control/set/mode") is None
    assert "ignoring a retained command" in controller.log()

    # a restart sees the same retained poison: it must come up again
    assert controller.stop() == 0, controller.log()[-3000:]
    mark = probe.mark()
    controller = site.ours("control", "control")
    wait_until(lambda: probe.since(mark, f"{site.base}/control/state"), 15)
    time.sleep(1.5)
    assert controller.alive(), controller.log()[-3000:]
    assert probe.json(f"{site.base}/control/state")["mode"] == 0  # MANUAL, as before

    # the bridge starts with {"amps": 16} retained on cmd/current: never written, and cleared
    site.sim()
    bridge = site.ours("bridge", "bridge")
    wait_until(lambda: (latest(probe, f"{site.base}/state") or {}).get("connected") is True, 15)
    time.sleep(1.5)
    assert bridge.alive(), bridge.log()[-3000:]
    assert 16.0 not in site.setpoints(), site.setpoints()
    assert retained_now(site.broker, f"{site.base}/cmd/current") is None
    assert "ignoring a retained command" in bridge.log()

    # the UI's feeder outlived the 600-deep error: it shows the live state, not a frozen one
    wait_until(lambda: (site.status()["state"] or {}).get("connected") is True, 10)
    mark_ts = site.status()["state"]["ts"]
    wait_until(lambda: site.status()["state"]["ts"] != mark_ts, 40)  # bridge heartbeat
    for proc in site.procs.values():
        assert proc.alive(), proc.log()[-3000:]


def test_a_command_flood_is_one_write_per_poll_and_the_newest_wins(
    site: Site, probe: Probe
) -> None:
    site.sim()
    bridge = site.ours("bridge", "bridge")
    probe.wait_json(f"{site.base}/state", lambda s: s.get("connected") is True, 15)
    sender = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"flood-{site.base}")
    sender.connect("127.0.0.1", site.broker.port)
    sender.loop_start()
    try:
        started = time.time()
        for i in range(2000):
            body = json.dumps({"amps": 6 if i % 2 else 16})
            sender.publish(f"{site.base}/cmd/current", body, qos=0)
        sender.publish(
            f"{site.base}/cmd/current", json.dumps({"amps": 10}), qos=1
        ).wait_for_publish(10)
        sent_s = time.time() - started
        wait_until(lambda: site.setpoints()[-1:] == [10.0], 10)
        landed_s = time.time() - started
    finally:
        sender.loop_stop()
        sender.disconnect()
    writes = site.writes_since(started - 0.5)
    # one write per poll at most (+1 for the write that may open the burst)
    assert len(writes) <= landed_s / POLL_S + 2, (len(writes), landed_s, writes[:10])
    assert landed_s - sent_s < 3.0, "the newest command waited behind the flood"
    assert bridge.alive()
