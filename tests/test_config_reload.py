"""A config saved by the UI reaches the running bridge and controller without a restart."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import yaml

from sim.charger import control
from tests.helpers import Broker, Probe, Proc, base_config, free_port, wait_until, write_config

pytestmark = [pytest.mark.e2e, pytest.mark.modbus]


def test_bridge_applies_a_new_lease_and_station_ceiling_live(
    tmp_path: Path, broker: Broker, probe: Probe
) -> None:
    port, ctl = free_port(), free_port()
    sim = Proc(
        "sim", "charger", "--port", str(port), "--control-port", str(ctl), log_dir=tmp_path
    ).start()
    cfg = base_config(tmp_path, port, broker.port, device_instance=7)
    path = write_config(tmp_path / "c.yaml", cfg)
    bridge = Proc("bridge", "--config", str(path), log_dir=tmp_path).start()
    try:
        probe.wait_json("alfen/7/state", lambda s: s["connected"], 15)
        probe.publish("alfen/7/cmd/current", {"amps": 20})
        wait_until(
            lambda: control(ctl, "status")["status"]["sockets"]["1"]["setpoint_a"] == 20.0, 5
        )
        cfg["controls"] = {"max_set_current": 12.0}
        path.write_text(yaml.safe_dump(cfg))
        probe.publish(
            "alfen/7/config/changed",
            {"ts": time.time(), "source": "test", "changed": ["controls.max_set_current"]},
            retain=True,
        )
        wait_until(lambda: "config reloaded" in bridge.log(), 5)
        probe.publish("alfen/7/cmd/current", {"amps": 20})
        wait_until(
            lambda: control(ctl, "status")["status"]["sockets"]["1"]["setpoint_a"] == 12.0, 5
        )
        # an invalid file is refused with the reason and changes nothing
        path.write_text("modbus: {ip: x, port: nope}\n")
        probe.publish("alfen/7/config/changed", {"ts": time.time()}, retain=True)
        wait_until(lambda: "config changed but not applied" in bridge.log(), 5)
        assert "modbus.port: 'nope' is invalid" in bridge.log()
        assert bridge.alive()
        state = probe.wait_json("alfen/7/state", lambda s: s["connected"], 5)
        assert json.dumps(state)  # still publishing
    finally:
        probe.publish("alfen/7/config/changed", b"", retain=True)
        bridge.stop()
        sim.stop()


def test_a_repeated_notice_for_an_unchanged_file_reads_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """config/changed is a claim anyone on the broker can publish, with any ts: the file (up
    to 1 MB, fully checked) is read again only when it differs from the last one read."""
    from common import config as config_module

    path = tmp_path / "config.yaml"
    path.write_text("modbus: {ip: 192.0.2.10}\n")
    loads: list = []
    real = config_module.load_config
    monkeypatch.setattr(config_module, "load_config", lambda p: loads.append(p) or real(p))
    for ts in (10.0, 11.0, 12.0, 1e12):
        notice = json.dumps({"ts": ts}).encode()
        config_module.reload_on_notice(notice, str(path), started_at=1.0)
    assert len(loads) == 1
    path.write_text("modbus: {ip: 192.0.2.11}\n")
    cfg = config_module.reload_on_notice(b'{"ts": 13.0}', str(path), started_at=1.0)
    assert cfg is not None and cfg["modbus"]["ip"] == "192.0.2.11" and len(loads) == 2
