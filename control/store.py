"""Persistence of the controller: user settings and the open session as JSON, history in SQLite.

Both JSON files are written atomically (common.atomic: temp file, fsync, rename), so a crash at
any instant leaves the old or the new content. A file that does not parse is moved aside with a
warning and the defaults apply; a field with a bad value falls back to its default alone. The
session history is an SQLite table (stdlib sqlite3, which journals every commit) with a CSV
export.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import sqlite3
from dataclasses import asdict, fields, replace
from pathlib import Path
from typing import Any, Dict, List, Optional, TextIO

from common.atomic import read_json_or_quarantine, write_json_atomic
from common.clock import SYSTEM_CLOCK, Clock
from common.evcs import MIN_CURRENT_A
from control.model import Memory, Mode, UserSettings
from control.session import Session, cost_split

log = logging.getLogger(__name__)

SETTINGS_FILE = "settings.json"
SESSION_FILE = "session.json"
MEMORY_FILE = "memory.json"
METER_FILE = "meter.json"  # the lifetime meter when the socket was last seen without a car
PV_HISTORY_FILE = "pv_history.json"  # the PV forecast's memory (control/forecast.py)
BATTERY_FILE = "battery.json"  # the learned battery capacity (control/battery_capacity.py)
HISTORY_DB = "sessions.sqlite3"
CSV_COLUMNS = (
    "id",
    "start",
    "end",
    "energy_kwh",
    "charging_time_s",
    "cost",
    "solar_share",
    "solar_kwh",
    "battery_kwh",
    "grid_kwh",
    "solar_cost",
    "grid_cost",
)
# Columns added after the first release: an older database gets them on open (NULL = unknown).
SPLIT_COLUMNS = ("solar_cost", "grid_cost")


def settings_to_dict(s: UserSettings) -> Dict[str, Any]:
    return {
        "mode": int(s.mode),
        "enabled": s.enabled,
        "auto_start": s.auto_start,
        "set_current_a": s.set_current_a,
        "max_current_a": s.max_current_a,
        "deadline": None if s.deadline is None else [s.deadline[0], s.deadline[1]],
    }


def settings_from_dict(raw: Any, defaults: UserSettings) -> UserSettings:
    """Take each valid field from ``raw``; a bad field keeps its default (with a warning)."""
    if not isinstance(raw, dict):
        return defaults
    out = defaults
    checks = {
        "mode": lambda v: Mode(int(v)) if not isinstance(v, bool) else _bad(),
        "enabled": lambda v: v if isinstance(v, bool) else _bad(),
        "auto_start": lambda v: v if isinstance(v, bool) else _bad(),
        "set_current_a": lambda v: _amps(v, 0.0),
        "max_current_a": lambda v: _amps(v, MIN_CURRENT_A),
        "deadline": _deadline,
    }
    for key, check in checks.items():
        if key not in raw:
            continue
        try:
            out = replace(out, **{key: check(raw[key])})
        except (TypeError, ValueError):
            log.warning(
                "stored setting %s=%r is invalid; using %r", key, raw[key], getattr(out, key)
            )
    return out


def _bad() -> Any:
    raise ValueError("bad value")


def _amps(v: Any, low: float) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not low <= v <= 80:
        raise ValueError("bad current")
    return float(v)


def _deadline(v: Any) -> Any:
    if v is None:
        return None
    if isinstance(v, list) and len(v) == 2 and isinstance(v[1], str):
        energy = v[0]
        if not isinstance(energy, bool) and isinstance(energy, (int, float)) and 0 < energy <= 200:
            return (float(energy), v[1])
    raise ValueError("bad deadline")


def _hashable(v: Any) -> Any:
    return tuple(_hashable(x) for x in v) if isinstance(v, list) else v


def memory_from_dict(raw: Dict[str, Any]) -> Optional[Memory]:
    names = {f.name for f in fields(Memory)}
    kwargs = {k: _hashable(v) for k, v in raw.items() if k in names}
    try:
        return Memory(**kwargs)
    except TypeError:
        log.warning("stored controller memory is invalid; starting fresh")
        return None


class Store:
    """The files under ``state_dir``. Constructing it touches nothing; ``open`` creates the dir."""

    def __init__(self, state_dir: str, clock: Clock = SYSTEM_CLOCK) -> None:
        self.dir = Path(state_dir)
        self.clock = clock  # names a damaged database moved aside
        self._db: Optional[sqlite3.Connection] = None

    def open(self) -> None:
        """Open (or create) the history; a damaged database is moved aside, not fatal."""
        self.dir.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._connect_checked()
        except sqlite3.DatabaseError as exc:
            path = self.dir / HISTORY_DB
            aside = path.with_name(f"{path.name}.corrupt-{int(self.clock.wall())}")
            if self._db is not None:
                self._db.close()
                self._db = None
            os.replace(path, aside)
            log.warning(
                "session history %s is corrupt (%s); moved to %s, starting a new one",
                path,
                exc,
                aside,
            )
            self._db = self._connect_checked()

    def _connect_checked(self) -> sqlite3.Connection:
        db = sqlite3.connect(str(self.dir / HISTORY_DB))
        self._db = db
        row = db.execute("PRAGMA quick_check").fetchone()
        if row is None or row[0] != "ok":
            raise sqlite3.DatabaseError(f"quick_check: {row[0] if row else 'no answer'}")
        db.execute(
            "CREATE TABLE IF NOT EXISTS sessions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
            " start REAL NOT NULL UNIQUE, end REAL, energy_wh REAL NOT NULL,"
            " charging_time_s REAL, cost REAL, solar_wh REAL, battery_wh REAL, grid_wh REAL)"
        )
        have = {r[1] for r in db.execute("PRAGMA table_info(sessions)")}
        for column in SPLIT_COLUMNS:
            if column not in have:
                db.execute(f"ALTER TABLE sessions ADD COLUMN {column} REAL")
        db.commit()
        return db

    def open_readonly(self) -> None:
        """Open the history for reading only (the UI): never creates, locks or changes it."""
        path = (self.dir / HISTORY_DB).resolve()
        self._db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True, timeout=1.0)

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None

    # --- settings ------------------------------------------------------------------------
    def load_settings(self, defaults: UserSettings) -> UserSettings:
        return settings_from_dict(read_json_or_quarantine(self.dir / SETTINGS_FILE), defaults)

    def save_settings(self, settings: UserSettings) -> None:
        write_json_atomic(self.dir / SETTINGS_FILE, settings_to_dict(settings))

    # --- open session --------------------------------------------------------------------
    def load_idle_meter(self) -> Optional[float]:
        raw = read_json_or_quarantine(self.dir / METER_FILE)
        value = raw.get("idle_energy_wh") if isinstance(raw, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
            return float(value)
        return None

    def save_idle_meter(self, energy_wh: float) -> None:
        write_json_atomic(self.dir / METER_FILE, {"idle_energy_wh": energy_wh})

    def load_pv_history(self) -> Any:
        """The forecaster's JSON as saved (it drops whatever is malformed), or None."""
        return read_json_or_quarantine(self.dir / PV_HISTORY_FILE)

    def save_pv_history(self, data: Dict[str, Any]) -> None:
        write_json_atomic(self.dir / PV_HISTORY_FILE, data)

    def load_battery(self) -> Any:
        """What ``CapacityLearner.to_json`` saved (None if nothing yet)."""
        return read_json_or_quarantine(self.dir / BATTERY_FILE)

    def save_battery(self, data: Dict[str, Any]) -> None:
        write_json_atomic(self.dir / BATTERY_FILE, data)

    def load_session(self) -> Optional[Session]:
        raw = read_json_or_quarantine(self.dir / SESSION_FILE)
        if raw is None:
            return None
        session = Session.from_dict(raw.get("session") if isinstance(raw, dict) else None)
        if session is None and isinstance(raw, dict) and raw.get("session") is not None:
            log.warning("stored session in %s is invalid; ignoring it", self.dir / SESSION_FILE)
        return session

    def save_session(self, session: Optional[Session]) -> None:
        value = None if session is None else session.to_dict()
        write_json_atomic(self.dir / SESSION_FILE, {"session": value})

    # --- the core's memory (timers as timestamps) ------------------------------------------
    def load_memory(self, now: float, max_age_s: float) -> Optional[Memory]:
        """The core's memory if saved less than ``max_age_s`` ago (older timers mean nothing)."""
        raw = read_json_or_quarantine(self.dir / MEMORY_FILE)
        if not isinstance(raw, dict) or not isinstance(raw.get("memory"), dict):
            return None
        saved_at = raw.get("saved_at")
        if not isinstance(saved_at, (int, float)) or not 0 <= now - saved_at <= max_age_s:
            return None
        return memory_from_dict(raw["memory"])

    def save_memory(self, mem: Memory, now: float) -> None:
        write_json_atomic(self.dir / MEMORY_FILE, {"saved_at": now, "memory": asdict(mem)})

    # --- history -------------------------------------------------------------------------
    def add_history(self, s: Session) -> None:
        """Record an ended session (idempotent on its start time: a replay after a crash)."""
        assert self._db is not None, "Store.open() first"
        solar_cost, grid_cost = cost_split(s)
        self._db.execute(
            "INSERT OR REPLACE INTO sessions (start, end, energy_wh, charging_time_s, cost,"
            " solar_wh, battery_wh, grid_wh, solar_cost, grid_cost)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                s.start,
                s.end,
                s.energy_wh,
                s.charging_time_s,
                s.cost,
                s.solar_wh,
                s.battery_wh,
                s.grid_wh,
                solar_cost,
                grid_cost,
            ),
        )
        self._db.commit()

    def history(self, limit: int = 100) -> List[Dict[str, Any]]:
        assert self._db is not None, "Store.open() first"
        have = {r[1] for r in self._db.execute("PRAGMA table_info(sessions)")}
        # a database the controller has not upgraded yet (the UI reads it read-only)
        split = ", ".join(c if c in have else "NULL" for c in SPLIT_COLUMNS)
        rows = self._db.execute(
            "SELECT id, start, end, energy_wh, charging_time_s, cost, solar_wh, battery_wh,"
            f" grid_wh, {split} FROM sessions ORDER BY start DESC LIMIT ?",
            (limit,),
        ).fetchall()
        out = []
        for rid, start, end, e_wh, ct, cost, sol, bat, grid, s_cost, g_cost in rows:
            total = (sol or 0) + (bat or 0) + (grid or 0)
            out.append(
                {
                    "id": rid,
                    "start": start,
                    "end": end,
                    "energy_kwh": round(e_wh / 1000.0, 3),
                    "charging_time_s": round(ct or 0),
                    "cost": None if cost is None else round(cost, 4),
                    "solar_share": round(sol / total, 3) if total > 0 else None,
                    "solar_kwh": round((sol or 0) / 1000.0, 3),
                    "battery_kwh": round((bat or 0) / 1000.0, 3),
                    "grid_kwh": round((grid or 0) / 1000.0, 3),
                    "solar_cost": None if s_cost is None else round(s_cost, 4),
                    "grid_cost": None if g_cost is None else round(g_cost, 4),
                }
            )
        return out

    def export_csv(self, out: Optional[TextIO] = None, limit: int = 100000) -> str:
        """Write the history as CSV (oldest first) to ``out``; also returns the text."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
        writer.writeheader()
        for row in reversed(self.history(limit)):
            writer.writerow(row)
        text = buf.getvalue()
        if out is not None:
            out.write(text)
        return text
