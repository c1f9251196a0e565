"""Persistence: atomic writes, corrupt and truncated files, history in SQLite with CSV export."""

from __future__ import annotations

import csv
import io
import json
import random
from pathlib import Path

import pytest

from control.model import Memory, Mode, UserSettings
from control.session import Session
from control.store import MEMORY_FILE, SESSION_FILE, SETTINGS_FILE, Store

DEFAULTS = UserSettings(set_current_a=6.0, max_current_a=16.0)
CHOSEN = UserSettings(
    mode=Mode.AUTO,
    enabled=False,
    auto_start=False,
    set_current_a=10.0,
    max_current_a=20.0,
    deadline=(12.5, "07:30"),
)
SESSION = Session(
    start=100.0,
    start_energy_wh=5000.0,
    last_energy_wh=6500.0,
    last_update=200.0,
    charging_time_s=90.0,
    cost=0.4,
    solar_wh=1000.0,
    grid_wh=500.0,
)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    s = Store(str(tmp_path / "state"))
    s.open()
    yield s
    s.close()


def test_settings_and_session_round_trip(store: Store) -> None:
    assert store.load_settings(DEFAULTS) == DEFAULTS
    store.save_settings(CHOSEN)
    assert store.load_settings(DEFAULTS) == CHOSEN
    assert store.load_session() is None
    store.save_session(SESSION)
    assert store.load_session() == SESSION
    store.save_session(None)
    assert store.load_session() is None


def test_write_leaves_no_temp_files_and_private_mode(store: Store) -> None:
    store.save_settings(CHOSEN)
    names = sorted(p.name for p in store.dir.iterdir())
    assert not [n for n in names if n.endswith(".tmp")]
    assert (store.dir / SETTINGS_FILE).stat().st_mode & 0o077 == 0


def test_corrupt_settings_moved_aside_with_a_warning(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    (store.dir / SETTINGS_FILE).write_text("{not json")
    assert store.load_settings(DEFAULTS) == DEFAULTS
    assert not (store.dir / SETTINGS_FILE).exists()
    assert list(store.dir.glob(SETTINGS_FILE + ".corrupt-*"))
    assert "corrupt" in caplog.text


@pytest.mark.parametrize("seed", range(8))
def test_truncated_at_a_random_byte_never_crashes(store: Store, seed: int) -> None:
    store.save_settings(CHOSEN)
    store.save_session(SESSION)
    rng = random.Random(seed)
    for name in (SETTINGS_FILE, SESSION_FILE):
        raw = (store.dir / name).read_bytes()
        (store.dir / name).write_bytes(raw[: rng.randrange(0, len(raw))])
    settings = store.load_settings(DEFAULTS)
    assert settings in (DEFAULTS, CHOSEN) or isinstance(settings, UserSettings)
    session = store.load_session()
    assert session is None or session == SESSION


def test_bad_fields_fall_back_one_by_one(store: Store) -> None:
    body = {
        "mode": 7,
        "enabled": "yes",
        "set_current_a": 10,
        "max_current_a": 500,
        "deadline": [1, 2],
    }
    (store.dir / SETTINGS_FILE).write_text(json.dumps(body))
    got = store.load_settings(DEFAULTS)
    assert got == UserSettings(set_current_a=10.0, max_current_a=16.0)


def test_invalid_session_is_ignored(store: Store) -> None:
    (store.dir / SESSION_FILE).write_text(json.dumps({"session": {"start": "x"}}))
    assert store.load_session() is None


def test_memory_round_trip_and_expiry(store: Store) -> None:
    mem = Memory(last_amps=10.0, phases=1, charging_since=50.0, trend_w=1500.0, topup=True)
    store.save_memory(mem, now=100.0)
    assert store.load_memory(now=150.0, max_age_s=300) == mem
    assert store.load_memory(now=1000.0, max_age_s=300) is None  # old timers mean nothing
    (store.dir / MEMORY_FILE).write_text(json.dumps({"saved_at": 100.0, "memory": {"bogus": 1}}))
    assert store.load_memory(now=150.0, max_age_s=300) == Memory()


def test_history_is_idempotent_and_exports_csv(store: Store) -> None:
    ended = Session(**{**SESSION.to_dict(), "end": 300.0})
    store.add_history(ended)
    store.add_history(ended)  # a replay after a crash does not duplicate
    second = Session(
        start=400.0,
        start_energy_wh=0.0,
        last_energy_wh=2000.0,
        last_update=500.0,
        grid_wh=2000.0,
        end=500.0,
    )
    store.add_history(second)
    rows = store.history()
    assert [r["start"] for r in rows] == [400.0, 100.0]
    assert rows[1]["energy_kwh"] == 1.5 and rows[1]["solar_share"] == pytest.approx(2 / 3, abs=1e-3)
    out = io.StringIO()
    text = store.export_csv(out)
    assert out.getvalue() == text
    parsed = list(csv.DictReader(io.StringIO(text)))
    assert [float(r["start"]) for r in parsed] == [100.0, 400.0]
    assert float(parsed[1]["solar_share"]) == 0.0 and float(parsed[1]["grid_kwh"]) == 2.0


def test_history_survives_reopen(tmp_path: Path) -> None:
    s = Store(str(tmp_path))
    s.open()
    s.add_history(Session(**{**SESSION.to_dict(), "end": 300.0}))
    s.close()
    s2 = Store(str(tmp_path))
    s2.open()
    assert len(s2.history()) == 1
    s2.close()


def test_history_keeps_the_cost_split_and_reads_an_older_database(tmp_path: Path) -> None:
    """A database written before the split has no solar_cost/grid_cost: the UI reads it
    read-only as it is (parts unknown), and the controller adds the columns on open."""
    import sqlite3

    from control.store import HISTORY_DB

    old = sqlite3.connect(str(tmp_path / HISTORY_DB))
    old.execute(
        "CREATE TABLE sessions (id INTEGER PRIMARY KEY AUTOINCREMENT, start REAL NOT NULL UNIQUE,"
        " end REAL, energy_wh REAL NOT NULL, charging_time_s REAL, cost REAL, solar_wh REAL,"
        " battery_wh REAL, grid_wh REAL)"
    )
    old.execute("INSERT INTO sessions VALUES (1, 10.0, 20.0, 1000.0, 10.0, 0.25, 1000.0, 0, 0)")
    old.commit()
    old.close()
    reader = Store(str(tmp_path))
    reader.open_readonly()
    (row,) = reader.history()
    reader.close()
    assert row["cost"] == 0.25 and row["solar_cost"] is None and row["grid_cost"] is None
    s = Store(str(tmp_path))
    s.open()
    split = Session(
        start=100.0,
        start_energy_wh=0.0,
        last_energy_wh=2000.0,
        last_update=200.0,
        cost=0.3,
        solar_wh=1000.0,
        grid_wh=1000.0,
        end=200.0,
        solar_cost=0.0,
        grid_cost=0.3,
    )
    s.add_history(split)
    new, old_row = s.history()
    assert (new["solar_cost"], new["grid_cost"], new["cost"]) == (0.0, 0.3, 0.3)
    assert old_row["solar_cost"] is None and old_row["cost"] == 0.25
    parsed = list(csv.DictReader(io.StringIO(s.export_csv())))
    s.close()
    assert parsed[0]["solar_cost"] == "" and parsed[1]["grid_cost"] == "0.3"
