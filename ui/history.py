"""Session history for the page and ``/api/sessions[.csv]``, read-only.

The controller owns the history (SQLite under ``state_dir``, written by ``control/store.py``).
We read it through that module's read-only reader (``mode=ro``): the UI can never create, lock
or change it.
"""

from __future__ import annotations

import csv
import io
import logging
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Dict, List, Optional

from control.store import HISTORY_DB, Store

log = logging.getLogger(__name__)
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
    "solar_cost",
    "grid_cost",
)


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def normalise(row: Dict[str, Any], currency: str = "") -> Dict[str, Any]:
    """One session of ``Store.history`` in the API's shape (duration and currency added)."""
    out: Dict[str, Any] = {"id": row.get("id")}
    for key in CSV_FIELDS:
        out[key] = _clean(row.get(key))
    if out["duration_s"] is None and isinstance(out["start"], (int, float)):
        if isinstance(out["end"], (int, float)):
            out["duration_s"] = round(out["end"] - out["start"])
    if not out["currency"]:
        out["currency"] = currency
    return out


class SessionHistory:
    def __init__(self, state_dir: str, limit: int = 500, currency: str = "") -> None:
        self.state_dir = Path(state_dir)
        self.limit = limit
        self.currency = currency

    def source(self) -> str:
        """Where sessions come from: "control.store:<file>" or "none"."""
        db = self._db_path()
        return "none" if db is None else f"control.store:{db.name}"

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
        path = self.state_dir / HISTORY_DB
        return path if path.is_file() else None

    def _read(self, db: Path) -> List[Dict[str, Any]]:
        reader = Store(str(db.parent))
        reader.open_readonly()
        try:
            return list(reader.history(self.limit))
        finally:
            reader.close()


def _iso(ts: Any) -> str:
    if not isinstance(ts, (int, float)):
        return ""
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds")


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's CSV injection
# list: TAB and CR too, which some spreadsheets strip before looking at the next character).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """Empty for unknown; text that a spreadsheet would run as a formula is quoted."""
    if value is None:
        return ""
    if isinstance(value, str) and value[:1] in FORMULA_STARTS:
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
