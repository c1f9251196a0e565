"""Device instance from a test ``com.victronenergy.settings`` on the same bus; name claimed last."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Iterator, List

import pytest

from common.schemas import load_schema
from dbus_shim.paths import PATHS
from tests.dbus_support import Client, DbusDaemon, dbus_missing, start_settings
from tests.helpers import Broker, Probe, Proc, base_config, free_port, write_config

pytestmark = [
    pytest.mark.dbus,
    pytest.mark.skipif(dbus_missing() is not None, reason=str(dbus_missing())),
]

SETTING = "/Settings/Devices/alfen_ACE0012345/ClassAndVrmInstance"


@pytest.fixture(scope="module")
def bus() -> Iterator[DbusDaemon]:
    daemon = DbusDaemon().start()
    yield daemon
    daemon.stop()


def _shim(tmp: Path, bus: DbusDaemon, broker: Broker, instance: int) -> Proc:
    cfg = base_config(
        tmp, free_port(), broker.port, dbus={"address": bus.address}, device_instance=instance
    )
    path = write_config(tmp / f"config{instance}.yaml", cfg)
    return Proc("dbus_shim", "--config", str(path), log_dir=tmp)


def test_instance_granted_by_localsettings_and_followed(
    tmp_path: Path, bus: DbusDaemon, broker: Broker, probe: Probe
) -> None:
    info = copy.deepcopy(load_schema("info")["examples"][0])
    probe.publish("alfen/3/info", info, retain=True)
    settings = start_settings(bus.address, "evcharger:40")  # 40 is taken: expect 41
    client = Client(bus.address)
    shim = _shim(tmp_path, bus, broker, 3).start()
    try:
        name = "com.victronenergy.evcharger.alfen_3"
        client.wait(lambda: client.owner(name), 15)
        assert client.value(name, "/DeviceInstance") == 41
        assert client.call("com.victronenergy.settings", SETTING, "GetValue") == "evcharger:41"
        # the GUI's "VRM device instances" page rewrites the setting: the shim follows
        assert client.call("com.victronenergy.settings", SETTING, "SetValue", "evcharger:45") == 0
        client.wait(lambda: client.value(name, "/DeviceInstance") == 45)
    finally:
        assert shim.stop() == 0, shim.log()
        settings.terminate()
        settings.wait(5)
        client.close()


def test_name_is_claimed_only_when_every_path_exists(
    tmp_path: Path, bus: DbusDaemon, broker: Broker
) -> None:
    client = Client(bus.address)
    name = "com.victronenergy.evcharger.alfen_7"
    seen: List[Any] = []

    def on_owner(svc: str, old: str, new: str) -> None:
        if svc == name and new:  # ask at once, as flashmq and veutil do
            seen.append(set(client.bus.get_object(name, "/").GetItems()))

    client.bus.add_signal_receiver(on_owner, signal_name="NameOwnerChanged")
    shim = _shim(tmp_path, bus, broker, 7).start()
    try:
        client.wait(lambda: seen, 15)
        assert seen[0] == {p.path for p in PATHS}
        # no localsettings on the bus now: the config's device_instance
        assert client.value(name, "/DeviceInstance") == 7
    finally:
        assert shim.stop() == 0, shim.log()
        client.close()
