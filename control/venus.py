"""The controller's view of the Victron system, fed from Venus MQTT (dbus-flashmq) topics.

This module owns the Venus conventions on the controller side: find the portal id
(configured, or from the retained ``N/+/system/0/Serial``), keep dbus-flashmq publishing with
``R/<portal>/keepalive`` (a full publish at start and after every reconnect, then the
``suppress-republish`` option on a timer), cache ``{"value": x}`` payloads with their arrival
time, and build a ``SiteView``. It never publishes on ``N/``.

Staleness: dbus-flashmq publishes on change only, so a steady value (an absent PV inverter's
null, a slowly moving SOC) is legitimately silent. Grid power is a live measurement that moves
every second on any real meter, so each grid phase must itself be newer than
``victron.stale_after_s``; every other value only needs the feed to be alive (some ``N/<portal>``
message, such as flashmq's 3 s heartbeat, within that time). Anything else is unknown (None) and
``SiteView.fresh`` is False, which the core treats as "fail safe".
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from common.config_fields import config_field, read_fields, text
from common.evcs import finite_number
from common.schemas import PayloadError, parse_json
from common.topics import (
    ESS_MIN_SOC_PATH,
    VENUS_SERIAL_WILDCARD,
    VENUS_SYSTEM_PATHS,
    venus_keepalive,
    venus_settings,
    venus_system,
)
from control.model import SiteView

log = logging.getLogger(__name__)

# A Venus value is {"value": x}: a few dozen bytes (a string path value stays far below this).
VENUS_MAX_BYTES = 4096
SUPPRESS_REPUBLISH = json.dumps({"keepalive-options": ["suppress-republish"]})
GRID_PATHS = ("Ac/Grid/L1/Power", "Ac/Grid/L2/Power", "Ac/Grid/L3/Power")
PV_PATHS = (
    "Dc/Pv/Power",
    *(f"Ac/PvOnGrid/L{i}/Power" for i in (1, 2, 3)),
    *(f"Ac/PvOnOutput/L{i}/Power" for i in (1, 2, 3)),
)
CONSUMPTION_PATHS = tuple(f"Ac/Consumption/L{i}/Power" for i in (1, 2, 3))
MIN_SOC_KEY = "settings:" + ESS_MIN_SOC_PATH


@dataclass(frozen=True)
class VenusSettings:
    portal_id: str = config_field("victron.portal_id", text)
    keepalive_s: float = config_field("victron.keepalive_s")
    stale_after_s: float = config_field("victron.stale_after_s")

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> VenusSettings:
        return cls(**read_fields(cls, cfg))


def parse_value(payload: bytes) -> Tuple[bool, Optional[float]]:
    """(understood, value). Empty payload = the service left the bus; null = invalid."""
    if not payload:
        return True, None
    try:
        obj = parse_json(payload, VENUS_MAX_BYTES)
    except PayloadError:
        return False, None
    if not isinstance(obj, dict) or "value" not in obj:
        return False, None
    value = obj["value"]
    if value is None or isinstance(value, bool):
        return True, None
    if isinstance(value, (int, float)):
        return True, finite_number(value)
    return False, None


class VenusInput:
    """Cache of Venus values plus the keepalive schedule. The runner does the MQTT I/O."""

    def __init__(self, settings: VenusSettings) -> None:
        self.settings = settings
        self.portal: Optional[str] = settings.portal_id or None
        self._values: Dict[str, Tuple[Optional[float], float]] = {}  # key -> (value, at)
        self._feed_at: Optional[float] = None
        self._next_keepalive: Optional[float] = None
        self._full_due = True
        self._topic_keys: Dict[str, str] = {}
        if self.portal:
            self._index_topics(self.portal)

    # --- subscriptions -------------------------------------------------------------------
    def subscriptions(self) -> List[str]:
        subs = [VENUS_SERIAL_WILDCARD]
        if self.portal:
            subs.extend(self._topic_keys)
            subs.append(f"N/{self.portal}/heartbeat")
        return subs

    def _index_topics(self, portal: str) -> None:
        self._topic_keys = {venus_system(portal, p): p for p in VENUS_SYSTEM_PATHS}
        self._topic_keys[venus_settings(portal, ESS_MIN_SOC_PATH)] = MIN_SOC_KEY

    # --- events --------------------------------------------------------------------------
    def on_connected(self) -> None:
        """After a (re)connect we missed changes: ask for a full publish again."""
        self._full_due = True
        self._next_keepalive = None

    def on_message(self, topic: str, payload: bytes, now: float) -> List[str]:
        """Take one message; returns topics to subscribe to (when the portal was just found)."""
        parts = topic.split("/")
        if len(parts) >= 4 and parts[0] == "N" and parts[2:] == ["system", "0", "Serial"]:
            return self._on_serial(parts[1], payload)
        if self.portal is None or not topic.startswith(f"N/{self.portal}/"):
            return []
        self._feed_at = now
        key = self._topic_keys.get(topic)
        if key is None:
            return []
        ok, value = parse_value(payload)
        if not ok:
            log.debug("ignoring unreadable Venus payload on %s: %r", topic, payload[:80])
            return []
        self._values[key] = (value, now)
        return []

    def _on_serial(self, portal: str, payload: bytes) -> List[str]:
        if self.portal is not None:
            return []
        log.info("Victron portal id %s (from N/%s/system/0/Serial)", portal, portal)
        self.portal = portal
        self._index_topics(portal)
        self._full_due = True
        self._next_keepalive = None
        return [t for t in self.subscriptions() if t != VENUS_SERIAL_WILDCARD]

    # --- keepalive -----------------------------------------------------------------------
    def keepalive_due(self, now: float) -> Optional[Tuple[str, str]]:
        """(topic, payload) to publish now, or None. Call ``keepalive_sent`` after publishing."""
        if self.portal is None:
            return None
        if self._full_due:
            return venus_keepalive(self.portal), ""
        if self._next_keepalive is None or now >= self._next_keepalive:
            return venus_keepalive(self.portal), SUPPRESS_REPUBLISH
        return None

    def keepalive_sent(self, now: float) -> None:
        self._full_due = False
        self._next_keepalive = now + self.settings.keepalive_s

    # --- view ----------------------------------------------------------------------------
    def feed_alive(self, now: float) -> bool:
        return self._feed_at is not None and now - self._feed_at <= self.settings.stale_after_s

    def value(self, key: str, now: float, live: bool = False) -> Optional[float]:
        """The cached value, or None when unknown or stale (``live``: must itself be recent)."""
        item = self._values.get(key)
        if item is None or not self.feed_alive(now):
            return None
        value, at = item
        if live and now - at > self.settings.stale_after_s:
            return None
        return value

    def site(self, now: float) -> SiteView:
        grid = tuple(self.value(p, now, live=True) for p in GRID_PATHS)
        pv_parts = [self.value(p, now) for p in PV_PATHS]
        known_pv = [v for v in pv_parts if v is not None]
        pv = sum(known_pv) if known_pv else None
        cons = tuple(self.value(p, now) for p in CONSUMPTION_PATHS)
        fresh = self.feed_alive(now) and grid[0] is not None
        return SiteView(
            grid_power_w=(grid[0], grid[1], grid[2]),
            pv_power_w=pv,
            consumption_w=(cons[0], cons[1], cons[2]),
            battery_soc=self.value("Dc/Battery/Soc", now),
            battery_power_w=self.value("Dc/Battery/Power", now),
            ess_min_soc=self.value(MIN_SOC_KEY, now),
            fresh=fresh,
        )
