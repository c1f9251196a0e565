"""Clock and disk faults at the runner/store level, with simulated time (no processes).

The runner takes its time from an injectable clock (``Runner(clock=…)``) and ``tick(now)`` /
``handle(event, now)`` take ``now`` explicitly, so a night with a DST change or an NTP step is
a loop over simulated instants. A toy charger turns each commanded current into energy on a
lifetime register, and every tick checks: commanded amps are 0 or 6..set current, the session
energy equals the register delta, one session only.
"""

from __future__ import annotations

import datetime as dt
import errno
import json
import os
import random
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import pytest
import pytz
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.setpoint import KeeperSettings, Readings, SetpointKeeper
from common.config import validate_config
from common.mqtt_link import Message
from common.topics import Topics
from control.model import Memory, Mode, UserSettings
from control.runner import Runner
from control.session import Session
from control.store import Store
from tests.fakes import build_runner
from tests.helpers import base_config

pytestmark = pytest.mark.faults
T = Topics("alfen", "0")
TZ = pytz.timezone("Europe/Amsterdam")
SET_A = 10.0
LEASE_S = 30.0


class FakeLink:
    """The runner's MQTT port: records what it publishes."""

    def __init__(self) -> None:
        self.published: List[Tuple[str, str]] = []
        self.sent_ticks: List[int] = []  # drive() notes the tick index of every cmd/current

    def start(self) -> None: ...
    def stop(self, final: Optional[Tuple[str, str]] = None) -> None: ...
    def subscribe(self, topic: str) -> None: ...

    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool:
        self.published.append((topic, payload if isinstance(payload, str) else payload.decode()))
        return True

    def next_event(self, timeout_s: float) -> None:
        return None

    def commands(self) -> List[float]:
        return [json.loads(p)["amps"] for t, p in self.published if t == T.cmd_current]


class ToyCharger:
    """Lifetime register that grows with the last commanded current (3 phases, 230 V)."""

    def __init__(self) -> None:
        self.energy_wh = 100_000.0
        self.amps = 0.0

    def advance(self, dt_s: float) -> None:
        if self.amps >= 6 and dt_s > 0:
            self.energy_wh += self.amps * 690.0 * dt_s / 3600.0

    def state(self, now: float) -> bytes:
        line = {"voltage_v": 230.0, "current_a": self.amps, "power_w": self.amps * 230.0}
        return json.dumps(
            {
                "ts": now,
                "connected": True,
                "mode3": "C2" if self.amps >= 6 else "B2",
                "vehicle_connected": True,
                "charging": self.amps >= 6,
                "fault": False,
                "l1": line,
                "l2": line,
                "l3": line,
                "power_w": self.amps * 690.0,
                "energy_wh": round(self.energy_wh, 1),
                "phases_measured": 3 if self.amps >= 6 else None,
                "station_max_current_a": 32.0,
            }
        ).encode()


def make_runner(tmp: Path, **cfg: Any) -> Tuple[Runner, FakeLink, Dict[str, Any]]:
    raw = base_config(
        tmp,
        1502,
        1883,
        controls={"command_lease_seconds": LEASE_S, "phase_switching": False},
        defaults={"intended_set_current": SET_A},
        **cfg,
    )
    config = validate_config(raw)
    link = FakeLink()
    runner = build_runner(config, link)
    runner.load()
    return runner, link, config


def local_ts(y: int, mo: int, d: int, h: int, mi: int = 0, is_dst: Optional[bool] = None) -> float:
    return TZ.localize(dt.datetime(y, mo, d, h, mi), is_dst=is_dst).timestamp()


def in_window(now: float) -> bool:
    local = dt.datetime.fromtimestamp(now, TZ)
    return 1 <= local.hour < 4


def drive(
    runner: Runner, link: FakeLink, car: ToyCharger, times: List[float], check_window: bool
) -> List[str]:
    """Tick through ``times``; returns problems (empty = fine)."""
    problems: List[str] = []
    runner.handle(Message(T.availability, b"online", True), times[0])
    prev = times[0]
    start: Optional[float] = None
    first_wh: Optional[float] = None
    for i, now in enumerate(times):
        car.advance(now - prev)
        prev = now
        before = len(link.commands())
        runner.handle(Message(T.state, car.state(now), True), now)
        runner.tick(now)
        cmds = link.commands()
        if len(cmds) > before:
            link.sent_ticks.append(i)
        if cmds:
            car.amps = cmds[-1]
        amps = runner.commands.amps
        if amps is not None and not (amps == 0 or 6 <= amps <= SET_A):
            problems.append(f"{now}: commanded {amps} A")
        if check_window and amps is not None and (amps > 0) != in_window(now):
            local = dt.datetime.fromtimestamp(now, TZ)
            # the tick at a window edge may still show the previous decision
            if local.minute not in (0, 59):
                problems.append(f"{local.isoformat()}: commanded {amps} A")
        s = runner.session
        if s is None:
            problems.append(f"{now}: no session")
            continue
        if start is None:
            start, first_wh = s.start, s.start_energy_wh
        if s.start != start:
            problems.append(f"{now}: a second session started")
        assert first_wh is not None
        delta = round(car.energy_wh, 1) - first_wh
        if abs(s.energy_wh - delta) > 0.2:
            problems.append(f"{now}: session {s.energy_wh:.1f} Wh != register {delta:.1f} Wh")
    return problems


def test_dst_end_night_in_scheduled(tmp_path: Path) -> None:
    """Window 01:00–04:00 local on the night the clocks go back (2026-10-25 03:00 CEST →
    02:00 CET): the window lasts 4 real hours, charging follows the wall clock, no Wh lost."""
    runner, link, _cfg = make_runner(
        tmp_path,
        schedule={"items": [{"active": True, "start_time": "01:00", "end_time": "04:00"}]},
    )
    runner.user = UserSettings(
        mode=Mode.SCHEDULED, enabled=True, auto_start=True, set_current_a=SET_A, max_current_a=SET_A
    )
    t0 = local_ts(2026, 10, 25, 0, 30)
    times = [t0 + 30.0 * i for i in range(int(5 * 3600 / 30))]
    car = ToyCharger()
    problems = drive(runner, link, car, times, check_window=True)
    assert not problems, problems[:5]
    charged_s = sum(30 for t in times if in_window(t))
    assert charged_s == 4 * 3600  # 01:00 CEST … 04:00 CET is four real hours
    assert runner.session is not None
    assert runner.session.charging_time_s == pytest.approx(4 * 3600, abs=120)


def test_dst_start_night_in_scheduled(tmp_path: Path) -> None:
    """The night the clocks go forward (2026-03-29 02:00 CET → 03:00 CEST): 2 real hours."""
    runner, link, _cfg = make_runner(
        tmp_path,
        schedule={"items": [{"active": True, "start_time": "01:00", "end_time": "04:00"}]},
    )
    runner.user = UserSettings(
        mode=Mode.SCHEDULED, enabled=True, auto_start=True, set_current_a=SET_A, max_current_a=SET_A
    )
    t0 = local_ts(2026, 3, 29, 0, 30)
    times = [t0 + 30.0 * i for i in range(int(4 * 3600 / 30))]
    problems = drive(runner, link, ToyCharger(), times, check_window=True)
    assert not problems, problems[:5]
    assert runner.session is not None
    assert runner.session.charging_time_s == pytest.approx(2 * 3600, abs=120)


@pytest.mark.parametrize(
    "step_s",
    [
        3600.0,
        -3600.0,
        86400.0,
        -300.0,
    ],
)
@pytest.mark.parametrize("mode", ["manual", "scheduled"])
def test_ntp_step_keeps_commanding(tmp_path: Path, step_s: float, mode: str) -> None:
    """An NTP step of the wall clock mid-session (MANUAL 10 A, or SCHEDULED inside a
    10:00–16:00 window that every step lands in again): the session goes on with exact energy,
    charging time does not jump, and the setpoint keeps being re-sent at least every lease/3 of
    *elapsed* time, or the bridge's lease lapses and the charger falls back to its safe current
    behind the controller's back (or, paused at 0 A, starts charging)."""
    window = {"items": [{"active": True, "start_time": "10:00", "end_time": "16:00"}]}
    runner, link, _cfg = make_runner(tmp_path, **({"schedule": window} if mode != "manual" else {}))
    if mode == "scheduled":
        runner.user = UserSettings(
            mode=Mode.SCHEDULED,
            enabled=True,
            auto_start=True,
            set_current_a=SET_A,
            max_current_a=SET_A,
        )
    t0 = local_ts(2026, 6, 1, 12)
    times = [t0 + i for i in range(120)] + [t0 + step_s + 120 + i for i in range(120)]
    car = ToyCharger()
    problems = drive(runner, link, car, times, check_window=False)
    assert not problems, problems[:5]
    assert runner.session is not None
    assert runner.session.charging_time_s <= 240 + 1
    assert link.commands()[-1] == SET_A, "not charging after the step"
    # one tick per real second: after the step, cmd/current must go out every ≤ lease/3 ticks
    after = [i for i in link.sent_ticks if i >= 120]
    gaps = [b - a for a, b in zip([119, *after], [*after, len(times)])]
    assert max(gaps) <= LEASE_S / 3 + 1, (
        f"after a {step_s:+.0f} s clock step cmd/current went out at ticks {after[:5]} "
        f"(of 120..239): the bridge's {LEASE_S:g} s lease lapses"
    )


def test_bridge_lease_measured_on_elapsed_time() -> None:
    """The bridge's lease is measured on the clock the bridge passes in (time.time): after a
    backward NTP step of 1 h the keeper would go on refreshing for an hour without commands."""
    keeper = SetpointKeeper(KeeperSettings(lease_s=90.0))
    wall = 1_800_000_000.0
    keeper.command_current(10.0, wall)
    readings = Readings(setpoint_a=10.0, validity_s=1, accounted=True, station_max_a=32.0)
    assert keeper.next_action(wall + 1, readings) is not None  # refresh while leased
    # 100 s of real time pass without a command, but the wall clock was stepped back 1 h
    stepped = wall + 100 - 3600
    assert not keeper.refreshing(stepped), "lease still running 100 s after the last command"


# ---- disk full / read-only -------------------------------------------------------------------
def test_disk_full_while_persisting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ENOSPC on every atomic replace (disk full or read-only): the runner logs, keeps
    commanding and counting; once the disk is back the session is saved and resumes."""
    runner, link, cfg = make_runner(tmp_path)
    car = ToyCharger()
    t0 = local_ts(2026, 6, 1, 12)
    problems = drive(runner, link, car, [t0 + i for i in range(5)], check_window=False)
    assert not problems

    def full(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    real_replace = os.replace
    monkeypatch.setattr("common.atomic.os.replace", full)
    times = [t0 + 5 + i for i in range(130)]  # > SESSION_SAVE_S: a session save is attempted
    problems = drive(runner, link, car, times, check_window=False)
    assert not problems, problems[:5]
    runner.handle(Message(T.control_set("current"), b'{"amps": 8}', False), times[-1])
    assert runner.user.set_current_a == 8.0  # applied although it could not be saved
    assert link.commands()[-1] == 8.0
    leftovers = [p.name for p in Path(cfg["state_dir"]).iterdir() if p.name.endswith(".tmp")]
    assert not leftovers, f"temp files left behind: {leftovers}"
    monkeypatch.setattr("common.atomic.os.replace", real_replace)
    runner.shutdown()  # saves the session now that the disk is back
    again, _link, _ = make_runner(tmp_path)
    assert again.session is not None and runner.session is not None
    assert again.session.start == runner.session.start
    assert again.session.energy_wh == pytest.approx(runner.session.energy_wh)


# ---- truncated state files -------------------------------------------------------------------
def _seed_store(d: Path) -> Dict[str, bytes]:
    store = Store(str(d))
    store.open()
    store.save_settings(UserSettings(mode=Mode.AUTO, set_current_a=12.0, max_current_a=16.0))
    store.save_session(Session(1000.0, 5000.0, 6000.0, 1100.0, charging_time_s=90.0))
    store.save_memory(Memory(), 1100.0)
    for i in range(20):
        store.add_history(Session(100.0 + i, 0.0, 1000.0 + i, 150.0 + i, end=200.0 + i))
    store.close()
    return {p.name: p.read_bytes() for p in d.iterdir()}


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    name=st.sampled_from(["settings.json", "session.json", "memory.json"]),
    cut=st.floats(0.0, 1.0),
)
def test_json_state_truncated_at_any_byte(tmp_path: Path, name: str, cut: float) -> None:
    """A JSON state file cut at any byte: loads as defaults/None, moved aside, never raises."""
    d = tmp_path / f"s{random.getrandbits(32)}"
    files = _seed_store(d)
    data = files[name]
    n = int(cut * (len(data) - 1))
    (d / name).write_bytes(data[:n])
    store = Store(str(d))
    store.open()
    defaults = UserSettings()
    settings_ = store.load_settings(defaults)
    session = store.load_session()
    store.load_memory(1100.0, 300.0)
    store.close()
    if name == "settings.json" and n < len(data) - 1:
        assert settings_ in (defaults, UserSettings(Mode.AUTO, True, True, 12.0, 16.0))
    if name == "session.json":
        assert session is None or session.energy_wh == 1000.0
    if n > 0:  # an empty file is not JSON either; anything cut is moved aside or parses
        names = {p.name for p in d.iterdir()}
        assert (
            name not in names
            or any(x.startswith(name + ".corrupt-") for x in names)
            or (json.loads((d / name).read_bytes()) is not None)
        )


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.floats(0.001, 0.99))
def test_history_truncated_at_any_byte(tmp_path: Path, cut: float) -> None:
    d = tmp_path / f"h{random.getrandbits(32)}"
    files = _seed_store(d)
    data = files["sessions.sqlite3"]
    (d / "sessions.sqlite3").write_bytes(data[: max(1, int(cut * len(data)))])
    store = Store(str(d))
    store.open()  # must not raise: move the broken database aside and start a new one
    store.add_history(Session(5000.0, 0.0, 10.0, 5001.0, end=5002.0))
    assert store.history()[0]["start"] == 5000.0
    store.close()


def test_state_dir_is_a_file_exits_cleanly(tmp_path: Path) -> None:
    """An unusable state dir (here: the path is a file) is a start-up error: exit 1 with a
    message naming the problem, no traceback (the supervisor restarts it)."""
    from tests.helpers import Proc, free_port, write_config

    blocker = tmp_path / "state"
    blocker.write_text("not a directory")
    cfg = base_config(tmp_path, free_port(), free_port())
    proc = Proc(
        "control", "--config", str(write_config(tmp_path / "c.yaml", cfg)), log_dir=tmp_path
    )
    proc.start()
    assert proc.proc is not None
    assert proc.proc.wait(30) == 1
    log = proc.log()
    assert "cannot run" in log and "Traceback" not in log, log[-2000:]
