"""The session book: the open session, the idle meter and the price of each Wh.

A session opens at plug-in and ends at unplug (control/session.py does the arithmetic). The
meter seen while no car is plugged in is remembered, so that a car plugged in while the
controller was down still gets the energy it took since. Each increment of the register is
priced at the Tibber slot's price (``pricing.source: tibber``) or the static rate, and its
solar and battery share at the feed-in price. Everything is written through the persister.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Dict, Optional

from control import session as sess
from control.model import ChargerView, Prices, Snapshot
from control.persister import Persister
from control.tibber import price_at

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Pricing:
    """``pricing`` and ``session`` of the validated config (the schema fills every default)."""

    source: str
    static_rate: float
    feed_in_rate: float  # solar and battery energy cost the export they replaced (0: free)
    currency: str
    min_power_w: float

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> Pricing:
        pricing = cfg["pricing"]
        source = str(pricing["source"])
        if source == "victron":  # accepted from the old driver's files
            log.warning(
                "pricing.source 'victron' reads no price from the GX yet: session cost "
                "uses pricing.static_rate_eur_per_kwh"
            )
        return cls(
            source=source,
            static_rate=float(pricing["static_rate_eur_per_kwh"]),
            feed_in_rate=float(pricing["feed_in_eur_per_kwh"]),
            currency=str(pricing["currency"]),
            min_power_w=float(cfg["session"]["min_power_w"]),
        )


class SessionBook:
    """Tracks the session from each snapshot of an online charger."""

    def __init__(self, persister: Persister, pricing: Pricing) -> None:
        self.persister = persister
        self.pricing = pricing
        self.session: Optional[sess.Session] = None
        self.idle_wh: Optional[float] = None  # the meter with no car plugged in

    def load(self) -> None:
        store = self.persister.store
        self.session = store.load_session()
        self.idle_wh = store.load_idle_meter()
        if self.session is not None:
            log.info(
                "resuming session started %s (%.3f kWh so far)",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(self.session.start)),
                self.session.energy_wh / 1000.0,
            )

    def price(self, prices: Prices, now: float) -> Optional[float]:
        """The import price of a Wh charged now."""
        if self.pricing.source == "tibber":
            slot_price = price_at(prices, now)
            if slot_price is not None:
                return slot_price
        return self.pricing.static_rate

    def track(self, snap: Snapshot, now: float) -> None:
        c = snap.charger
        if not c.online:
            return  # unknown is not "unplugged": keep the session open
        reading = sess.Reading(
            now,
            c.vehicle_connected,
            c.energy_wh,
            c.power_w,
            self.price(snap.prices, now),
            snap.site,
            self.pricing.feed_in_rate,
        )
        before = self.session
        self.session, ended = sess.update(
            self.session, reading, self.pricing.min_power_w, idle_energy_wh=self.idle_wh
        )
        self._note_idle_meter(c)
        if ended is not None:
            log.info("session ended: %.3f kWh", ended.energy_wh / 1000.0)
            self.persister.add_history(ended, now)
        if before is None and self.session is not None:
            log.info("session started (vehicle plugged in)")
        opened_or_ended = (before is None) != (self.session is None)
        self.persister.save_session(self.session, now, force=opened_or_ended)

    def _note_idle_meter(self, c: ChargerView) -> None:
        """Remember (and persist, on change) the meter while no car is plugged in."""
        if c.vehicle_connected or c.energy_wh is None:
            return
        if self.idle_wh is not None and abs(c.energy_wh - self.idle_wh) < 1.0:
            return
        self.idle_wh = c.energy_wh
        self.persister.save_idle_meter(c.energy_wh)

    def summary(self, now: float) -> Dict[str, Any]:
        return sess.summary(self.session, now, self.pricing.currency)
