"""Tibber day-ahead prices (15-minute slots) over GraphQL, with a disk cache and a polite schedule.

Only urllib: no extra dependency on a GX. The fetch runs in a worker thread so that a slow API
never stalls the 1 Hz control loop; ``poll(now)`` starts a fetch only when one is needed:

* at start when the cache does not cover the current slot;
* after 13:00 local when tomorrow's prices are missing (Tibber publishes them shortly after
  13:00 CET), retried at most every ``TOMORROW_RETRY_S``;
* never more than ``MAX_REQUESTS_PER_DAY`` times a day (Tibber blocks an IP for 10 min above
  ~100 requests / 5 min, and the block renews while requests continue: evcc#18635).

Errors back off exponentially from ``ERROR_BACKOFF_S``; a 429 or a GraphQL rate-limit error
from ``RATE_LIMIT_BACKOFF_S``. The access token goes into the Authorization header only and is
never logged or put into an error text.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import pytz

from common.atomic import read_json_or_quarantine, write_json_atomic
from common.config_fields import config_field, read_fields, text
from common.schemas import PayloadError, parse_json
from control.model import Prices, PriceSlot

log = logging.getLogger(__name__)

CACHE_FILE = "tibber_prices.json"
TOMORROW_AFTER_HOUR = 13
TOMORROW_RETRY_S = 30 * 60.0
ERROR_BACKOFF_S = 60.0
RATE_LIMIT_BACKOFF_S = 15 * 60.0  # longer than Tibber's 10 min block
MAX_BACKOFF_S = 4 * 3600.0
MAX_REQUESTS_PER_DAY = 12
SLOT_S = 900.0
# Two days of 15-minute prices for a few homes is ~100 KB; a longer answer is refused unread
# (the API address is the user's to set, and what it sends must not fill a GX's memory).
MAX_ANSWER_BYTES = 2 * 1024 * 1024

_FIELDS = "total level startsAt"
_PRICE_INFO = (
    "currentSubscription { priceInfo(resolution: QUARTER_HOURLY) { "
    f"today {{ {_FIELDS} }} tomorrow {{ {_FIELDS} }} }} }}"
)
QUERY_ALL_HOMES = f"{{ viewer {{ homes {{ id {_PRICE_INFO} }} }} }}"
QUERY_ONE_HOME = f"query($id: ID!) {{ viewer {{ home(id: $id) {{ id {_PRICE_INFO} }} }} }}"


class TibberError(Exception):
    def __init__(self, text: str, rate_limited: bool = False) -> None:
        super().__init__(text)
        self.rate_limited = rate_limited


@dataclass(frozen=True)
class TibberSettings:
    api_url: str = config_field("tibber.api_url", text)
    token: str = config_field("tibber.access_token", text)
    home_id: str = config_field("tibber.home_id", text)
    timeout_s: float = config_field("tibber.timeout_s")
    timezone: str = config_field("timezone", text)

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> TibberSettings:
        return cls(**read_fields(cls, cfg))


def parse_time(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def parse_response(body: Any, home_id: str = "") -> List[PriceSlot]:
    """Slots from a GraphQL answer; raises TibberError for errors or an unexpected shape."""
    if not isinstance(body, dict):
        raise TibberError("answer is not a JSON object")
    errors = body.get("errors")
    if errors:
        texts = [str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors]
        codes = [
            str((e.get("extensions") or {}).get("code", "")) if isinstance(e, dict) else ""
            for e in errors
        ]
        joined = "; ".join(texts)
        limited = any("RATE" in c.upper() or "TOO_MANY" in c.upper() for c in codes) or (
            "rate limit" in joined.lower() or "too many" in joined.lower()
        )
        raise TibberError(f"GraphQL error: {joined[:200]}", rate_limited=limited)
    try:
        viewer = body["data"]["viewer"]
        if "home" in viewer:
            home = viewer["home"]
        else:
            homes = viewer["homes"]
            match = [h for h in homes if not home_id or h.get("id") == home_id]
            if not match:
                raise TibberError(f"no Tibber home {home_id or ''} in this account".strip())
            home = match[0]
        info = home["currentSubscription"]["priceInfo"]
        raw = list(info.get("today") or []) + list(info.get("tomorrow") or [])
    except (KeyError, TypeError, IndexError) as exc:
        raise TibberError(f"unexpected answer shape (missing {exc})") from None
    starts: List[Tuple[float, float, Optional[str]]] = []
    for item in raw:
        try:
            starts.append((parse_time(item["startsAt"]), float(item["total"]), item.get("level")))
        except (KeyError, TypeError, ValueError):
            continue
    starts.sort()
    slots = []
    for i, (start, price, level) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else start + SLOT_S
        if end - start > 3600 or end <= start:
            end = start + SLOT_S
        slots.append(PriceSlot(start, end, price, level))
    return slots


class TibberClient:
    """Prices with a disk cache; ``poll`` decides whether to fetch, ``prices`` never blocks."""

    def __init__(
        self,
        settings: TibberSettings,
        state_dir: str,
        opener: Optional[Callable[..., Any]] = None,
    ) -> None:
        """``opener`` stands in for ``urllib.request.urlopen`` (tests); None: the real one,
        imported on the first fetch, so a controller with Tibber off never loads urllib.request
        with http.client and email."""
        self.s = settings
        self.cache_path = Path(state_dir) / CACHE_FILE
        self._opener = opener
        self._tz = pytz.timezone(settings.timezone)
        self._lock = threading.Lock()
        self._slots: Tuple[PriceSlot, ...] = ()
        self._error: Optional[str] = None
        self._next_try = 0.0
        self._backoff_s = 0.0
        self._last_fetch = 0.0
        self._requests: List[float] = []
        self._worker: Optional[threading.Thread] = None
        self.request_count = 0
        self._loaded = False

    # --- cache ---------------------------------------------------------------------------
    def load_cache(self) -> None:
        raw = read_json_or_quarantine(self.cache_path)
        self._loaded = True
        if not isinstance(raw, dict):
            return
        try:
            slots = tuple(
                PriceSlot(float(a), float(b), float(p), lv) for a, b, p, lv in raw["slots"]
            )
            self._last_fetch = float(raw.get("fetched_at", 0.0))
        except (KeyError, TypeError, ValueError):
            log.warning("Tibber cache %s has an unexpected shape; ignoring it", self.cache_path)
            return
        with self._lock:
            self._slots = slots

    def _save_cache(self, slots: Tuple[PriceSlot, ...], now: float) -> None:
        rows = [[x.start, x.end, x.price, x.level] for x in slots]
        try:
            write_json_atomic(self.cache_path, {"fetched_at": now, "slots": rows})
        except OSError as exc:
            log.warning("cannot write Tibber cache %s: %s", self.cache_path, exc)

    # --- schedule ------------------------------------------------------------------------
    def needs_fetch(self, now: float) -> bool:
        with self._lock:
            slots = self._slots
        if not any(x.start <= now < x.end for x in slots):
            return True
        local = dt.datetime.fromtimestamp(now, self._tz)
        if local.hour < TOMORROW_AFTER_HOUR:
            return False
        tomorrow = self._tz.localize(
            dt.datetime.combine(local.date() + dt.timedelta(days=1), dt.time(12))
        ).timestamp()
        has_tomorrow = any(x.start <= tomorrow < x.end for x in slots)
        return not has_tomorrow and now - self._last_fetch >= TOMORROW_RETRY_S

    def may_request(self, now: float) -> bool:
        self._requests = [t for t in self._requests if now - t < 86400]
        return now >= self._next_try and len(self._requests) < MAX_REQUESTS_PER_DAY

    def poll(self, now: float) -> None:
        """Start a background fetch if one is due (cheap; call every tick)."""
        if not self._loaded:
            self.load_cache()
        if self._worker is not None and self._worker.is_alive():
            return
        if self.needs_fetch(now) and self.may_request(now):
            self._requests.append(now)
            self._worker = threading.Thread(
                target=self.fetch, args=(now,), name="tibber", daemon=True
            )
            self._worker.start()

    def wait(self, timeout_s: float = 30.0) -> None:
        if self._worker is not None:
            self._worker.join(timeout_s)

    # --- fetching ------------------------------------------------------------------------
    def fetch(self, now: float) -> bool:
        """One request (blocking). Updates slots or the error and back-off; True on success."""
        self.request_count += 1
        try:
            slots = parse_response(self._request(), self.s.home_id)
        except TibberError as exc:
            self._failed(str(exc), exc.rate_limited, now)
            return False
        if not slots:
            self._failed("answer has no prices", False, now)
            return False
        keep = tuple(x for x in slots if x.end > now - 86400)
        with self._lock:
            self._slots = keep
            self._error = None
            self._backoff_s = 0.0
            self._next_try = now
            self._last_fetch = now
        self._save_cache(keep, now)
        log.info("Tibber: %d price slots until %s", len(keep), _fmt(keep[-1].end, self._tz))
        return True

    def _request(self) -> Any:
        import urllib.error  # only here: see __init__
        import urllib.request

        if self.s.home_id:
            body = {"query": QUERY_ONE_HOME, "variables": {"id": self.s.home_id}}
        else:
            body = {"query": QUERY_ALL_HOMES}
        req = urllib.request.Request(
            self.s.api_url,
            data=json.dumps(body).encode("utf-8"),
            headers={
                "Authorization": f"Bearer {self.s.token}",
                "Content-Type": "application/json",
                "User-Agent": "alfen-victron/0.1",
            },
            method="POST",
        )
        try:
            opener = self._opener or urllib.request.urlopen
            with opener(req, timeout=self.s.timeout_s) as resp:
                raw = resp.read(MAX_ANSWER_BYTES + 1)
        except urllib.error.HTTPError as exc:
            raise TibberError(
                f"HTTP {exc.code} {exc.reason}", rate_limited=exc.code == 429
            ) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TibberError(f"cannot reach the Tibber API: {reason}") from None
        if len(raw) > MAX_ANSWER_BYTES:
            raise TibberError(f"answer longer than {MAX_ANSWER_BYTES} bytes")
        try:
            return parse_json(raw, MAX_ANSWER_BYTES)
        except PayloadError as exc:
            raise TibberError(f"answer is not usable JSON: {exc}") from None

    def _failed(self, text: str, rate_limited: bool, now: float) -> None:
        floor = RATE_LIMIT_BACKOFF_S if rate_limited else ERROR_BACKOFF_S
        with self._lock:
            first = self._error is None
            self._backoff_s = min(MAX_BACKOFF_S, max(floor, self._backoff_s * 2))
            self._next_try = now + self._backoff_s
            self._error = f"Tibber: {text}"
            backoff = self._backoff_s
        if first:
            log.error("Tibber prices unavailable: %s; retrying in %.0f s", text, backoff)
        else:
            log.debug("Tibber still failing: %s; retrying in %.0f s", text, backoff)

    # --- result --------------------------------------------------------------------------
    def prices(self, now: float) -> Prices:
        with self._lock:
            slots = tuple(x for x in self._slots if x.end > now)
            error = self._error
        if not slots and error is None:
            error = "Tibber: no prices yet"
        return Prices(slots=slots, source="tibber", error=error)


def _fmt(ts: float, tz: Any) -> str:
    return dt.datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M")


def price_at(prices: Prices, now: float) -> Optional[float]:
    for slot in prices.slots:
        if slot.start <= now < slot.end:
            return slot.price
    return None
