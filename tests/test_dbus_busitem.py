"""The BusItem contract, run against every backend: our busitem.py and, where importable,
velib's vedbus (on a GX: docs/INSTALL.md, "Proving velib parity"). The service lives in this process on its own connection; the client pumps the
GLib loop while it waits, so both sides are served.
"""

from __future__ import annotations

import os
from typing import Any, Iterator, List, Tuple

import pytest

from dbus_shim.backend import velib_service_class
from tests.dbus_support import Client, DbusDaemon, dbus_missing, is_invalid, pump

pytestmark = [
    pytest.mark.dbus,
    pytest.mark.skipif(dbus_missing() is not None, reason=str(dbus_missing())),
]


@pytest.fixture(scope="module")
def bus() -> Iterator[DbusDaemon]:
    daemon = DbusDaemon().start()
    yield daemon
    daemon.stop()


@pytest.fixture(params=["own", "velib"])
def made(request: pytest.FixtureRequest, bus: DbusDaemon) -> Iterator[Tuple[Any, Client, List]]:
    import dbus.bus

    from dbus_shim.backend import close_service, make_service

    if request.param == "velib" and velib_service_class() is None:
        if os.environ.get("ALFEN_REQUIRE_VELIB"):  # on a GX the velib run must not skip
            pytest.fail("ALFEN_REQUIRE_VELIB is set but velib_python's vedbus is not importable")
        pytest.skip("velib_python's vedbus is not importable here (it is on Venus OS)")
    client = Client(bus.address)
    conn = dbus.bus.BusConnection(bus.address)
    name = f"com.victronenergy.evcharger.test_{request.param}"
    service, backend = make_service(name, conn, backend=request.param)
    assert backend == request.param
    writes: List[Tuple[str, Any]] = []

    def on_change(path: str, value: Any) -> bool:
        writes.append((path, value))
        return value in (0, 1, 2)

    service.add_path("/ProductId", 0xFFFF)
    service.add_path("/Ac/Power", 1234.5, gettextcallback=lambda p, v: f"{v:.0f} W")
    service.add_path("/Ac/L1/Power", None)
    service.add_path("/Mode", 1, writeable=True, onchangecallback=on_change)
    service.add_path("/CustomName", "", writeable=True)
    service.register()
    client.wait(lambda: client.owner(name))
    yield service, client, writes
    close_service(service, conn)
    conn.close()
    client.close()


def _name(service: Any) -> str:
    return str(service.name) if hasattr(service, "name") else ""


def test_getitems_values_and_texts(made: Tuple[Any, Client, List]) -> None:
    service, client, _ = made
    items = client.get_items(_name(service))
    assert set(items) == {"/ProductId", "/Ac/Power", "/Ac/L1/Power", "/Mode", "/CustomName"}
    assert items["/ProductId"]["Text"] == "0xFFFF"
    assert items["/Ac/Power"]["Value"] == 1234.5 and items["/Ac/Power"]["Text"] == "1234 W"
    assert is_invalid(items["/Ac/L1/Power"]["Value"]) and items["/Ac/L1/Power"]["Text"] == "---"


def test_leaf_and_tree_values(made: Tuple[Any, Client, List]) -> None:
    service, client, _ = made
    name = _name(service)
    assert client.value(name, "/Mode") == 1
    assert is_invalid(client.value(name, "/Ac/L1/Power"))
    assert client.text(name, "/Ac/L1/Power") == "---"
    tree = client.value(name, "/Ac")
    assert set(tree) == {"Power", "L1/Power"} and tree["Power"] == 1234.5
    assert is_invalid(tree["L1/Power"])
    assert client.call(name, "/Ac", "GetText")["Power"] == "1234 W"


def test_setvalue_return_codes(made: Tuple[Any, Client, List]) -> None:
    service, client, writes = made
    name = _name(service)
    assert client.set(name, "/Ac/Power", 1.0) == 1  # not writable
    assert client.set(name, "/Mode", 1) == 0 and writes == []  # unchanged: no callback
    mark = len(client.signals)
    assert client.set(name, "/Mode", 2) == 0
    assert writes == [("/Mode", 2)] and service["/Mode"] == 2
    client.wait(lambda: [s for s in client.signals[mark:] if s[2] == "PropertiesChanged"])
    sig = next(s for s in client.signals[mark:] if s[2] == "PropertiesChanged")
    assert sig[1] == "/Mode" and sig[3]["Value"] == 2 and sig[3]["Text"] == "2"
    assert client.set(name, "/Mode", 7) == 2 and service["/Mode"] == 2  # refused
    assert client.set(name, "/CustomName", "Garage") == 0 and service["/CustomName"] == "Garage"


def test_local_set_emits_propertieschanged(made: Tuple[Any, Client, List]) -> None:
    service, client, _ = made
    mark = len(client.signals)
    service["/Ac/Power"] = 10.0
    service["/Ac/Power"] = 10.0  # unchanged: no second signal
    client.wait(lambda: len(client.signals) > mark)
    pump(0.2)
    sigs = client.signals[mark:]
    assert [(s[1], s[2]) for s in sigs] == [("/Ac/Power", "PropertiesChanged")]


def test_batch_is_one_itemschanged(made: Tuple[Any, Client, List]) -> None:
    service, client, _ = made
    mark = len(client.signals)
    with service as s:
        s["/Ac/Power"] = 2000.0
        s["/Ac/L1/Power"] = 2000.0
        s["/Mode"] = 0
    client.wait(lambda: client.items_changed(mark))
    pump(0.2)
    assert [s[2] for s in client.signals[mark:]] == ["ItemsChanged"]
    change = client.items_changed(mark)[0]
    assert set(change) == {"/Ac/Power", "/Ac/L1/Power", "/Mode"}
    assert change["/Ac/Power"]["Text"] == "2000 W" and change["/Ac/L1/Power"]["Text"] == "2000.0"
    mark = len(client.signals)
    with service as s:
        s["/Ac/L1/Power"] = None
    client.wait(lambda: client.items_changed(mark))
    change = client.items_changed(mark)[0]
    assert is_invalid(change["/Ac/L1/Power"]["Value"]) and change["/Ac/L1/Power"]["Text"] == "---"
