"""The controller process around the core: MQTT in and out, set commands, keepalive, sessions.

Every test but the last two drives the runner on ``tests.fakes.RecordingLink`` and a
``ManualClock``: events go in through ``handle``, time passes by ``tick``, so a minute of the
controller runs in milliseconds. The last test runs ``python -m control`` on the real broker.
"""

from __future__ import annotations

import json
import signal
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import pytest

from common.clock import ManualClock
from common.config import validate_config
from common.mqtt_link import Connected, Message
from common.schemas import validate
from common.topics import Topics
from control.model import Decision, ForecastSlot, Memory, SiteView, Snapshot, Status
from control.persister import PV_SAVE_S
from control.runner import TICK_S, Runner
from control.settings import CoreSettings
from control.settings_cmd import defaults_from_config
from control.store import Store
from control.venus import VenusInput, VenusSettings
from tests.fakes import RecordingLink
from tests.helpers import Broker, Probe, Proc, base_config, wait_until, write_config

T = Topics("alfen", "0")
PORTAL = "abc123"
T0 = 1_780_000_000.0


class FakeCore:
    """Decides whatever the test says and records every snapshot."""

    def __init__(self) -> None:
        self.amps = 10.0
        self.phases: Optional[int] = None
        self.snaps: List[Snapshot] = []

    def __call__(self, snap: Snapshot, mem: Memory, _s: CoreSettings) -> Tuple[Decision, Memory]:
        self.snaps.append(snap)
        return Decision(self.amps, self.phases, Status.CHARGING, "fake"), mem


def state(
    now: float, energy_wh: float = 1000.0, connected: bool = True, power_w: float = 0.0
) -> bytes:
    line = {"voltage_v": 230.0, "current_a": power_w / 690.0, "power_w": power_w / 3}
    body: Dict[str, Any] = {
        "ts": now,
        "connected": True,
        "mode3": "C2" if power_w else ("B1" if connected else "A"),
        "vehicle_connected": connected,
        "charging": power_w > 0,
        "fault": False,
        "l1": line,
        "l2": line,
        "l3": line,
        "power_w": power_w,
        "energy_wh": energy_wh,
        "applied_max_current_a": 10.0,
        "setpoint_a": 10.0,
        "safe_current_a": 6.0,
        "validity_s": 50,
        "phases_configured": 3,
        "phases_measured": 3 if power_w else None,
        "station_max_current_a": 32.0,
        "temperature_c": 30.0,
        "command": {
            "amps": 10.0,
            "phases": 3,
            "accepted": True,
            "lease_s_left": 10,
            "refreshing": True,
            "reason": "",
        },
    }
    return json.dumps(body).encode()


class Harness:
    """A runner on a recording link and a manual clock, ticked as ``run`` would tick it."""

    def __init__(self, tmp: Path, clock: Optional[ManualClock] = None, **cfg: Any) -> None:
        self.cfg = validate_config(base_config(tmp, 1502, 1883, **cfg))
        self.cfg["victron"]["keepalive_s"] = 1.0  # below the schema minimum, to keep tests short
        self.cfg["controls"]["command_lease_seconds"] = 3.0
        self.clock = clock or ManualClock(wall=T0)
        self.link = RecordingLink(self.clock)
        self.core = FakeCore()
        self.runner = Runner(
            self.cfg,
            self.link,
            self.core,
            CoreSettings.from_config(self.cfg),
            Store(self.cfg["state_dir"], self.clock),
            VenusInput(VenusSettings.from_config(self.cfg)),
            defaults_from_config(self.cfg),
            clock=self.clock,
        )

    @property
    def now(self) -> float:
        return self.clock.wall()

    def start(self) -> Harness:
        self.runner.load()
        self.runner.handle(Connected(), self.now)
        return self

    def send(self, topic: str, payload: Any, retain: bool = False) -> None:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.runner.handle(Message(topic, raw, retain), self.now)

    def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass, one tick a second."""
        for _ in range(int(seconds / TICK_S)):
            self.clock.advance(TICK_S)
            self.runner.tick(self.now)
        self.clock.advance(seconds % TICK_S)

    def last(self, topic: str) -> Any:
        return self.link.json_on(topic)[-1]


def test_publishes_availability_state_and_setpoint(tmp_path: Path) -> None:
    h = Harness(tmp_path).start()
    h.advance(4)  # past the start-up grace: no charger state comes
    body = h.last(T.control_state)
    validate("control_state", body)
    assert body["reason"] == "fake" and h.link.on(T.control_availability) == ["online"]
    assert body["commanded_current_a"] == 10.0 and body["status"] == 2
    mark = h.link.mark()
    h.advance(3.5)  # lease 3 s: a refresh at least every second, as commands are not retained
    sent = h.link.json_on(T.cmd_current, mark)
    assert len(sent) >= 3 and all(p == {"amps": 10.0} for p in sent)
    assert not h.link.on(T.cmd_phases)


def test_the_loop_ticks_once_a_second_and_says_goodbye(tmp_path: Path) -> None:
    """``run`` on the fake link: its idle waits move the clock, so 10 s pass at once."""
    h = Harness(tmp_path)
    h.link.events.append(Connected())
    h.link.events.append(Message(T.state, state(T0), True))
    stop = threading.Event()
    h.link.stop_at(stop, h.clock.monotonic() + 10.0)
    h.runner.run(stop)
    assert h.link.started and h.link.final == (T.control_availability, "offline")
    # the first tick came before the charger state (the loop takes one event per turn): it
    # waited; then one tick a second until the stop at 10 s
    assert [s.now - T0 for s in h.core.snaps] == [float(i) for i in range(1, 11)]
    # a lease of 3 s is refreshed every 0.9 s: every tick sends
    assert h.link.json_on(T.cmd_current) == [{"amps": 10.0}] * 10


def test_online_is_announced_only_after_a_state_of_this_run(tmp_path: Path) -> None:
    # whoever reacts to "online" must read a control/state of this run, also after a reconnect
    h = Harness(tmp_path).start()
    h.send(T.state, state(h.now), retain=True)
    for _ in range(2):
        mark = h.link.mark()
        h.advance(2)
        seen = h.link.published[mark:]
        online = seen.index((T.control_availability, "online", True))
        states = [json.loads(p) for t, p, _r in seen[:online] if t == T.control_state]
        assert states and states[-1]["reason"] == "fake", seen[: online + 1]
        h.runner.handle(Connected(), h.now)


def test_change_is_sent_at_once_and_phases_only_on_change(tmp_path: Path) -> None:
    h = Harness(tmp_path).start()
    h.advance(4)
    mark = h.link.mark()
    h.core.amps, h.core.phases = 7.5, 1
    h.advance(1)
    assert h.link.json_on(T.cmd_current, mark) == [{"amps": 7.5}]
    h.advance(2.5)
    assert h.link.json_on(T.cmd_phases, mark) == [{"phases": 1}]
    h.core.amps = 99.0  # clamped to the user's max current
    h.advance(1)
    assert h.last(T.cmd_current) == {"amps": 32.0}


def test_min_current_follows_the_configured_auto_minimum(tmp_path: Path) -> None:
    """control/state.min_current_a is what the GX shows as /MinCurrent: the configured
    auto.min_current_a, not a constant 6 A."""
    h = Harness(tmp_path, auto={"min_current_a": 8}).start()
    h.advance(4)
    assert h.last(T.control_state)["min_current_a"] == 8.0
    cfg = validate_config(base_config(tmp_path, 1502, 1883, auto={"min_current_a": 10}))
    h.runner.apply_config(cfg)  # the UI saved the config: live
    h.advance(1)
    assert h.last(T.control_state)["min_current_a"] == 10.0


def test_snapshot_from_bridge_state_and_venus(tmp_path: Path) -> None:
    h = Harness(tmp_path).start()
    h.send(T.availability, b"online", retain=True)
    h.send(T.state, state(h.now, energy_wh=1234.0, power_w=6900.0), retain=True)
    h.send(f"N/{PORTAL}/system/0/Serial", {"value": PORTAL}, retain=True)
    assert f"N/{PORTAL}/system/0/Ac/Grid/L1/Power" in h.link.subscribed
    assert h.link.on(f"R/{PORTAL}/keepalive") == [""]  # the first one asks for everything
    h.send(f"N/{PORTAL}/system/0/Ac/Grid/L1/Power", {"value": -2500})
    h.send(f"N/{PORTAL}/system/0/Dc/Pv/Power", {"value": 4000})
    h.advance(1)
    snap = h.core.snaps[-1]
    assert snap.site.fresh and snap.charger.online
    assert snap.charger.energy_wh == 1234.0 and snap.charger.charging
    assert snap.charger.phase_voltage_v == (230.0, 230.0, 230.0)
    assert snap.site.grid_power_w[0] == -2500.0 and snap.site.pv_power_w == 4000.0
    assert not [t for t, _p, _r in h.link.published if t.startswith("N/")]
    # the keepalive goes on with suppress-republish (victron.keepalive_s = 1 here)
    h.advance(1)
    assert json.loads(h.link.on(f"R/{PORTAL}/keepalive")[1]) == {
        "keepalive-options": ["suppress-republish"]
    }


def test_set_commands_apply_persist_and_reject(tmp_path: Path) -> None:
    h = Harness(tmp_path).start()
    h.advance(4)
    h.send(T.control_set("mode"), {"mode": "auto"})
    assert h.last(T.control_state)["mode"] == 1
    assert h.last(T.control_state)["mode_name"] == "auto"
    h.advance(1)
    h.send(T.control_set("current"), {"amps": 13})
    assert h.last(T.control_state)["set_current_a"] == 13
    h.advance(1)
    h.send(T.control_set("deadline"), {"energy_kwh": 20, "by": "07:30"})
    assert h.last(T.control_state)["deadline"] == {"energy_kwh": 20, "by": "07:30"}
    h.advance(1)  # the tick writes the settings
    saved = json.loads((Path(h.cfg["state_dir"]) / "settings.json").read_text())
    assert saved["mode"] == 1 and saved["set_current_a"] == 13
    before = h.last(T.control_state)
    bad = [
        (T.control_set("mode"), b'{"mode": 7}'),
        (T.control_set("current"), b'{"amps": "ten"}'),
        (T.control_set("current"), b'{"amps": 40}'),  # above the max current
        (T.control_set("max_current"), b'{"amps": 70}'),  # above controls.max_set_current
        (T.control_set("startstop"), b"not json"),
        (T.control_set("bogus"), b"{}"),
    ]
    for topic, raw in bad:
        mark = h.link.mark()
        h.send(topic, raw)
        err = h.link.json_on(T.error, mark)[0]
        validate("error", err)
        assert err["topic"] == topic and err["payload"] == raw.decode()
        assert err["source"] == "control" and err["error"]
    h.advance(1.2)
    after = h.last(T.control_state)
    keys = ("mode", "set_current_a", "max_current_a", "enabled")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    h.send(T.control_set("max_current"), {"amps": 10})  # pulls the set current down
    last = h.last(T.control_state)
    assert last["max_current_a"] == 10 and last["set_current_a"] == 10


def test_session_survives_a_restart(tmp_path: Path) -> None:
    clock = ManualClock(wall=T0)
    h = Harness(tmp_path, clock).start()
    h.send(T.availability, b"online", retain=True)
    h.send(T.state, state(h.now, energy_wh=5000.0, connected=True), retain=True)
    h.advance(1)
    assert h.last(T.control_state)["session"]["active"]
    h.send(T.state, state(h.now, energy_wh=5600.0, power_w=7000.0), retain=True)
    h.advance(1)
    assert h.last(T.control_state)["session"]["energy_kwh"] == 0.6
    h.runner.shutdown()
    clock.advance(20)
    h2 = Harness(tmp_path, clock).start()
    h2.send(T.availability, b"online", retain=True)
    h2.send(T.state, state(h2.now, energy_wh=6000.0, power_w=7000.0), retain=True)
    h2.advance(1)
    assert h2.last(T.control_state)["session"]["energy_kwh"] == 1.0
    h2.send(T.state, state(h2.now, energy_wh=6000.0, connected=False), retain=True)
    h2.advance(1)
    assert not h2.last(T.control_state)["session"]["active"]
    h2.runner.shutdown()
    rows = Store(str(tmp_path / "state"))
    rows.open()
    assert [r["energy_kwh"] for r in rows.history()] == [1.0]
    rows.close()


def test_core_exception_stops_commanding(tmp_path: Path) -> None:
    h = Harness(tmp_path).start()
    h.advance(4)

    def broken(*_a: Any) -> Any:
        raise RuntimeError("bug")

    h.runner.decide = broken
    mark = h.link.mark()
    h.advance(3)
    assert not h.link.on(T.cmd_current, mark)  # the bridge's lease will lapse: safe current
    h.runner.decide = h.core
    h.advance(1)
    assert h.link.on(T.cmd_current, mark), "commands again once the core decides again"


def test_auto_gets_the_pv_forecast_once_per_quarter_hour(tmp_path: Path) -> None:
    runner = Harness(tmp_path).runner  # not started: snapshots only
    forecaster = runner.learners.forecaster
    now = T0 - T0 % 900
    forecaster.record(now - 86400, 3000.0)  # yesterday in this quarter hour
    runner.core_settings = CoreSettings(battery_check=False, battery_capacity_kwh=10.0)
    assert runner.snapshot(now).pv_forecast == ()  # neither SCHEDULED nor AUTO asks for it
    runner.core_settings = CoreSettings()  # the check is on, but the capacity is not known
    assert runner.snapshot(now).pv_forecast == ()
    runner.core_settings = CoreSettings(battery_capacity_kwh=10.0)
    first = runner.snapshot(now).pv_forecast

    def today(slots: Tuple[ForecastSlot, ...]) -> List[Tuple[float, float]]:
        return [(f.start, f.surplus_w) for f in slots if f.start < now + 3600]

    assert today(first) == [(now, 3000.0)]
    forecaster.record(now - 86400 + 1800, 5000.0)
    assert runner.snapshot(now + 899).pv_forecast is first  # worked out once per quarter hour
    later = runner.snapshot(now + 900).pv_forecast
    assert today(later) == [(now + 1800, 5000.0)]


def test_the_battery_capacity_is_learned_saved_and_restored(tmp_path: Path) -> None:
    runner = Harness(tmp_path).runner  # not started: the learning step only
    runner.load()
    capacity = runner.learners.capacity
    runner.core_settings = CoreSettings()  # battery_check on, no capacity configured
    now = T0 - T0 % 900
    runner.learners.forecaster.record(now - 86400, 3000.0)
    base = runner.snapshot(now)
    assert base.battery_capacity_kwh is None and base.pv_forecast == ()
    # 2 kW into a 10 kWh battery for 1 h 15 min: the SOC climbs 25 points, shown in 1 % steps
    soc = 40.0
    for i in range(4500):
        soc += 2000.0 / 3600.0 / 10000.0 * 100.0
        site = SiteView(battery_soc=float(int(soc)), battery_power_w=2000.0, fresh=True)
        runner._learn_pv(replace(base, now=now + i, site=site), now + i)
    assert capacity.kwh == pytest.approx(10.0, rel=0.02)
    idle = SiteView(battery_soc=float(int(soc)), battery_power_w=0.0, fresh=True)
    for i in range(4500, 4500 + int(PV_SAVE_S) + 1, 10):  # saved with the PV history
        runner._learn_pv(replace(base, now=now + i, site=idle), now + i)
    saved = json.loads((Path(runner.store.dir) / "battery.json").read_text())
    assert saved["estimates_kwh"] == [pytest.approx(capacity.kwh)]
    later = runner.snapshot(now + 5500)
    assert later.battery_capacity_kwh == capacity.kwh
    assert later.pv_forecast  # the check now has what it needs and asks for the forecast

    again = Harness(tmp_path).runner  # a restart finds it in the state directory
    again.load()
    assert again.learners.capacity.kwh == capacity.kwh


def test_site_power_prices_and_the_solar_cost_are_published(tmp_path: Path) -> None:
    """control/site carries what the page's power view shows; control/prices the static rate;
    a sunny session costs the feed-in price, not the import price (issue 18)."""
    h = Harness(tmp_path, pricing={"feed_in_eur_per_kwh": 0.07}).start()
    h.send(T.availability, b"online", retain=True)
    h.send(T.state, state(h.now, energy_wh=5000.0, connected=True), retain=True)
    h.send(f"N/{PORTAL}/system/0/Serial", {"value": PORTAL}, retain=True)
    system = {
        "Ac/Grid/L1/Power": -400,
        "Ac/Grid/L2/Power": 0,
        "Ac/Grid/L3/Power": 0,
        "Dc/Pv/Power": 8000,
        "Ac/Consumption/L1/Power": 3000,
        "Ac/Consumption/L2/Power": 2300,
        "Ac/Consumption/L3/Power": 2300,
        "Dc/Battery/Power": 1000,
        "Dc/Battery/Soc": 64.5,
    }
    for path, value in system.items():
        h.send(f"N/{PORTAL}/system/0/{path}", {"value": value})
    h.advance(1)
    h.send(T.state, state(h.now, energy_wh=5000.0, power_w=6900.0), retain=True)
    h.advance(1)
    site = h.last(T.control_site)
    validate("control_site", site)
    assert site["fresh"] and site["ev_w"] == 6900.0
    assert (site["pv_w"], site["grid_w"], site["battery_w"]) == (8000.0, -400.0, 1000.0)
    assert site["house_w"] == 700.0 and site["battery_soc"] == 64.5  # 7600 W minus the car
    prices = h.last(T.control_prices)
    validate("control_prices", prices)
    assert prices["source"] == "static" and prices["static_rate"] == 0.25
    h.send(T.state, state(h.now, energy_wh=7000.0, power_w=6900.0), retain=True)
    h.advance(1)
    body = h.last(T.control_state)
    assert body["session"]["energy_kwh"] == 2.0
    assert body["session"]["solar_cost"] == pytest.approx(0.14)
    assert body["session"]["grid_cost"] == 0.0 and body["session"]["cost"] == 0.14


def test_main_rejects_bad_config_with_exit_2(tmp_path: Path) -> None:
    cfg = base_config(tmp_path, 1502, 1883, victron={"stale_after_s": "soon"}, auto={"bogus": 1})
    path = write_config(tmp_path / "bad.yaml", cfg)
    proc = Proc("control", "--config", str(path), log_dir=tmp_path).start()
    assert proc.proc is not None and proc.proc.wait(20) == 2
    lines = proc.log().strip().splitlines()
    assert any(line.startswith("victron.stale_after_s: 'soon'") for line in lines)
    assert any(line.startswith("auto.bogus: unknown key") for line in lines)


def test_main_runs_with_the_real_core_and_exits_on_sigterm(
    broker: Broker, tmp_path: Path, probe: Probe
) -> None:
    """End to end on the real broker: the process decides with the real core, commands the
    bridge (0 A: no charger answers), publishes its state and says goodbye on SIGTERM."""
    cfg = base_config(tmp_path, 1502, broker.port)
    path = write_config(tmp_path / "c.yaml", cfg)
    probe.publish(T.control_state, b"", retain=True)
    probe.publish(T.control_availability, b"", retain=True)
    mark = probe.mark()
    proc = Proc("control", "--config", str(path), log_dir=tmp_path).start()
    try:
        wait_until(lambda: probe.text(T.control_state), 15)
        body = probe.json(T.control_state)
        validate("control_state", body)
        assert probe.text(T.control_availability) == "online"
        sent = wait_until(lambda: probe.since(mark, T.cmd_current), 5)
        assert json.loads(sent[0]) == {"amps": 0.0}
    finally:
        rc = proc.stop(signal.SIGTERM)
    assert rc == 0, proc.log()
    wait_until(lambda: probe.text(T.control_availability) == "offline", 5)
    assert "Traceback" not in proc.log()
