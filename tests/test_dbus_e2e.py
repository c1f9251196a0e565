"""A GX write round trip: D-Bus SetValue -> shim -> control -> bridge -> simulated charger."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any, Iterator

import pytest

from sim.charger import control
from tests.dbus_support import Client, DbusDaemon, dbus_missing
from tests.helpers import Broker, Proc, base_config, free_port, wait_until, write_config

_missing = [m for m in ("bridge.main", "control.runner") if importlib.util.find_spec(m) is None]
pytestmark = [
    pytest.mark.dbus,
    pytest.mark.e2e,
    pytest.mark.skipif(dbus_missing() is not None, reason=str(dbus_missing())),
    pytest.mark.skipif(bool(_missing), reason=f"not written yet: {', '.join(_missing)}"),
]
INSTANCE = 61
NAME = f"com.victronenergy.evcharger.alfen_{INSTANCE}"


@pytest.fixture
def bus() -> Iterator[DbusDaemon]:
    daemon = DbusDaemon().start()
    yield daemon
    daemon.stop()


def _setpoint(ctl_port: int) -> Any:
    return control(ctl_port, "status")["status"]["sockets"]["1"]["setpoint_a"]


def test_setcurrent_reaches_the_charger(tmp_path: Path, bus: DbusDaemon, broker: Broker) -> None:
    modbus_port, ctl_port = free_port(), free_port()
    cfg = base_config(
        tmp_path, modbus_port, broker.port, device_instance=INSTANCE, dbus={"address": bus.address}
    )
    config = str(write_config(tmp_path / "config.yaml", cfg))
    procs = [
        Proc(
            "sim",
            "charger",
            "--port",
            str(modbus_port),
            "--control-port",
            str(ctl_port),
            "--plug-at",
            "0",
            log_dir=tmp_path,
        ).start()
    ]
    client = Client(bus.address)
    try:
        wait_until(lambda: _ok(ctl_port), 10)
        for module in ("bridge", "control", "dbus_shim"):
            procs.append(Proc(module, "--config", config, log_dir=tmp_path).start())
        client.wait(lambda: client.owner(NAME), 15)
        client.wait(lambda: client.value(NAME, "/Connected") == 1, 20)
        client.wait(lambda: client.value(NAME, "/Mode") in (0, 1, 2), 20)
        assert client.set(NAME, "/Mode", 0) == 0
        assert client.set(NAME, "/StartStop", 1) in (0,)
        client.wait(lambda: client.value(NAME, "/Mode") == 0, 10)
        assert client.set(NAME, "/SetCurrent", 11) == 0
        wait_until(lambda: _setpoint(ctl_port) == pytest.approx(11.0), 20)
        client.wait(lambda: client.value(NAME, "/SetCurrent") == 11, 10)
        assert float(client.value(NAME, "/Ac/Power")) >= 0
        if os.environ.get("ALFEN_REQUIRE_VELIB"):  # `make velib-parity`: it ran on vedbus
            assert "(velib BusItem)" in procs[-1].log()
    except BaseException:
        for p in procs:
            print(f"---- {p.module}\n{p.log()[-3000:]}")
        raise
    finally:
        client.close()
        for p in reversed(procs):
            p.stop()


def _ok(port: int) -> bool:
    try:
        return bool(control(port, "status")["ok"])
    except OSError:
        return False
