"""The UI's picture of the system: the latest retained MQTT state and a graph ring buffer.

The site's power (the page's power-flow view and power graph) comes from the controller's
``{base}/control/site``, not from the Venus topics: it is what the controller decides on, with
its staleness already judged, in one small message a second. Its price slots come from
``{base}/control/prices`` and are served apart (``/api/prices``), not in every status event.

MQTT callbacks only enqueue (``common.mqtt_link``); one small drain thread (``Feeder``) takes
events off the queue and writes them here. Request threads and SSE streams only read, under a
lock, and wait on a condition to hear about changes. Nothing here talks Modbus.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Deque, Dict, List, Optional, Tuple

from common.clock import SYSTEM_CLOCK, Clock
from common.evcs import finite_number
from common.inbound import LogLimiter
from common.mqtt_link import Connected, Disconnected, Event, Message
from common.schemas import PayloadError, parse_json, schema_errors
from common.topics import STATE_SCHEMAS, Topics

log = logging.getLogger(__name__)

# 1 sample per second for an hour: the page shows the last 30 minutes and more survives a reload.
GRAPH_PERIOD_S = 1.0
GRAPH_SAMPLES = 3600
# A state snapshot older than this (seconds) counts as stale: the bridge died without its LWT.
STALE_AFTER_S = 30.0
# The bridge republishes an unchanged state every 30 s, also while the charger is not answering:
# a state younger than this means the bridge itself runs.
BRIDGE_ALIVE_S = 65.0
# The power graph: one mean per 30 s for 6 hours (720 points; the page shows the last 3 hours).
POWER_BUCKET_S = 30.0
POWER_POINTS = 720
POWER_SERIES = ("ev_w", "pv_w", "grid_w", "battery_w")


def finite(value: Any) -> Any:
    """A copy with every non-finite float replaced by None (NaN means unknown, never 0)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


class PowerHistory:
    """Means of the site's power flows per ``POWER_BUCKET_S``: hours of graph in a few KB."""

    def __init__(self, bucket_s: float = POWER_BUCKET_S, points: int = POWER_POINTS) -> None:
        self.bucket_s = bucket_s
        self.points: Deque[Tuple[float, Tuple[Optional[float], ...]]] = deque(maxlen=points)
        self._bucket: Optional[float] = None
        self._sums = [0.0] * len(POWER_SERIES)
        self._counts = [0] * len(POWER_SERIES)

    def add(self, ts: float, values: Tuple[Optional[float], ...]) -> None:
        bucket = ts - ts % self.bucket_s
        if self._bucket is not None and bucket != self._bucket:
            self._flush()
        self._bucket = bucket
        for i, v in enumerate(values):
            if v is not None:
                self._sums[i] += v
                self._counts[i] += 1

    def _flush(self) -> None:
        if self._bucket is None:
            return
        means = tuple(round(s / n) if n else None for s, n in zip(self._sums, self._counts))
        self.points.append((self._bucket + self.bucket_s / 2, means))
        self._sums = [0.0] * len(POWER_SERIES)
        self._counts = [0] * len(POWER_SERIES)

    def columns(self, since: float) -> Dict[str, List[Any]]:
        points = [p for p in self.points if p[0] > since]
        out: Dict[str, List[Any]] = {"bucket_s": [self.bucket_s], "t": [p[0] for p in points]}
        for i, name in enumerate(POWER_SERIES):
            out[name] = [p[1][i] for p in points]
        return out


@dataclass(frozen=True)
class Sample:
    ts: float
    actual_a: Optional[float]
    allowed_a: Optional[float]
    max_a: Optional[float]
    power_w: Optional[float]


class StateCache:
    """Thread-safe latest values plus a change counter that SSE streams wait on."""

    def __init__(self, topics: Topics, clock: Clock = SYSTEM_CLOCK) -> None:
        self.topics = topics
        self.clock = clock
        self._lock = threading.Condition()
        self._version = 0
        self._broker = False
        self._state: Optional[Dict[str, Any]] = None
        self._info: Optional[Dict[str, Any]] = None
        self._control: Optional[Dict[str, Any]] = None
        self._bridge_avail: Optional[str] = None
        self._control_avail: Optional[str] = None
        self._error: Optional[Dict[str, Any]] = None
        self._config_notice: Optional[Dict[str, Any]] = None
        self._site: Optional[Dict[str, Any]] = None
        self._prices: Optional[Dict[str, Any]] = None
        self._prices_version = 0
        self._graph: Deque[Sample] = deque(maxlen=GRAPH_SAMPLES)
        self._power = PowerHistory()

    # ---- writers (the feeder thread) ---------------------------------------------------
    def set_broker(self, connected: bool) -> None:
        with self._lock:
            if self._broker != connected:
                self._broker = connected
                self._bump()

    def apply(self, topic: str, payload: bytes) -> bool:
        """Store one message; False when the topic is not ours or the payload is unusable."""
        suffix = self.topics.suffix_of(topic)
        if suffix in ("availability", "control/availability"):
            text = payload.decode("utf-8", "replace").strip() or None
            with self._lock:
                if suffix == "availability":
                    self._bridge_avail = text
                else:
                    self._control_avail = text
                self._bump()
            return True
        slot = {
            "state": "_state",
            "info": "_info",
            "control/state": "_control",
            "error": "_error",
            "config/changed": "_config_notice",
            "control/site": "_site",
            "control/prices": "_prices",
        }.get(suffix)
        if slot is None:
            return False
        value = _parse_object(payload)
        if value is None and payload:  # an empty retained payload clears; junk is ignored
            return False
        schema = SHOWN_SCHEMAS.get(suffix)
        if value is not None and schema is not None and not _valid(schema, value):
            return False  # any LAN client can publish here: the page renders only valid shapes
        with self._lock:
            if slot == "_prices":
                if value == self._prices:
                    return True
                self._prices_version += 1  # the page fetches /api/prices when this moves
            setattr(self, slot, value)
            self._bump()
        return True

    def sample(self) -> Sample:
        """Append one graph point from the current state (None where unknown or offline)."""
        with self._lock:
            st = self._state if self._charger_online_locked() else None
            ctl = self._control
            actual = finite_number(st.get("current_a")) if st else None
            if st and actual is None:
                phases = [
                    finite_number((st.get(k) or {}).get("current_a")) for k in ("l1", "l2", "l3")
                ]
                known = [p for p in phases if p is not None]
                actual = max(known) if known else None
            allowed = finite_number(st.get("applied_max_current_a")) if st else None
            if allowed is None and ctl is not None:
                allowed = finite_number(ctl.get("commanded_current_a"))
            smax = finite_number(st.get("station_max_current_a")) if st else None
            power = finite_number(st.get("power_w")) if st else None
            point = Sample(round(self.clock.wall(), 1), actual, allowed, smax, power)
            self._graph.append(point)
            site = self._site_locked()
            ev = power if st else None
            flows = (ev, *(finite_number(site.get(k)) if site else None for k in POWER_SERIES[1:]))
            self._power.add(point.ts, flows)
            self._bump()
            return point

    def _bump(self) -> None:
        self._version += 1
        self._lock.notify_all()

    # ---- readers (request threads) -----------------------------------------------------
    def wait_change(self, seen: int, timeout_s: float) -> int:
        """Block until the version differs from ``seen`` or the timeout passes; return it."""
        with self._lock:
            self._lock.wait_for(lambda: self._version != seen, timeout_s)
            return self._version

    @property
    def version(self) -> int:
        with self._lock:
            return self._version

    def _site_locked(self) -> Optional[Dict[str, Any]]:
        """The controller's last control/site while it is current, else None (unknown)."""
        site = self._site
        if not (site and self._broker and self._control_avail == "online"):
            return None
        ts = finite_number(site.get("ts"))
        return site if ts is None or self.clock.wall() - ts < STALE_AFTER_S + 5 else None

    def _bridge_alive_locked(self) -> bool:
        """The bridge process runs: it says online, or its state is fresh (the charger does not
        answer it, so it says offline but keeps publishing)."""
        if not self._broker:
            return False
        if self._bridge_avail == "online":
            return True
        ts = finite_number(self._state.get("ts")) if self._state else None
        return ts is not None and self.clock.wall() - ts < BRIDGE_ALIVE_S

    def _charger_online_locked(self) -> bool:
        st = self._state
        if not (self._broker and self._bridge_avail == "online" and st):
            return False
        ts = finite_number(st.get("ts"))
        fresh = ts is None or self.clock.wall() - ts < STALE_AFTER_S
        return bool(st.get("connected")) and fresh

    def snapshot(self) -> Dict[str, Any]:
        """The ``/api/status`` document: JSON-safe, NaN-free."""
        with self._lock:
            broker = self._broker
            bridge = self._bridge_alive_locked()
            charger = self._charger_online_locked()
            controller = broker and self._control_avail == "online"
            ctl = self._control
            smax = finite_number(self._state.get("station_max_current_a")) if self._state else None
            last = self._graph[-1] if self._graph else None
            return finite(
                {
                    "ts": self.clock.wall(),
                    "online": {
                        "broker": broker,
                        "bridge": bridge,
                        "charger": charger,
                        "controller": controller,
                    },
                    "availability": {
                        "bridge": self._bridge_avail,
                        "controller": self._control_avail,
                    },
                    "state": self._state,
                    "info": self._info,
                    "control": ctl,
                    "station_max_current_a": smax,
                    "last_error": self._error,
                    "config_changed": self._config_notice,
                    "sample": _sample_dict(last) if last else None,
                    "site": self._site_locked(),
                    "prices_version": self._prices_version,
                    "version": self._version,
                }
            )

    def station_max_a(self) -> Optional[float]:
        with self._lock:
            return finite_number(self._state.get("station_max_current_a")) if self._state else None

    def prices(self) -> Optional[Dict[str, Any]]:
        """The controller's price slots (``{base}/control/prices``), or None before any."""
        with self._lock:
            return self._prices

    def power(self, since: float = 0.0) -> Dict[str, List[Any]]:
        """Columnar power-flow means newer than ``since`` (W; grid + import, battery + charging)."""
        with self._lock:
            return self._power.columns(since)

    def graph(self, since: float = 0.0) -> Dict[str, List[Any]]:
        """Columnar graph points newer than ``since`` (compact for a 3600-point reload)."""
        with self._lock:
            points = [p for p in self._graph if p.ts > since]
        return {
            "period_s": [GRAPH_PERIOD_S],
            "t": [p.ts for p in points],
            "actual_a": [p.actual_a for p in points],
            "allowed_a": [p.allowed_a for p in points],
            "max_a": [p.max_a for p in points],
            "power_w": [p.power_w for p in points],
        }


def _sample_dict(p: Sample) -> Dict[str, Any]:
    return {
        "t": p.ts,
        "actual_a": p.actual_a,
        "allowed_a": p.allowed_a,
        "max_a": p.max_a,
        "power_w": p.power_w,
    }


# What the page renders, checked against its schema: the retained state topics and the error.
SHOWN_SCHEMAS = {**STATE_SCHEMAS, "error": "error"}


def _valid(schema: str, value: Dict[str, Any]) -> bool:
    """Every field present has the schema's shape (a missing one is shown as unknown)."""
    return all(e.validator == "required" for e in schema_errors(schema, value))


def _parse_object(payload: bytes) -> Optional[Dict[str, Any]]:
    try:
        # capped in size, number length and depth; a NaN shows as unknown (finite() below)
        value = parse_json(payload, finite=False)
    except PayloadError:
        return None
    return finite(value) if isinstance(value, dict) else None


class Feeder:
    """One thread: MQTT events → cache, and a graph sample every ``GRAPH_PERIOD_S``."""

    def __init__(
        self,
        link: Any,
        cache: StateCache,
        period_s: float = GRAPH_PERIOD_S,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.link = link
        self.cache = cache
        self.period_s = period_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._errors = LogLimiter()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ui-feeder", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def _run(self) -> None:
        now = self.clock.monotonic
        next_sample = now()
        while not self._stop.is_set():
            event = self.link.next_event(max(0.0, min(0.5, next_sample - now())))
            self.handle(event)
            if now() >= next_sample:
                self.cache.sample()
                next_sample += self.period_s
                if next_sample < now():  # we fell behind (suspend): resync
                    next_sample = now() + self.period_s

    def handle(self, event: Optional[Event]) -> None:
        if isinstance(event, Message):
            try:
                self.cache.apply(event.topic, event.payload)
            except Exception:  # one bad message must not stop the page's updates
                if self._errors.allow(event.topic[:200], self.clock.monotonic()):
                    log.exception("dropped a message on %s", event.topic[:200])
        elif isinstance(event, Connected):
            self.cache.set_broker(True)
        elif isinstance(event, Disconnected):
            self.cache.set_broker(False)


def subscriptions(topics: Topics) -> Tuple[str, ...]:
    return tuple(
        topics.sub(s)
        for s in (
            "state",
            "info",
            "availability",
            "control/state",
            "control/availability",
            "control/site",
            "control/prices",
            "error",
            "config/changed",
        )
    )
