"""A full state disk is a state: the session that ends meanwhile reaches the history once space
returns, control/state says so in between, and the log says it once on entering and once on
leaving (before: the session was lost, nothing showed on MQTT, and the log had an ERROR a
second)."""

from __future__ import annotations

import errno
import json
import logging
import sqlite3
from pathlib import Path
from typing import Any, List

import pytest

from common.mqtt_link import Message
from common.schemas import validate
from common.topics import Topics
from control.storage import StorageHealth
from control.store import Store
from tests.fakes import RecordingLink
from tests.test_inbound import make_runner

T = Topics("alfen", "0")
T0 = 1_780_000_000.0


def state(now: float, plugged: bool, energy_wh: float, amps: float) -> bytes:
    line = {"voltage_v": 230.0, "current_a": amps, "power_w": amps * 230.0}
    return json.dumps(
        {
            "ts": now,
            "connected": True,
            "mode3": ("C2" if amps else "B2") if plugged else "A",
            "vehicle_connected": plugged,
            "charging": amps > 0,
            "l1": line,
            "l2": line,
            "l3": line,
            "power_w": amps * 690.0,
            "energy_wh": energy_wh,
            "station_max_current_a": 32.0,
        }
    ).encode()


def last_state(link: RecordingLink) -> Any:
    return json.loads(link.on(T.control_state)[-1])


def full_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_space(*_a: Any, **_k: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    def db_full(*_a: Any, **_k: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr("common.atomic.os.replace", no_space)
    monkeypatch.setattr(Store, "add_history", db_full)


def test_a_session_ended_on_a_full_disk_reaches_the_history_when_space_returns(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    runner, link = make_runner(tmp_path)
    energy = 10_000.0
    for i in range(5):  # plugged in, charging
        energy += 5.0
        runner.handle(Message(T.state, state(T0 + i, True, energy, 10.0), True), T0 + i)
        runner.tick(T0 + i)
    assert runner.session is not None
    with pytest.MonkeyPatch.context() as mp, caplog.at_level(logging.INFO, "control.storage"):
        full_disk(mp)
        for i in range(5, 300):  # unplugged at 10 s; the disk stays full for 5 minutes
            plugged = i < 10
            runner.handle(Message(T.state, state(T0 + i, plugged, energy, 0.0), True), T0 + i)
            runner.tick(T0 + i)
        storage = last_state(link)["storage"]
        assert storage["text"] == "storage full: history not saved", storage
        assert storage["full"] is True and storage["unsaved_sessions"] == 1
        assert "history" in storage["failing"]
        validate("control_state", last_state(link))
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert "storage full" in errors[0].getMessage()
    # space is back: the next retry writes the session, and the state says all is well
    with caplog.at_level(logging.INFO, "control.storage"):
        for i in range(300, 320):
            runner.handle(Message(T.state, state(T0 + i, False, energy, 0.0), True), T0 + i)
            runner.tick(T0 + i)
    runner.tick(T0 + 400)  # a heartbeat of control/state
    assert last_state(link)["storage"] is None
    history = runner.store.history()
    assert len(history) == 1 and history[0]["energy_kwh"] == pytest.approx(0.020)  # 4 steps of 5 Wh
    infos = [r.getMessage() for r in caplog.records if "writable again" in r.getMessage()]
    assert len(infos) == 1


def test_storage_health_by_itself() -> None:
    health = StorageHealth()
    assert health.summary() is None
    written: List[float] = []

    def refuse(_s: Any) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    from control.session import Session

    health.add_session(Session(1.0, 0.0, 10.0, 1.0, end=2.0), refuse)
    assert health.text() == "storage not writable: history not saved"
    health.attempt("settings", lambda: None)  # another write works: the session still waits
    assert health.summary() is not None and health.summary()["unsaved_sessions"] == 1
    health.flush(lambda s: written.append(s.start))
    assert written == [1.0] and health.summary() is None
