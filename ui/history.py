"""Session history for the page and ``/api/sessions[.csv]``, read-only.

The controller owns the history (SQLite under ``state_dir``, written by ``control/store.py``).
We read it through that module when it offers a reader, else straight from the SQLite file,
opened read-only (``mode=ro``) so the UI can never lock or change it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

log = logging.getLogger(__name__)

# control/store.py names its file HISTORY_DB ("sessions.sqlite3"); the rest are fallbacks.
DB_NAMES = ("sessions.sqlite3", "sessions.sqlite", "sessions.db")
CSV_FIELDS = (
    "start",
    "end",
    "duration_s",
    "charging_time_s",
    "energy_kwh",
    "cost",
    "currency",
    "solar_share",
    "solar_kwh",
    "battery_kwh",
    "grid_kwh",
)
_ALIASES = {
    "start": ("start", "start_ts", "started_at"),
    "end": ("end", "end_ts", "ended_at"),
    "duration_s": ("duration_s", "time_s"),
    "charging_time_s": ("charging_time_s",),
    "energy_kwh": ("energy_kwh",),
    "cost": ("cost",),
    "currency": ("currency",),
    "solar_share": ("solar_share",),
    "solar_kwh": ("solar_kwh",),
    "battery_kwh": ("battery_kwh",),
    "grid_kwh": ("grid_kwh",),
}


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def normalise(row: Dict[str, Any], currency: str = "") -> Dict[str, Any]:
    """One session in the API's shape, whatever the column names the store uses."""
    out: Dict[str, Any] = {"id": row.get("id")}
    for key, names in _ALIASES.items():
        out[key] = next((_clean(row[n]) for n in names if n in row), None)
    if out["duration_s"] is None and isinstance(out["start"], (int, float)):
        if isinstance(out["end"], (int, float)):
            out["duration_s"] = round(out["end"] - out["start"])
    if out["energy_kwh"] is None and isinstance(row.get("energy_wh"), (int, float)):
        out["energy_kwh"] = round(row["energy_wh"] / 1000.0, 3)
    if not out["currency"]:
        out["currency"] = currency
    return out


class SessionHistory:
    def __init__(self, state_dir: str, limit: int = 500, currency: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.limit = limit
        self.currency = currency

    def source(self) -> str:
        """Where sessions come from: "control.store:<file>", "sqlite:<file>" or "none"."""
        db = self._db_path()
        if db is None:
            return "none"
        return f"{'control.store' if _store_module() else 'sqlite'}:{db.name}"

    def list(self) -> List[Dict[str, Any]]:
        db = self._db_path()
        if db is None:
            return []
        try:
            rows = self._read(db)
        except Exception as exc:  # a broken or locked history must not break the page
            log.warning("cannot read session history %s: %s", db, exc)
            return []
        sessions = [normalise(dict(r), self.currency) for r in rows]
        sessions.sort(key=lambda s: s["start"] or 0, reverse=True)
        return sessions[: self.limit]

    def _db_path(self) -> Optional[Path]:
        store = _store_module()
        names = (getattr(store, "HISTORY_DB", DB_NAMES[0]), *DB_NAMES) if store else DB_NAMES
        for name in names:
            path = self.state_dir / name
            if path.is_file():
                return path
        return None

    def _read(self, db: Path) -> List[Dict[str, Any]]:
        store = _store_module()
        if store is not None and hasattr(store.Store, "open_readonly"):
            # the controller's own row mapping (energy_wh -> kWh, solar share), read-only
            reader = store.Store(str(db.parent))
            reader.open_readonly()
            try:
                return list(reader.history(self.limit))
            finally:
                reader.close()
        # Read-only URI: the UI can never create, lock for writing or change the history.
        con = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=1.0)
        try:
            con.row_factory = sqlite3.Row
            cur = con.execute("SELECT * FROM sessions ORDER BY start DESC LIMIT ?", (self.limit,))
            return [dict(r) for r in cur.fetchall()]
        finally:
            con.close()


def _store_module() -> Any:
    try:
        from control import store  # the controller's module (owner of the history)
    except ImportError:
        return None
    return store


def _iso(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


def _cell(value: Any) -> Any:
    """Empty for unknown; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return value


def to_csv(sessions: List[Dict[str, Any]]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_FIELDS)
    for s in sessions:
        row = [s.get(k) for k in CSV_FIELDS]
        row[0], row[1] = _iso(s.get("start")), _iso(s.get("end"))
        writer.writerow([_cell(v) for v in row])
    return buf.getvalue()
