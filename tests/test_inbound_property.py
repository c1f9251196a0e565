"""A property over every topic every process subscribes to, retained delivery at start included:
no payload ends a process or a thread, and no command below 0 or above the station max reaches
register 1210.

Each process is driven in-process through the same entry point its loop uses (the bridge's
``handle_event`` and ``poll_once``, the controller's ``handle`` and ``tick``, the shim's
``apply`` and ``refresh``, the UI feeder's ``handle``): whatever they raise fails the test.
The bridge writes to the simulator's own register model (sim/charger_model.py), so a write is
checked where the charger would take it. The number of inputs each process took is printed as
``inbound property: …`` at the end of the module.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.service import Bridge
from common.clock import ManualClock
from common.config import topics_for, validate_config
from common.mqtt_link import Connected, Message
from common.topics import COMMAND_SCHEMAS, Topics, venus_settings, venus_system
from control.runner import Runner
from control.runner import subscriptions as control_subscriptions
from control.venus import VenusInput, VenusSettings
from dbus_shim.mirror import Shim, ShimConfig
from dbus_shim.store import Store as ShimStore
from sim.charger_model import ChargerModel, ChargerParams
from tests.fakes import ModelLink, RecordingLink, build_runner
from tests.helpers import base_config
from tests.memory_service import MemoryService
from ui.cache import Feeder, StateCache
from ui.cache import subscriptions as ui_subscriptions

STATION_MAX_A = 16.0
CEILING_A = 20.0  # controls.max_set_current: above the station max, as on many sites
PORTAL = "abc123"
COUNT: Dict[str, int] = {"bridge": 0, "control": 0, "dbus": 0, "ui": 0}
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module", autouse=True)
def report_count(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    line = "inbound property: " + ", ".join(f"{k} {v} messages" for k, v in COUNT.items())
    mine = [item for item in request.session.items if item.module is request.module]
    if mine:
        mine[-1].user_properties.append(("summary", line))


# ---- payloads ------------------------------------------------------------------------------
numbers = st.one_of(
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-1, -0.0, 0, 5.99, 6, 16, 16.01, 32, 80, 1e30, 2**63]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=10)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
KEYS = [
    "amps",
    "phases",
    "mode",
    "enabled",
    "value",
    "connected",
    "station_max_current_a",
    "energy_wh",
    "power_w",
    "mode3",
    "serial",
    "ts",
    "l1",
    "session",
]
shaped = st.dictionaries(st.sampled_from(KEYS), json_values, min_size=1, max_size=5)
hostile = st.sampled_from(
    [
        b"",
        b"9" * 5000,
        b'{"amps": ' + b"9" * 5000 + b"}",
        b'{"value": ' + b"9" * 300 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"e":' * 600 + b"1" + b"}" * 600,
        b'{"amps": 1e999}',
        b'{"amps": NaN}',
        b'{"amps": "' + b"x" * 1_000_000 + b'"}',
        b"\xff\xfe",
        b"online",
        b"offline",
    ]
)
payloads = st.one_of(
    st.binary(max_size=60),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v).encode()),
    st.floats(-1e6, 1e6).map(lambda a: json.dumps({"amps": a}).encode()),
    hostile,
)


def concrete(pattern: str, topics: Topics) -> List[str]:
    """The topics a subscription pattern stands for (wildcards filled in)."""
    if pattern.endswith("/+"):
        head = pattern[:-1]
        names = [k for k in COMMAND_SCHEMAS if k.startswith("control/set/")]
        return [head + n.rsplit("/", 1)[1] for n in names] + [head + "bogus"]
    return [pattern.replace("+", PORTAL)]


def messages(topics: List[str]) -> Any:
    return st.lists(
        st.tuples(st.sampled_from(topics), payloads, st.booleans()).map(lambda t: Message(*t)),
        min_size=1,
        max_size=6,
    )


# ---- the bridge ------------------------------------------------------------------------------
def make_config(tmp: Path) -> Dict[str, Any]:
    return validate_config(
        base_config(
            tmp,
            1502,
            1883,
            victron={"portal_id": PORTAL},
            controls={"max_set_current": CEILING_A, "verification_delay": 0},
        )
    )


@pytest.fixture(scope="module")
def cfg(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Any]:
    return make_config(tmp_path_factory.mktemp("inbound"))


def bridge_topics(t: Topics) -> List[str]:
    # what bridge/main.py subscribes to: the commands, the config notice, HA's status
    return [t.cmd_current, t.cmd_phases, t.config_changed, "homeassistant/status"]


@SETTINGS
@given(at_start=messages(bridge_topics(Topics("alfen", "0"))), later=st.data())
def test_bridge_takes_anything_and_1210_stays_in_range(
    cfg: Dict[str, Any], at_start: List[Message], later: st.DataObject
) -> None:
    t = topics_for(cfg)
    model = ChargerModel(ChargerParams(station_max_a=STATION_MAX_A), now=0.0)
    link = ModelLink(model, cfg["modbus"]["ip"], cfg["modbus"]["port"])
    bridge = Bridge(cfg, link, RecordingLink(), t)  # type: ignore[arg-type]
    for msg in at_start:  # retained delivery on subscribing, before the charger answers
        bridge.handle_event(msg)
    bridge.handle_event(Connected())
    bridge.poll_once()
    assert bridge.online
    after = later.draw(messages(bridge_topics(t)))
    for msg in after:
        bridge.handle_event(msg)
        bridge.poll_once()
    COUNT["bridge"] += len(at_start) + len(after)
    for _at, what, value in model.sockets[1].writes:
        if what == "setpoint":
            assert 0 <= value <= STATION_MAX_A, f"1210 got {value} A"


# ---- the controller --------------------------------------------------------------------------
def make_runner(cfg: Dict[str, Any]) -> Tuple[Runner, RecordingLink]:
    link = RecordingLink()
    runner = build_runner(cfg, link, ManualClock(wall=1_780_000_000.0))
    return runner, link


def control_topics() -> List[str]:
    t = Topics("alfen", "0")
    venus = VenusInput(VenusSettings(portal_id=PORTAL))
    out = [x for p in control_subscriptions(t, venus) for x in concrete(p, t)]
    out += [venus_system(PORTAL, "Dc/Battery/Soc"), venus_system(PORTAL, "Ac/Grid/L1/Power")]
    return [*out, venus_settings(PORTAL, "Settings/CGwacs/BatteryLife/MinimumSocLimit")]


@SETTINGS
@given(at_start=messages(control_topics()), later=messages(control_topics()))
def test_controller_takes_anything_and_commands_stay_in_range(
    cfg: Dict[str, Any], at_start: List[Message], later: List[Message]
) -> None:
    runner, link = make_runner(cfg)
    now = 1_780_000_000.0
    for msg in at_start:
        runner.handle(msg, now)
    runner.handle(Connected(), now)
    for i, msg in enumerate(later):
        runner.handle(msg, now + i)
        runner.tick(now + i + 0.5)
    COUNT["control"] += len(at_start) + len(later)
    for topic, payload, _retain in link.published:
        if topic.endswith("/cmd/current"):
            amps = json.loads(payload)["amps"]
            assert 0 <= amps <= CEILING_A, f"commanded {amps} A"
        if topic.endswith("/control/state"):
            json.loads(payload)  # always valid JSON (no NaN)


# ---- the shim --------------------------------------------------------------------------------
def shim_topics() -> List[str]:
    """What the shim subscribes to, asked of the shim itself."""
    cfg = validate_config(base_config(Path("/nonexistent"), 1502, 1883))
    shim = Shim(ShimConfig.from_config(cfg), lambda _t, _p: True, ShimStore(Path("/dev/null")))
    return shim.subscriptions()


@SETTINGS
@given(at_start=messages(shim_topics()), later=messages(shim_topics()))
def test_shim_takes_anything(
    cfg: Dict[str, Any], tmp_path_factory: pytest.TempPathFactory, at_start: Any, later: Any
) -> None:
    sc = ShimConfig.from_config(cfg)
    sent: List[Tuple[str, str]] = []
    store = ShimStore(tmp_path_factory.getbasetemp() / "shim.json")
    shim = Shim(sc, lambda t, p: sent.append((t, p)) is None, store)
    shim.load()
    for msg in at_start:
        shim.apply(msg)
    shim.build(MemoryService("com.victronenergy.evcharger.alfen_0"))
    for msg in later:
        shim.apply(msg)
        shim.refresh()
    COUNT["dbus"] += len(at_start) + len(later)
    assert shim.service is not None


# ---- the UI ----------------------------------------------------------------------------------
@SETTINGS
@given(msgs=messages(list(ui_subscriptions(Topics("alfen", "0")))))
def test_ui_feeder_takes_anything_and_the_status_stays_json(msgs: List[Message]) -> None:
    t = Topics("alfen", "0")
    cache = StateCache(t)
    feeder = Feeder(link=None, cache=cache)
    for msg in msgs:
        feeder.handle(msg)
        cache.sample()
    COUNT["ui"] += len(msgs)
    json.dumps(cache.snapshot(), allow_nan=False)
    json.dumps(cache.graph(), allow_nan=False)
