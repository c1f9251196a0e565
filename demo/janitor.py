"""Clear the retained topics the demo wrote, so a shared broker is left as it was found.

Every retained topic the demo's processes write is under two roots the demo owns: its own
prefix (``alfen-demo/…``, including the Home Assistant discovery configs, which the demo puts
under ``alfen-demo/homeassistant``) and its simulated GX's portal (``N/<demo portal>/…``). The
sweep subscribes to exactly those roots, takes the retained messages the broker replays and
publishes an empty retained payload on each (the MQTT way to delete one). Nothing outside the
roots is read or touched.
"""

from __future__ import annotations

import time
from typing import Iterable, List

from common.mqtt_link import Message, MqttLink, MqttSettings

SETTLE_S = 0.5  # the broker replays retained messages right after SUBACK: quiet this long = all
CONNECT_TIMEOUT_S = 5.0
MAX_SWEEP_S = 10.0


def owned_roots(prefix: str, portal: str) -> List[str]:
    """The subscriptions that cover every retained topic the demo writes."""
    return [f"{prefix}/#", f"N/{portal}/#"]


def retained(settings: MqttSettings, roots: Iterable[str], client_id: str) -> List[str]:
    """Topics under ``roots`` that hold a retained message now (empty list: none, or no broker)."""
    return _sweep(settings, list(roots), client_id, clear=False)


def clear_retained(settings: MqttSettings, roots: Iterable[str], client_id: str) -> List[str]:
    """Delete every retained message under ``roots``; returns the topics it cleared."""
    return _sweep(settings, list(roots), client_id, clear=True)


def _sweep(settings: MqttSettings, roots: List[str], client_id: str, clear: bool) -> List[str]:
    link = MqttLink(settings, client_id=client_id, subscriptions=roots)
    link.start()
    found: List[str] = []
    try:
        if not link.wait_connected(CONNECT_TIMEOUT_S):
            return found
        until = time.monotonic() + MAX_SWEEP_S
        while time.monotonic() < until:
            event = link.next_event(SETTLE_S)
            if event is None:
                break
            if isinstance(event, Message) and event.retain and event.payload:
                if event.topic not in found:
                    found.append(event.topic)
                if clear:
                    link.publish(event.topic, b"", retain=True, qos=1)
    finally:
        link.stop()  # paho sends the queued publishes before its DISCONNECT
    return found
