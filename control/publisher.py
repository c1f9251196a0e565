"""What the controller tells the others, retained: ``control/state`` (what the GX, the shim and
the page show), ``control/site`` (the site's power for the page) and ``control/prices``.

Each goes out on change; ``control/state`` and ``control/site`` also at least every
``STATE_HEARTBEAT_S``, ``control/prices`` only on change (a few times a day).
``control/availability`` "online" follows the first ``control/state`` of a broker session, so
whoever reacts to it never reads the state of a previous run.
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple

from common.evcs import STATUS_TEXT
from common.topics import Topics
from control import report
from control.commands import CommandSender
from control.every import Every
from control.link import Link
from control.model import Decision, Memory, Mode, PriceSlot, Snapshot
from control.session_book import SessionBook
from control.settings import CoreSettings
from control.storage import StorageHealth

STATE_HEARTBEAT_S = 30.0


class StatePublisher:
    def __init__(
        self,
        topics: Topics,
        link: Link,
        commands: CommandSender,
        book: SessionBook,
        storage: StorageHealth,
    ) -> None:
        self.topics = topics
        self.link = link
        self.commands = commands
        self.book = book
        self.storage = storage
        self.state_beat = Every(STATE_HEARTBEAT_S)
        self.site_beat = Every(STATE_HEARTBEAT_S)
        self._published: Optional[Dict[str, Any]] = None
        self._site_sent: Optional[Dict[str, Any]] = None
        self._prices_sent: Optional[Tuple[Any, ...]] = None  # what control/prices was made of
        self._strategy_key: Optional[Tuple[Any, ...]] = None
        self._strategy_plan: Tuple[PriceSlot, ...] = ()
        self._announce_pending = False

    def on_connected(self) -> None:
        """A new broker session: everything goes out again, then "online"."""
        self._published = self._site_sent = None
        self._prices_sent = None
        self._announce_pending = True

    def announce(self) -> None:
        if self._announce_pending:
            self._announce_pending = False
            self.link.publish(self.topics.control_availability, "online", retain=True, qos=1)

    def publish(
        self, d: Decision, snap: Snapshot, mem: Memory, s: CoreSettings, now: float
    ) -> None:
        self._publish_state(d, snap, mem, s, now)
        self._publish_site(snap, now)

    def _publish_state(
        self, d: Decision, snap: Snapshot, mem: Memory, s: CoreSettings, now: float
    ) -> None:
        body = self.control_state(d, snap, mem, s, now)
        if not report.same_but_ts(self._published, body) or self.state_beat.due(now):
            if self.link.publish(self.topics.control_state, json.dumps(body), retain=True, qos=1):
                self._published = body
                self.state_beat.done(now)
        self.announce()

    def control_state(
        self, d: Decision, snap: Snapshot, mem: Memory, s: CoreSettings, now: float
    ) -> Dict[str, Any]:
        u = snap.user
        sent_amps = self.commands.amps
        return {
            "ts": round(now, 3),
            "mode": int(u.mode),
            "mode_name": u.mode.name.lower(),
            "enabled": u.enabled,
            "auto_start": u.auto_start,
            "set_current_a": u.set_current_a,
            "max_current_a": u.max_current_a,
            "min_current_a": s.min_current_a,  # the GX shows it as /MinCurrent
            "commanded_current_a": sent_amps if sent_amps is not None else 0.0,
            "commanded_phases": self.commands.phases or d.phases or mem.phases,
            "status": int(d.status),
            "status_text": STATUS_TEXT.get(int(d.status), str(int(d.status))),
            "reason": d.reason,
            "session": self.book.summary(now),
            "price_now": self.book.price(snap.prices, now),
            "plan": [
                {"start": p.start, "end": p.end, "price": p.price, "charge": True}
                for p in self._plan(d, snap, s)
            ],
            "deadline": None
            if u.deadline is None
            else {"energy_kwh": u.deadline[0], "by": u.deadline[1]},
            "schedule": report.deadline_report(d, mem)
            if u.mode == Mode.SCHEDULED and _deadline_set(snap, s)
            else None,
            "inputs_ok": snap.site.fresh and snap.charger.online,
            "battery_check": _battery_check(d, snap, s),
            "storage": self.storage.summary(),
        }

    def _plan(self, d: Decision, snap: Snapshot, s: CoreSettings) -> Tuple[PriceSlot, ...]:
        """The slots SCHEDULED charges in: the deadline plan, else those its price strategy
        picks (worked out once per quarter hour and price update, not every tick)."""
        if d.plan or snap.user.mode != Mode.SCHEDULED:
            return d.plan
        if _deadline_set(snap, s):  # a deadline plan runs (done, or without prices)
            return ()
        key = (snap.prices.slots, snap.prices.error, snap.now - snap.now % 900, s)
        if self._strategy_key != key:
            self._strategy_key = key
            self._strategy_plan = report.strategy_plan(snap.prices, snap.now, s)
        return tuple(p for p in self._strategy_plan if p.end > snap.now)

    def _publish_site(self, snap: Snapshot, now: float) -> None:
        site = report.site_report(snap.site, snap.charger, now)
        if not report.same_but_ts(self._site_sent, site) or self.site_beat.due(now):
            if self.link.publish(self.topics.control_site, json.dumps(site), retain=True):
                self._site_sent = site
                self.site_beat.done(now)
        pricing = self.book.pricing
        rate = pricing.static_rate if pricing.source != "tibber" else None
        p = snap.prices
        key = (p.source, p.error, p.slots, pricing.currency, rate)  # no list built per tick
        if key != self._prices_sent:
            body = json.dumps(report.prices_report(p, pricing.currency, rate))
            if self.link.publish(self.topics.control_prices, body, retain=True):
                self._prices_sent = key


def _deadline_set(snap: Snapshot, s: CoreSettings) -> bool:
    """A "N kWh by HH:MM" applies (the user's, else the config's), as SCHEDULED decides."""
    if snap.user.deadline is not None:
        return snap.user.deadline[0] > 0
    return s.deadline_energy_kwh > 0


def _battery_check(d: Decision, snap: Snapshot, s: CoreSettings) -> Optional[Dict[str, Any]]:
    """What AUTO's battery check works with, so a user can see the capacity it learned."""
    capacity = s.check_capacity_kwh(snap.battery_capacity_kwh)
    if capacity is None:
        return None
    fills = d.details.get("battery_fills")
    return {
        "capacity_kwh": round(capacity, 2),
        "learned": s.battery_capacity_kwh is None,
        "fills": fills if isinstance(fills, bool) else None,
    }
