"""The shim process on a private bus, driven the way Venus consumers drive it.

A real dbus-daemon and mosquitto; synthetic retained state published with the Probe; a
separate dbus-python client calls GetItems/GetValue/GetText/SetValue and records signals.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from common.schemas import load_schema
from dbus_shim.paths import PATHS
from tests.dbus_support import Client, DbusDaemon, dbus_missing, is_invalid, pump
from tests.helpers import Broker, Probe, Proc, base_config, free_port, wait_until, write_config

pytestmark = [
    pytest.mark.dbus,
    pytest.mark.skipif(dbus_missing() is not None, reason=str(dbus_missing())),
]

BASE = "alfen/0"
NAME = "com.victronenergy.evcharger.alfen_0"


def example(schema: str) -> Dict[str, Any]:
    return copy.deepcopy(load_schema(schema)["examples"][0])


def publish_all(probe: Probe, **state_changes: Any) -> Dict[str, Any]:
    state = example("state")
    state.update(state_changes)
    probe.publish(f"{BASE}/availability", "online", retain=True)
    probe.publish(f"{BASE}/info", example("info"), retain=True)
    probe.publish(f"{BASE}/control/state", example("control_state"), retain=True)
    probe.publish(f"{BASE}/state", state, retain=True)
    return state


@pytest.fixture(scope="module")
def bus() -> Iterator[DbusDaemon]:
    daemon = DbusDaemon().start()
    yield daemon
    daemon.stop()


@pytest.fixture(scope="module")
def mprobe(broker: Broker) -> Iterator[Probe]:
    p = Probe(broker.port)
    yield p
    p.close()


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory, bus: DbusDaemon, broker: Broker) -> Path:
    tmp = tmp_path_factory.mktemp("shim")
    cfg = base_config(tmp, free_port(), broker.port, dbus={"address": bus.address})
    return write_config(tmp / "config.yaml", cfg)


@pytest.fixture(scope="module")
def shim(config: Path, mprobe: Probe) -> Iterator[Proc]:
    publish_all(mprobe)
    proc = Proc("dbus_shim", "--config", str(config), log_dir=config.parent).start()
    yield proc
    assert proc.stop() == 0, proc.log()


@pytest.fixture(scope="module")
def client(bus: DbusDaemon, shim: Proc) -> Iterator[Client]:
    c = Client(bus.address)
    c.wait(lambda: c.owner(NAME), 15)
    c.wait(lambda: c.value(NAME, "/Connected") == 1, 10)
    # control/state arrives on its own subscription, possibly after the charger state
    c.wait(lambda: c.value(NAME, "/Mode") == 1, 10)
    yield c
    c.close()


def test_getitems_lists_every_path_with_value_and_text(client: Client) -> None:
    items = client.get_items(NAME)
    assert set(items) == {p.path for p in PATHS}
    for path, item in items.items():
        assert set(item) == {"Value", "Text"}, path
    assert items["/ProductId"]["Value"] == 0xFFFF and items["/ProductId"]["Text"] == "0xFFFF"
    assert items["/DeviceInstance"]["Value"] == 0  # no localsettings on this bus: config
    assert items["/Serial"]["Value"] == "ACE0012345"
    assert items["/Ac/Power"]["Value"] == pytest.approx(11057.6)
    assert items["/Ac/Power"]["Text"] == "11058 W"
    assert items["/Ac/Energy/Forward"]["Value"] == pytest.approx(302.806)
    assert items["/Status"]["Text"] == "Charging"
    assert items["/Mode"]["Value"] == 1 and items["/Mode"]["Text"] == "Auto"
    assert items["/Position"]["Value"] == 0
    assert isinstance(items["/SetCurrent"]["Value"], int)
    # the old driver's path, next to /Current
    assert items["/Ac/Current"]["Value"] == items["/Current"]["Value"] == pytest.approx(16.0)
    assert items["/Ac/Current"]["Text"] == "16.0 A"
    # gui-v2: "Auto mode source: External (Alfen controller)"
    assert items["/GxAutoMode/Enabled"]["Value"] == 1
    assert items["/GxAutoMode/Source"]["Value"] == "Alfen controller"


def test_gx_auto_mode_follows_the_controllers_mode(client: Client, mprobe: Probe) -> None:
    control = example("control_state")
    control.update(mode=0, mode_name="manual")
    mprobe.publish(f"{BASE}/control/state", control, retain=True)
    client.wait(lambda: client.value(NAME, "/GxAutoMode/Enabled") == 0)
    assert client.value(NAME, "/GxAutoMode/Source") == ""
    mprobe.publish(f"{BASE}/control/state", example("control_state"), retain=True)
    client.wait(lambda: client.value(NAME, "/GxAutoMode/Enabled") == 1)
    assert client.value(NAME, "/GxAutoMode/Source") == "Alfen controller"


def test_leaf_and_tree_getvalue_gettext(client: Client) -> None:
    assert client.value(NAME, "/Ac/L1/Voltage") == pytest.approx(230.1)
    assert client.text(NAME, "/Ac/L1/Voltage") == "230.1 V"
    tree = client.value(NAME, "/Ac")
    assert tree["Power"] == pytest.approx(11057.6) and "L2/Current" in tree
    texts = client.call(NAME, "/Ac/L1", "GetText")
    assert texts["Voltage"] == "230.1 V"
    root = client.value(NAME, "/")
    assert root["Mgmt/ProcessName"] == "alfen-dbus-shim"


def test_state_change_is_one_itemschanged(client: Client, mprobe: Probe) -> None:
    mark = len(client.signals)
    state = example("state")
    state["power_w"] = 4321.0
    state["l1"]["power_w"] = 1440.0
    mprobe.publish(f"{BASE}/state", state, retain=True)
    client.wait(lambda: any("/Ac/Power" in c for c in client.items_changed(mark)))
    pump(0.3)  # any second signal for the same update would be in by now
    batches = [c for c in client.items_changed(mark) if "/Ac/Power" in c]
    assert len(batches) == 1
    assert "/Ac/L1/Power" in batches[0]  # the same update, the same signal
    assert batches[0]["/Ac/Power"]["Value"] == pytest.approx(4321.0)
    assert not [s for s in client.signals[mark:] if s[2] == "PropertiesChanged"]
    assert client.value(NAME, "/Ac/Power") == pytest.approx(4321.0)


def _commands(probe: Probe, mark: int, what: str) -> list:
    return [json.loads(p) for p in probe.since(mark, f"{BASE}/control/set/{what}")]


def test_setcurrent_becomes_a_command(client: Client, mprobe: Probe) -> None:
    import dbus

    mark = mprobe.mark()
    assert client.set(NAME, "/SetCurrent", dbus.Int32(10)) == 0
    wait_until(lambda: _commands(mprobe, mark, "current") == [{"amps": 10}])
    assert client.set(NAME, "/SetCurrent", dbus.Double(12.0)) == 0  # flashmq sends floats too
    wait_until(lambda: {"amps": 12} in _commands(mprobe, mark, "current"))
    value = client.wait(
        lambda: client.value(NAME, "/SetCurrent") == 12 and client.value(NAME, "/SetCurrent")
    )
    assert isinstance(value, dbus.Int32)  # an int on the bus, not a float


def test_other_writes_become_commands(client: Client, mprobe: Probe) -> None:
    import dbus

    mark = mprobe.mark()
    assert client.set(NAME, "/Mode", dbus.Int32(0)) == 0
    assert client.set(NAME, "/StartStop", dbus.Double(0.0)) == 0
    assert client.set(NAME, "/AutoStart", dbus.Int32(0)) == 0
    assert client.set(NAME, "/MaxCurrent", dbus.Int32(20)) == 0
    wait_until(lambda: _commands(mprobe, mark, "mode") == [{"mode": 0}])
    wait_until(lambda: _commands(mprobe, mark, "startstop") == [{"enabled": False}])
    wait_until(lambda: _commands(mprobe, mark, "autostart") == [{"enabled": False}])
    wait_until(lambda: _commands(mprobe, mark, "max_current") == [{"amps": 20}])


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("/SetCurrent", 99),
        ("/SetCurrent", 3),
        ("/SetCurrent", "ten"),
        ("/MaxCurrent", 2),
        ("/Mode", 5),
        ("/Mode", 1.5),
        ("/StartStop", 2),
        ("/AutoStart", -1),
        ("/Position", 2),
        ("/EnableDisplay", 0),
    ],
)
def test_bad_writes_are_refused(client: Client, mprobe: Probe, path: str, value: Any) -> None:
    before = client.value(NAME, path)
    mark = mprobe.mark()
    assert client.set(NAME, path, value) != 0
    pump(0.3)
    assert client.value(NAME, path) == before
    assert not [t for t, _p, _r in mprobe.messages[mark:] if "/control/set/" in t]


def test_read_only_paths_refuse_writes(client: Client) -> None:
    assert client.set(NAME, "/Ac/Power", 1.0) == 1
    assert client.set(NAME, "/DeviceInstance", 5) == 1


def test_energy_never_decreases(client: Client, mprobe: Probe) -> None:
    before = float(client.value(NAME, "/Ac/Energy/Forward"))
    state = example("state")
    state["energy_wh"] = 1000.0  # a charger reset
    mprobe.publish(f"{BASE}/state", state, retain=True)
    state["energy_wh"] = 3000.0
    state["power_w"] = 777.0
    mprobe.publish(f"{BASE}/state", state, retain=True)
    client.wait(lambda: client.value(NAME, "/Ac/Power") == 777.0)
    assert float(client.value(NAME, "/Ac/Energy/Forward")) == pytest.approx(before + 2.0)


def test_bridge_offline_invalidates_and_recovers(client: Client, mprobe: Probe) -> None:
    mprobe.publish(f"{BASE}/availability", "offline", retain=True)
    client.wait(lambda: client.value(NAME, "/Connected") == 0)
    assert is_invalid(client.value(NAME, "/Ac/Power"))
    assert client.text(NAME, "/Ac/Power") == "---"
    assert client.value(NAME, "/ProductName")  # identity stays
    mprobe.publish(f"{BASE}/availability", "online", retain=True)
    client.wait(lambda: client.value(NAME, "/Connected") == 1)
    assert not is_invalid(client.value(NAME, "/Ac/Power"))


def test_local_settings_persist_across_restart(client: Client, shim: Proc) -> None:
    assert client.set(NAME, "/Position", 1) == 0
    assert client.set(NAME, "/CustomName", "Garage") == 0
    assert shim.stop() == 0
    client.wait(lambda: client.owner(NAME) is None)
    shim.start()
    client.wait(lambda: client.owner(NAME), 15)
    assert client.value(NAME, "/Position") == 1
    assert client.text(NAME, "/Position") == "AC input"
    assert client.value(NAME, "/CustomName") == "Garage"
    client.wait(lambda: client.value(NAME, "/Connected") == 1)


def test_broker_restart_disconnects_then_recovers(
    client: Client, broker: Broker, mprobe: Probe
) -> None:
    mark = len(client.signals)
    broker.restart()
    client.wait(
        lambda: any(c.get("/Connected", {}).get("Value") == 0 for c in client.items_changed(mark)),
        15,
    )
    wait_until(lambda: mprobe.client.is_connected(), 15)
    publish_all(mprobe)  # a real bridge republishes its retained state on reconnect
    client.wait(lambda: client.value(NAME, "/Connected") == 1, 20)
    assert client.value(NAME, "/Mode") in (0, 1, 2)
