"""The simulated world: charger + site on MQTT, published the way dbus-flashmq does."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Iterator, Optional

import pytest

from sim.charger import control
from sim.world import FallbackSite, SiteParams
from tests.helpers import Broker, Probe, Proc, free_port, wait_until

PORTAL = "w0rld"
N = f"N/{PORTAL}/system/0/"
MIN_SOC = f"N/{PORTAL}/settings/0/Settings/CGwacs/BatteryLife/MinimumSocLimit"


class World:
    def __init__(self, broker: Broker, tmp: Path, *extra: str) -> None:
        self.modbus, self.ctl = free_port(), free_port()
        args = ["world", "--port", str(self.modbus), "--control-port", str(self.ctl)]
        args += ["--mqtt-port", str(broker.port), "--portal", PORTAL, *extra]
        self.proc = Proc("sim", *args, log_dir=tmp).start()
        wait_until(lambda: self._ok(), 15)

    def _ok(self) -> bool:
        try:
            return bool(control(self.ctl, "site_status")["ok"])
        except OSError:
            return False

    def cmd(self, name: str, **kw: object) -> dict:
        return control(self.ctl, name, **kw)


@pytest.fixture(scope="module")
def world(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    w = World(
        broker, tmp_path_factory.mktemp("world"), "--start-hour", "12", "--keepalive-window-s", "3"
    )
    yield w
    assert w.proc.stop() == 0, w.proc.log()


def test_serial_retained_and_nothing_else_without_keepalive(world: World, broker: Broker) -> None:
    first = Probe(broker.port)
    wait_until(lambda: first.text(N + "Serial"), 5)
    first.close()
    late = Probe(broker.port)  # a later subscriber still gets the retained Serial
    try:
        wait_until(lambda: late.text(N + "Serial"), 5)
        assert json.loads(late.text(N + "Serial") or "") == {"value": PORTAL}
        time.sleep(1.5)
        topics = {t for t, _p, _r in late.messages}
        assert topics == {N + "Serial"}, topics
        assert all(r for t, _p, r in late.messages)  # only Serial, and it is retained
    finally:
        late.close()


def test_keepalive_full_publish_then_suppress_then_silence(world: World, probe: Probe) -> None:
    before = world.cmd("site_status")["site"]["full_publishes"]
    probe.publish(f"R/{PORTAL}/keepalive", "")
    wait_until(lambda: probe.text(f"N/{PORTAL}/full_publish_completed"), 5)
    for path in ("Ac/Grid/L1/Power", "Ac/Consumption/L3/Power", "Dc/Battery/Soc", "Dc/Pv/Power"):
        assert "value" in json.loads(probe.text(N + path) or "{}"), path
    assert json.loads(probe.text(N + "Ac/PvOnOutput/L1/Power") or "") == {"value": None}
    assert json.loads(probe.text(MIN_SOC) or "") == {"value": 20.0}
    assert not [r for t, _p, r in probe.messages if t.startswith(N) and "Serial" not in t and r]
    probe.publish(f"R/{PORTAL}/keepalive", {"keepalive-options": ["suppress-republish"]})
    time.sleep(1.5)
    status = world.cmd("site_status")["site"]
    assert status["full_publishes"] == before + 1 and status["alive"]
    time.sleep(3.0)  # window 3 s here (60 s on a GX)
    assert not world.cmd("site_status")["site"]["alive"]
    mark = probe.mark()
    time.sleep(1.5)
    assert not [t for t, _p, _r in probe.messages[mark:] if t.startswith(f"N/{PORTAL}/")]


def test_ev_power_shows_in_consumption_and_grid(world: World, probe: Probe) -> None:
    world.cmd("site", pv_w=0, house_w=300)
    probe.publish(f"R/{PORTAL}/keepalive", "")
    wait_until(
        lambda: world.cmd("site_status")["site"]["values"]["Ac/Consumption/L2/Power"] < 200, 5
    )
    world.cmd("plug", max_current_a=16, phases=3)

    # no EMS setpoint: the charger offers its safe current (6 A) and the car takes it
    def charging() -> object:
        v = world.cmd("site_status")["site"]["values"]
        return v if v["Ac/Consumption/L2/Power"] > 75 + 6 * 230 - 40 else None

    values = wait_until(charging, 15)
    assert values["Ac/Consumption/L2/Power"] == pytest.approx(75 + 6 * 230, abs=40)
    battery_l2 = values["Dc/Battery/Power"] / 3.0  # the ESS covers the deficit here
    assert values["Ac/Grid/L2/Power"] == pytest.approx(
        values["Ac/Consumption/L2/Power"] + battery_l2, abs=2
    )
    world.cmd("unplug")
    world.cmd("site", pv_w=None, house_w=None)


def test_trace_replay(broker: Broker, tmp_path: Path, probe: Probe) -> None:
    trace = tmp_path / "t.csv"
    trace.write_text("# start_ts=1700000000\nt_s,pv_w,load_w\n0,3000,300\n5,6000,600\n100,0,300\n")
    w = World(broker, tmp_path, "--trace", str(trace), "--battery-kwh", "0", "--portal", "trace1")
    try:
        # the last --portal wins: this world publishes as trace1
        # "ready" is the control port; the MQTT subscription may come a moment later, so keep
        # the keepalive coming as a Venus client does (one sent before it was lost once in CI)
        def woken() -> Optional[str]:
            probe.publish("R/trace1/keepalive", "")
            return probe.text("N/trace1/system/0/Ac/PvOnGrid/L1/Power")

        wait_until(woken, 5, 0.25)
        values = w.cmd("site_status")["site"]["values"]
        assert sum(values[f"Ac/PvOnGrid/L{i}/Power"] for i in (1, 2, 3)) in (
            pytest.approx(3000, abs=2),
            pytest.approx(6000, abs=2),
        )
        assert values["Dc/Battery/Soc"] is None
    finally:
        assert w.proc.stop() == 0


def test_fallback_site_balance_line() -> None:
    site = FallbackSite(SiteParams(battery_kwh=0, house_w=600, noise_w=0))
    site.pv_override = 3000.0
    r = site.step(0.0, (1000.0, 1000.0, 1000.0))
    assert sum(r.grid_w) == pytest.approx(600 + 3000 - 3000)
    assert sum(r.consumption_w) == pytest.approx(3600)
    bat = FallbackSite(SiteParams(battery_kwh=10, battery_soc=50, house_w=0, noise_w=0))
    bat.pv_override = 2000.0
    r = bat.step(0.0, (0.0, 0.0, 0.0))
    assert r.battery_power_w == 2000.0 and sum(r.grid_w) == pytest.approx(0.0)
