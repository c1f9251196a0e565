"""The D-Bus path table as pure functions of a View: no bus, no broker."""

from __future__ import annotations

import copy
from typing import Any, Dict

import pytest

from common.schemas import load_schema
from dbus_shim.paths import BY_PATH, GX_AUTO_SOURCE, Identity, View, render

IDENTITY = Identity(process_version="test", connection="MQTT test", device_instance=0)


def example(schema: str) -> Dict[str, Any]:
    return copy.deepcopy(load_schema(schema)["examples"][0])


def view(**kw: Any) -> View:
    args: Dict[str, Any] = {
        "identity": IDENTITY,
        "connected": True,
        "control_ok": True,
        "state": example("state"),
        "control": example("control_state"),
    }
    args.update(kw)
    return View(**args)


def test_ac_current_is_the_old_drivers_path_next_to_current() -> None:
    values = render(view())
    assert values["/Ac/Current"] == values["/Current"] == pytest.approx(16.0)
    # the largest phase current, as the old driver published it
    state = example("state")
    state["l1"]["current_a"], state["l2"]["current_a"], state["l3"]["current_a"] = 6.0, 7.5, 7.0
    state["current_a"] = 7.5  # what the bridge publishes: the largest phase
    assert render(view(state=state))["/Ac/Current"] == pytest.approx(7.5)
    assert render(view(connected=False))["/Ac/Current"] is None  # unknown, never 0
    assert not BY_PATH["/Ac/Current"].writable


@pytest.mark.parametrize(
    ("mode", "control_ok", "enabled", "source"),
    [
        (1, True, 1, GX_AUTO_SOURCE),  # our controller runs AUTO
        (0, True, 0, ""),  # MANUAL: the GX shows no external source
        (2, True, 0, ""),  # SCHEDULED
        (1, False, 0, ""),  # the controller is gone: nobody runs AUTO
        (True, True, 0, ""),  # a boolean is not mode 1
    ],
)
def test_gx_auto_mode_says_who_runs_auto(
    mode: Any, control_ok: bool, enabled: int, source: str
) -> None:
    control = example("control_state")
    control["mode"] = mode
    values = render(view(control=control, control_ok=control_ok))
    assert values["/GxAutoMode/Enabled"] == enabled
    assert values["/GxAutoMode/Source"] == source
    assert GX_AUTO_SOURCE == "Alfen controller"
