"""The runner's collaborators one by one, without a broker and without a clock: each is driven
by the ``now`` it is given (control/every.py, commands.py, persister.py, session_book.py,
inputs.py, publisher.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, List, Optional, Tuple

from common.config import validate_config
from common.topics import Topics
from control.commands import CommandSender
from control.every import Every
from control.inputs import ChargerInputs, stale_after_s
from control.model import (
    ChargerView,
    Decision,
    Memory,
    Prices,
    PriceSlot,
    SiteView,
    Snapshot,
    Status,
    UserSettings,
)
from control.persister import HISTORY_RETRY_S, MEMORY_SAVE_S, SESSION_SAVE_S, Persister
from control.publisher import STATE_HEARTBEAT_S, StatePublisher
from control.session import Session
from control.session_book import Pricing, SessionBook
from control.settings import CoreSettings
from control.storage import StorageHealth
from control.store import Store
from tests.fakes import RecordingLink
from tests.helpers import base_config

T = Topics("alfen", "0")
T0 = 1_780_000_000.0


# ---- Every -----------------------------------------------------------------------------------
def test_every_is_due_at_once_then_once_a_period_and_after_a_backward_step() -> None:
    every = Every(10.0)
    assert every.take(T0)  # never done: due
    assert not every.take(T0 + 9.9)
    assert every.take(T0 + 10.0)
    assert every.due(T0 + 10.0 - 3600)  # NTP stepped back an hour: overdue, not an hour late
    every.reset()
    assert every.due(T0 + 10.0)
    started = Every(900.0, last=T0)  # "not before a period passed since start"
    assert not started.due(T0 + 899) and started.due(T0 + 900)


# ---- CommandSender ---------------------------------------------------------------------------
def sender(lease_s: float = 90.0, ceiling_a: float = 16.0) -> Tuple[CommandSender, RecordingLink]:
    link = RecordingLink()
    return CommandSender(T, lambda t, p: link.publish(t, p), lease_s, ceiling_a), link


def decision(amps: float, phases: Optional[int] = None) -> Decision:
    return Decision(amps, phases, Status.CHARGING, "test")


def test_the_setpoint_is_refreshed_every_third_of_the_lease_and_sent_at_once_on_change() -> None:
    cmd, link = sender(lease_s=90.0)
    for s in range(0, 91):
        cmd.send(decision(10.0), 32.0, T0 + s)
    sent_at = [t for (t,) in [(0,), (30,), (60,), (90,)]]
    assert len(link.on(T.cmd_current)) == len(sent_at)  # at 0, 29.9 s late by a tick: 30, 60, 90
    cmd.send(decision(11.0), 32.0, T0 + 91)
    assert link.json_on(T.cmd_current)[-1] == {"amps": 11.0} and cmd.amps == 11.0
    cmd.send(decision(99.0), 12.0, T0 + 92)  # clamped to the user's max, then the ceiling
    cmd.send(decision(99.0), 32.0, T0 + 93)
    assert link.json_on(T.cmd_current)[-2:] == [{"amps": 12.0}, {"amps": 16.0}]


def test_phases_go_out_on_change_and_again_after_a_reconnect() -> None:
    cmd, link = sender()
    for s in range(3):
        cmd.send(decision(10.0, 1), 32.0, T0 + s)
    assert link.json_on(T.cmd_phases) == [{"phases": 1}]
    mark = link.mark()
    cmd.on_connected()
    cmd.send(decision(10.0, 1), 32.0, T0 + 3)  # the setpoint too, though within the lease
    assert link.json_on(T.cmd_phases, mark) == [{"phases": 1}]
    assert link.json_on(T.cmd_current, mark) == [{"amps": 10.0}]


def test_a_shorter_lease_applies_from_the_next_send() -> None:
    cmd, link = sender(lease_s=90.0)
    cmd.send(decision(10.0), 32.0, T0)
    cmd.configure(3.0, 16.0)
    cmd.send(decision(10.0), 32.0, T0 + 1)
    assert len(link.on(T.cmd_current)) == 2


# ---- Persister -------------------------------------------------------------------------------
class CountingStore(Store):
    def __init__(self, state_dir: str) -> None:
        super().__init__(state_dir)
        self.writes: List[str] = []

    def save_memory(self, mem: Memory, now: float) -> None:
        self.writes.append("memory")
        super().save_memory(mem, now)

    def save_session(self, session: Optional[Session]) -> None:
        self.writes.append("session")
        super().save_session(session)

    def save_pv_history(self, data: Any) -> None:
        self.writes.append("pv")
        super().save_pv_history(data)

    def save_idle_meter(self, energy_wh: float) -> None:
        self.writes.append("meter")
        super().save_idle_meter(energy_wh)


def persister(tmp_path: Path) -> Tuple[Persister, CountingStore]:
    store = CountingStore(str(tmp_path / "state"))
    store.open()
    return Persister(store, StorageHealth(), T0), store


def test_memory_is_saved_when_it_changed_and_at_most_every_10_s(tmp_path: Path) -> None:
    p, store = persister(tmp_path)
    for s in range(30):
        p.save_memory(Memory(last_amps=float(s // 5)), T0 + s)  # changes every 5 s
    assert store.writes.count("memory") == 3 and MEMORY_SAVE_S == 10.0  # at 0, 10, 20
    store.writes.clear()
    for s in range(30, 60):
        p.save_memory(Memory(last_amps=5.0), T0 + s)  # the same memory from 30 s on
    assert store.writes.count("memory") == 1


def test_the_session_is_saved_every_minute_and_at_once_when_forced(tmp_path: Path) -> None:
    p, store = persister(tmp_path)
    session = Session(T0, 1000.0, 1000.0, T0)
    for s in range(0, 121):
        p.save_session(session, T0 + s, force=s == 30)
    assert SESSION_SAVE_S == 60.0
    assert store.writes.count("session") == 3  # 0, 30 (forced), 90


def test_learners_are_saved_every_15_minutes_from_start(tmp_path: Path) -> None:
    from control.learners import Learners

    p, store = persister(tmp_path)
    learners = Learners("Europe/Amsterdam")
    for s in range(0, 1801, 60):
        p.save_learners(learners.forecaster, learners.capacity, T0 + s)
    assert store.writes.count("pv") == 2  # at 900 and 1800, not at start


def test_settings_are_written_once_per_burst(tmp_path: Path) -> None:
    p, store = persister(tmp_path)
    for amps in (7.0, 8.0, 9.0):
        p.settings_changed(UserSettings(set_current_a=amps))
    p.save_settings()
    p.save_settings()  # nothing new
    assert store.load_settings(UserSettings()).set_current_a == 9.0


def test_a_refused_history_write_is_retried_every_10_s(tmp_path: Path) -> None:
    p, store = persister(tmp_path)
    now = [0.0]
    tries: List[float] = []

    def full(_s: Session) -> None:
        tries.append(now[0])
        raise OSError(28, "No space left on device")

    store.add_history = full  # type: ignore[method-assign,assignment]
    p.add_history(Session(T0, 0.0, 10.0, T0, end=T0 + 1), T0)
    for s in range(1, 31):
        now[0] = float(s)
        p.retry(T0 + s)
    assert HISTORY_RETRY_S == 10.0
    assert sorted(set(tries)) == [0.0, 10.0, 20.0, 30.0]  # at once, then every 10 s
    assert p.storage.pending


# ---- SessionBook -----------------------------------------------------------------------------
def snap(now: float, plugged: bool, energy_wh: float) -> Snapshot:
    view = ChargerView(
        online=True, vehicle_connected=plugged, energy_wh=energy_wh, power_w=0.0, age_s=0.0
    )
    return Snapshot(now, view, SiteView(), Prices(), UserSettings())


def book(tmp_path: Path, source: str = "static") -> Tuple[SessionBook, CountingStore]:
    p, store = persister(tmp_path)
    cfg = validate_config(base_config(tmp_path, 1502, 1883, pricing={"source": source}))
    return SessionBook(p, Pricing.from_config(cfg)), store


def test_a_session_opens_at_plug_in_ends_at_unplug_and_reaches_the_history(
    tmp_path: Path,
) -> None:
    b, store = book(tmp_path)
    b.track(snap(T0, False, 5000.0), T0)
    b.track(snap(T0 + 1, False, 5000.4), T0 + 1)  # under 1 Wh: the meter is not written again
    assert store.writes.count("meter") == 1 and b.idle_wh == 5000.0
    b.track(snap(T0 + 2, True, 5010.0), T0 + 2)  # plugged in: counts from the idle meter
    assert b.session is not None and b.session.energy_wh == 10.0
    b.track(snap(T0 + 3, True, 6000.0), T0 + 3)
    b.track(snap(T0 + 4, False, 6000.0), T0 + 4)
    assert b.session is None and store.load_session() is None
    assert [r["energy_kwh"] for r in store.history()] == [1.0]


def test_an_offline_charger_keeps_the_session_open(tmp_path: Path) -> None:
    b, _store = book(tmp_path)
    b.track(snap(T0, True, 5000.0), T0)
    offline = Snapshot(T0 + 1, ChargerView(online=False), SiteView(), Prices(), UserSettings())
    b.track(offline, T0 + 1)
    assert b.session is not None and b.session.active


def test_the_price_is_the_tibber_slot_else_the_static_rate(tmp_path: Path) -> None:
    slots = (PriceSlot(T0, T0 + 900, 0.31),)
    tibber, _ = book(tmp_path / "t", "tibber")
    assert tibber.price(Prices(slots, "tibber"), T0 + 10) == 0.31
    assert tibber.price(Prices(slots, "tibber"), T0 + 901) == 0.25  # no slot: the static rate
    static, _ = book(tmp_path / "s")
    assert static.price(Prices(slots, "tibber"), T0 + 10) == 0.25


# ---- ChargerInputs ---------------------------------------------------------------------------
def test_the_charger_is_offline_when_stale_or_the_bridge_says_so() -> None:
    cfg = validate_config(base_config(Path("/tmp"), 1502, 1883, poll_interval_ms=4000))
    inputs = ChargerInputs(stale_after_s(cfg))
    assert inputs.stale_s == 20.0  # five polls of 4 s
    body = {"connected": True, "vehicle_connected": True, "energy_wh": 5.0}
    inputs.on_state(json.dumps(body).encode(), T0)
    assert inputs.view(T0 + 20).online and not inputs.view(T0 + 21).online
    assert inputs.view(T0 - 100).online  # a backward clock step: the state is new, not old
    inputs.on_state(b"{not json", T0 + 1)  # ignored: the last good state stays
    assert inputs.view(T0 + 1).energy_wh == 5.0
    inputs.on_availability(b"offline")
    assert not inputs.view(T0 + 1).online
    inputs.on_availability(b"")
    assert inputs.bridge_online is None and inputs.view(T0 + 1).online
    inputs.on_state(b"", T0 + 2)  # the retained state was cleared
    assert not inputs.view(T0 + 2).online


# ---- StatePublisher --------------------------------------------------------------------------
def publisher(tmp_path: Path, **auto: Any) -> Tuple[StatePublisher, RecordingLink, CoreSettings]:
    cfg = validate_config(base_config(tmp_path, 1502, 1883, auto=auto))
    b, _ = book(tmp_path)
    link = RecordingLink()
    cmd = CommandSender(T, lambda t, p: link.publish(t, p), 90.0, 16.0)
    pub = StatePublisher(T, link, cmd, b, b.persister.storage)
    return pub, link, CoreSettings.from_config(cfg)


def test_control_state_goes_out_on_change_and_every_30_s_then_online(tmp_path: Path) -> None:
    pub, link, settings = publisher(tmp_path)
    pub.on_connected()
    for s in range(61):
        pub.publish(decision(10.0), snap(T0 + s, True, 0.0), Memory(), settings, T0 + s)
    assert STATE_HEARTBEAT_S == 30.0
    assert [round(json.loads(p)["ts"] - T0) for p in link.on(T.control_state)] == [0, 30, 60]
    assert link.published[1][:2] == (T.control_availability, "online")  # after the first state
    waiting = Decision(0.0, None, Status.WAIT_SUN, "test")
    pub.publish(waiting, snap(T0 + 61, True, 0.0), Memory(), settings, T0 + 61)
    assert len(link.on(T.control_state)) == 4  # a change goes out at once


def test_min_current_is_the_configured_auto_minimum(tmp_path: Path) -> None:
    pub, _link, settings = publisher(tmp_path, min_current_a=11)
    body = pub.control_state(decision(10.0), snap(T0, True, 0.0), Memory(), settings, T0)
    assert body["min_current_a"] == 11.0


def test_prices_go_out_only_on_change(tmp_path: Path) -> None:
    pub, link, settings = publisher(tmp_path)
    for s in range(100):
        pub.publish(decision(10.0), snap(T0 + s, True, 0.0), Memory(), settings, T0 + s)
    sent = link.json_on(T.control_prices)
    assert len(sent) == 1 and sent[0]["static_rate"] == 0.25 and sent[0]["currency"] == "EUR"


# ---- SetCommands -----------------------------------------------------------------------------
def test_a_set_command_is_applied_or_rejected_with_its_reason_and_a_burst_answered_once() -> None:
    from common.inbound import Inbox
    from common.mqtt_link import Message
    from control.set_commands import SetCommands

    link = RecordingLink()
    inbox = Inbox("control", T, lambda t, p, retain: link.publish(t, p, retain=retain))
    cmds = SetCommands(T, inbox)
    user = UserSettings(max_current_a=16.0)
    msg = Message(T.control_set("current"), b'{"amps": 20}', False)
    assert cmds.apply(msg, user, 32.0, T0) is None
    err = link.json_on(T.error)[-1]
    assert err["topic"] == T.control_set("current") and "16" in err["error"]
    ok = cmds.apply(Message(T.control_set("current"), b'{"amps": 9}', False), user, 32.0, T0)
    assert ok is not None and ok.set_current_a == 9.0
    assert [cmds.answer_now(T0 + i / 10) for i in range(7)] == [True] + [False] * 4 + [True, False]


def test_the_processes_read_time_only_through_the_injected_clock() -> None:
    """A direct time.time()/monotonic()/sleep() in a process's package would make its timing
    untestable with a ManualClock: the bridge, the controller, the shim and the UI all take a
    common.clock.Clock (common/clock.py is where the real one reads the machine's clocks)."""
    import re

    pattern = re.compile(r"time\.(monotonic|time|sleep)\(")
    root = Path(__file__).resolve().parent.parent
    found = [
        f"{path.relative_to(root)}:{n}"
        for package in ("bridge", "control", "dbus_shim", "ui")
        for path in sorted((root / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
