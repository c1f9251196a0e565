"""The controller process around the core: MQTT in and out, set commands, keepalive, sessions."""

from __future__ import annotations

import json
import signal
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from common.config import validate_config
from common.mqtt_link import MqttLink, MqttSettings
from common.schemas import validate
from common.topics import Topics
from control.model import Decision, ForecastSlot, Memory, SiteView, Snapshot, Status
from control.runner import PV_SAVE_S, Runner, subscriptions
from control.settings import CoreSettings
from control.settings_cmd import defaults_from_config
from control.store import Store
from control.venus import VenusInput, VenusSettings
from tests.helpers import Broker, Probe, Proc, base_config, wait_until, write_config

T = Topics("alfen", "0")
PORTAL = "abc123"


class FakeCore:
    """Decides whatever the test says and records every snapshot."""

    def __init__(self) -> None:
        self.amps = 10.0
        self.phases: Optional[int] = None
        self.snaps: List[Snapshot] = []

    def __call__(self, snap: Snapshot, mem: Memory, _s: Any) -> Tuple[Decision, Memory]:
        self.snaps.append(snap)
        return Decision(self.amps, self.phases, Status.CHARGING, "fake"), mem


def state(
    energy_wh: float = 1000.0, connected: bool = True, power_w: float = 0.0
) -> Dict[str, Any]:
    line = {"voltage_v": 230.0, "current_a": power_w / 690.0, "power_w": power_w / 3}
    return {
        "ts": time.time(),
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


class Harness:
    def __init__(self, broker: Broker, tmp: Path, **cfg_overrides: Any) -> None:
        raw = base_config(tmp, 1502, broker.port, **cfg_overrides)
        self.cfg = validate_config(raw)
        self.cfg["victron"]["keepalive_s"] = 1.0  # below the schema minimum, to keep tests short
        self.cfg["controls"]["command_lease_seconds"] = cfg_overrides.get("lease", 3.0)
        self.core = FakeCore()
        self.stop = threading.Event()
        self.venus = VenusInput(VenusSettings.from_config(self.cfg))
        self.link = MqttLink(
            MqttSettings.from_config(self.cfg),
            f"test-control-{id(self)}",
            subscriptions(T, self.venus),
            will=(T.control_availability, "offline"),
        )
        self.runner = Runner(
            self.cfg,
            self.link,
            self.core,
            None,
            Store(self.cfg["state_dir"]),
            self.venus,
            defaults_from_config(self.cfg),
        )
        self.thread = threading.Thread(target=self.runner.run, args=(self.stop,), daemon=True)

    def start(self) -> Harness:
        self.started_at = time.time()
        self.thread.start()
        return self

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)


@pytest.fixture
def harness(broker: Broker, tmp_path: Path) -> Iterator[Harness]:
    h = Harness(broker, tmp_path).start()
    yield h
    h.close()


def payloads(probe: Probe, mark: int, topic: str) -> List[Any]:
    return [json.loads(p) for p in probe.since(mark, topic)]


def test_publishes_availability_state_and_setpoint(harness: Harness, probe: Probe) -> None:
    assert probe.wait_json(T.control_state, lambda v: v["reason"] == "fake")
    assert probe.text(T.control_availability) == "online"
    body = probe.json(T.control_state)
    validate("control_state", body)
    assert body["commanded_current_a"] == 10.0 and body["status"] == 2
    mark = probe.mark()
    time.sleep(3.5)  # lease 3 s: a refresh at least every second, as commands are not retained
    sent = payloads(probe, mark, T.cmd_current)
    assert len(sent) >= 3 and all(p == {"amps": 10.0} for p in sent)
    assert not probe.since(mark, T.cmd_phases)


def test_online_is_announced_only_after_a_state_of_this_run(
    broker: Broker, tmp_path: Path, probe: Probe
) -> None:
    # what a previous run left retained must not be what a client reads on "online"
    probe.publish(T.control_state, {"reason": "a previous run"}, retain=True)
    probe.publish(T.control_availability, "offline", retain=True)
    mark = probe.mark()
    h = Harness(broker, tmp_path).start()
    try:
        wait_until(lambda: probe.text(T.control_availability) == "online", 10)
        with probe.lock:
            seen = [(t, p) for t, p, _r in probe.messages[mark:]]
        online = seen.index((T.control_availability, b"online"))
        states = [json.loads(p) for t, p in seen[:online] if t == T.control_state]
        assert states and states[-1]["reason"] == "fake", seen[: online + 1]
    finally:
        h.close()


def test_change_is_sent_at_once_and_phases_only_on_change(harness: Harness, probe: Probe) -> None:
    probe.wait_json(T.control_state, lambda v: v["ts"] >= harness.started_at)  # this run's
    mark = probe.mark()
    harness.core.amps, harness.core.phases = 7.5, 1
    wait_until(lambda: {"amps": 7.5} in payloads(probe, mark, T.cmd_current), 3)
    time.sleep(2.5)
    assert payloads(probe, mark, T.cmd_phases) == [{"phases": 1}]
    harness.core.amps = 99.0  # clamped to the user's max current
    wait_until(lambda: {"amps": 32.0} in payloads(probe, mark, T.cmd_current), 3)


def test_snapshot_from_bridge_state_and_venus(harness: Harness, probe: Probe) -> None:
    probe.publish(T.availability, "online", retain=True)
    probe.publish(T.state, state(energy_wh=1234.0, power_w=6900.0), retain=True)
    probe.publish(f"N/{PORTAL}/system/0/Serial", {"value": PORTAL}, retain=True)
    wait_until(lambda: probe.since(0, f"R/{PORTAL}/keepalive"), 5)
    assert probe.since(0, f"R/{PORTAL}/keepalive")[0] == b""  # the first one asks for everything
    probe.publish(f"N/{PORTAL}/system/0/Ac/Grid/L1/Power", {"value": -2500})
    probe.publish(f"N/{PORTAL}/system/0/Dc/Pv/Power", {"value": 4000})

    def latest() -> Optional[Snapshot]:
        s = harness.core.snaps[-1] if harness.core.snaps else None
        return s if s is not None and s.site.fresh and s.charger.online else None

    snap = wait_until(latest, 5)
    assert snap.charger.energy_wh == 1234.0 and snap.charger.charging
    assert snap.charger.phase_voltage_v == (230.0, 230.0, 230.0)
    assert snap.site.grid_power_w[0] == -2500.0 and snap.site.pv_power_w == 4000.0
    assert not [
        t
        for t, _p, _r in probe.messages
        if t.startswith("N/")
        and "Serial" not in t
        and t not in (f"N/{PORTAL}/system/0/Ac/Grid/L1/Power", f"N/{PORTAL}/system/0/Dc/Pv/Power")
    ]
    # the keepalive goes on with suppress-republish (victron.keepalive_s = 1 here)
    wait_until(lambda: len(probe.since(0, f"R/{PORTAL}/keepalive")) >= 2, 4)
    assert json.loads(probe.since(0, f"R/{PORTAL}/keepalive")[1]) == {
        "keepalive-options": ["suppress-republish"]
    }
    probe.publish(T.state, b"", retain=True)
    probe.publish(f"N/{PORTAL}/system/0/Serial", b"", retain=True)


def test_set_commands_apply_persist_and_reject(harness: Harness, probe: Probe) -> None:
    probe.wait_json(T.control_state, lambda v: v["ts"] >= harness.started_at)  # this run's
    probe.publish(T.control_set("mode"), {"mode": "auto"})
    probe.wait_json(T.control_state, lambda v: v["mode"] == 1 and v["mode_name"] == "auto")
    probe.publish(T.control_set("current"), {"amps": 13})
    probe.wait_json(T.control_state, lambda v: v["set_current_a"] == 13)
    probe.publish(T.control_set("deadline"), {"energy_kwh": 20, "by": "07:30"})
    probe.wait_json(T.control_state, lambda v: v["deadline"] == {"energy_kwh": 20, "by": "07:30"})
    saved = json.loads((Path(harness.cfg["state_dir"]) / "settings.json").read_text())
    assert saved["mode"] == 1 and saved["set_current_a"] == 13
    before = probe.json(T.control_state)
    bad = [
        (T.control_set("mode"), b'{"mode": 7}'),
        (T.control_set("current"), b'{"amps": "ten"}'),
        (T.control_set("current"), b'{"amps": 40}'),  # above the max current
        (T.control_set("max_current"), b'{"amps": 70}'),  # above controls.max_set_current
        (T.control_set("startstop"), b"not json"),
        (T.control_set("bogus"), b"{}"),
    ]
    for topic, raw in bad:
        mark = probe.mark()
        probe.publish(topic, raw)
        err = wait_until(lambda m=mark: payloads(probe, m, T.error), 3)[0]
        validate("error", err)
        assert err["topic"] == topic and err["payload"] == raw.decode()
        assert err["source"] == "control" and err["error"]
    time.sleep(1.2)
    after = probe.json(T.control_state)
    keys = ("mode", "set_current_a", "max_current_a", "enabled")
    assert {k: after[k] for k in keys} == {k: before[k] for k in keys}
    probe.publish(T.control_set("max_current"), {"amps": 10})  # pulls the set current down
    probe.wait_json(
        T.control_state, lambda v: v["max_current_a"] == 10 and v["set_current_a"] == 10
    )


def test_session_survives_a_restart(broker: Broker, tmp_path: Path, probe: Probe) -> None:
    probe.publish(T.availability, "online", retain=True)
    probe.publish(T.state, state(energy_wh=5000.0, connected=True), retain=True)
    h = Harness(broker, tmp_path).start()
    try:
        probe.wait_json(T.control_state, lambda v: v["session"]["active"])
        probe.publish(T.state, state(energy_wh=5600.0, power_w=7000.0), retain=True)
        probe.wait_json(T.control_state, lambda v: v["session"]["energy_kwh"] == 0.6)
    finally:
        h.close()
    probe.publish(T.state, state(energy_wh=6000.0, power_w=7000.0), retain=True)
    h2 = Harness(broker, tmp_path).start()
    try:
        probe.wait_json(T.control_state, lambda v: v["session"]["energy_kwh"] == 1.0)
        probe.publish(T.state, state(energy_wh=6000.0, connected=False), retain=True)
        probe.wait_json(T.control_state, lambda v: not v["session"]["active"])
    finally:
        h2.close()
    rows = Store(str(tmp_path / "state"))
    rows.open()
    assert [r["energy_kwh"] for r in rows.history()] == [1.0]
    rows.close()
    probe.publish(T.state, b"", retain=True)


def test_core_exception_stops_commanding(harness: Harness, probe: Probe) -> None:
    probe.wait_json(T.control_state, lambda v: v["ts"] >= harness.started_at)  # this run's

    def broken(*_a: Any) -> Any:
        raise RuntimeError("bug")

    harness.runner.decide = broken
    time.sleep(0.5)
    mark = probe.mark()
    time.sleep(2.2)
    assert not probe.since(mark, T.cmd_current)  # the bridge's lease will lapse: safe current
    assert harness.thread.is_alive()


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
    cfg = base_config(tmp_path, 1502, broker.port)
    path = write_config(tmp_path / "c.yaml", cfg)
    probe.publish(T.control_state, b"", retain=True)
    probe.publish(T.control_availability, b"", retain=True)
    proc = Proc("control", "--config", str(path), log_dir=tmp_path).start()
    try:
        wait_until(lambda: probe.text(T.control_state), 15)
        body = probe.json(T.control_state)
        validate("control_state", body)
        assert probe.text(T.control_availability) == "online"
    finally:
        rc = proc.stop(signal.SIGTERM)
    assert rc == 0, proc.log()
    wait_until(lambda: probe.text(T.control_availability) == "offline", 5)
    assert "Traceback" not in proc.log()


def test_auto_gets_the_pv_forecast_once_per_quarter_hour(broker: Broker, tmp_path: Path) -> None:
    runner = Harness(broker, tmp_path).runner  # not started: snapshots only
    now = 1_780_000_000.0 - 1_780_000_000.0 % 900
    runner.forecaster.record(now - 86400, 3000.0)  # yesterday in this quarter hour
    runner.core_settings = CoreSettings(battery_check=False, battery_capacity_kwh=10.0)
    assert runner.snapshot(now).pv_forecast == ()  # neither SCHEDULED nor AUTO asks for it
    runner.core_settings = CoreSettings()  # the check is on, but the capacity is not known
    assert runner.snapshot(now).pv_forecast == ()
    runner.core_settings = CoreSettings(battery_capacity_kwh=10.0)
    first = runner.snapshot(now).pv_forecast

    def today(slots: Tuple[ForecastSlot, ...]) -> List[Tuple[float, float]]:
        return [(f.start, f.surplus_w) for f in slots if f.start < now + 3600]

    assert today(first) == [(now, 3000.0)]
    runner.forecaster.record(now - 86400 + 1800, 5000.0)
    assert runner.snapshot(now + 899).pv_forecast is first  # worked out once per quarter hour
    later = runner.snapshot(now + 900).pv_forecast
    assert today(later) == [(now + 1800, 5000.0)]


def test_the_battery_capacity_is_learned_saved_and_restored(broker: Broker, tmp_path: Path) -> None:
    runner = Harness(broker, tmp_path).runner  # not started: the learning step only
    runner.load()
    runner.core_settings = CoreSettings()  # battery_check on, no capacity configured
    now = 1_780_000_000.0 - 1_780_000_000.0 % 900
    runner.forecaster.record(now - 86400, 3000.0)
    base = runner.snapshot(now)
    assert base.battery_capacity_kwh is None and base.pv_forecast == ()
    # 2 kW into a 10 kWh battery for 1 h 15 min: the SOC climbs 25 points, shown in 1 % steps
    soc = 40.0
    for i in range(4500):
        soc += 2000.0 / 3600.0 / 10000.0 * 100.0
        site = SiteView(battery_soc=float(int(soc)), battery_power_w=2000.0, fresh=True)
        runner._learn_pv(replace(base, now=now + i, site=site), now + i)
    assert runner.capacity.kwh == pytest.approx(10.0, rel=0.02)
    idle = SiteView(battery_soc=float(int(soc)), battery_power_w=0.0, fresh=True)
    for i in range(4500, 4500 + int(PV_SAVE_S) + 1, 10):  # saved with the PV history
        runner._learn_pv(replace(base, now=now + i, site=idle), now + i)
    saved = json.loads((Path(runner.store.dir) / "battery.json").read_text())
    assert saved["estimates_kwh"] == [pytest.approx(runner.capacity.kwh)]
    later = runner.snapshot(now + 5500)
    assert later.battery_capacity_kwh == runner.capacity.kwh
    assert later.pv_forecast  # the check now has what it needs and asks for the forecast

    again = Harness(broker, tmp_path).runner  # a restart finds it in the state directory
    again.load()
    assert again.capacity.kwh == runner.capacity.kwh


def test_site_power_prices_and_the_solar_cost_are_published(
    broker: Broker, tmp_path: Path, probe: Probe
) -> None:
    """control/site carries what the page's power view shows; control/prices the static rate;
    a sunny session costs the feed-in price, not the import price (issue 18)."""
    probe.publish(T.availability, "online", retain=True)
    probe.publish(T.state, state(energy_wh=5000.0, connected=True), retain=True)
    h = Harness(broker, tmp_path, pricing={"feed_in_eur_per_kwh": 0.07}).start()
    try:
        probe.publish(f"N/{PORTAL}/system/0/Serial", {"value": PORTAL}, retain=True)
        wait_until(lambda: probe.since(0, f"R/{PORTAL}/keepalive"), 5)
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
            probe.publish(f"N/{PORTAL}/system/0/{path}", {"value": value})
        probe.publish(T.state, state(energy_wh=5000.0, power_w=6900.0), retain=True)
        site = probe.wait_json(T.control_site, lambda v: v["fresh"] and v["ev_w"] == 6900.0)
        validate("control_site", site)
        assert (site["pv_w"], site["grid_w"], site["battery_w"]) == (8000.0, -400.0, 1000.0)
        assert site["house_w"] == 700.0 and site["battery_soc"] == 64.5  # 7600 W minus the car
        prices = probe.json(T.control_prices)
        validate("control_prices", prices)
        assert prices["source"] == "static" and prices["static_rate"] == 0.25
        probe.publish(T.state, state(energy_wh=7000.0, power_w=6900.0), retain=True)
        body = probe.wait_json(T.control_state, lambda v: v["session"]["energy_kwh"] == 2.0)
        assert body["session"]["solar_cost"] == pytest.approx(0.14)
        assert body["session"]["grid_cost"] == 0.0 and body["session"]["cost"] == 0.14
    finally:
        h.close()
        for topic in (T.state, f"N/{PORTAL}/system/0/Serial", T.control_site, T.control_prices):
            probe.publish(topic, b"", retain=True)
