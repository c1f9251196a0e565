"""The only module that imports paho-mqtt: one connection, callbacks that only enqueue.

paho's network thread calls our callbacks; they put events on a queue and return at once. The
process's own loop takes them off with ``next_event`` and does the work, so no state is shared
across threads. paho reconnects by itself (``reconnect_delay_set``); on every (re)connect we
resubscribe and emit ``Connected`` so the owner can republish its retained state.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Optional, Tuple, Union

from common.config_fields import config_field, read_fields, text
from common.deferred_import import defer

# paho imports these at the top; without TLS, a SOCKS proxy or websockets it never reads them
# (see deferred_import). urllib.request and ssl cost 7.4 MB of each process; hashlib (used only
# for the websocket handshake) maps OpenSSL's libcrypto, another 3.5 MB.
defer("urllib.request")
defer("ssl")
defer("hashlib")

import paho.mqtt.client as paho  # noqa: E402
from paho.mqtt.enums import CallbackAPIVersion  # noqa: E402

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Message:
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True)
class Connected:
    """The link (re)connected and resubscribed: republish retained state now."""


@dataclass(frozen=True)
class Disconnected:
    reason: str


Event = Union[Message, Connected, Disconnected]


@dataclass(frozen=True)
class MqttSettings:
    host: str = config_field("mqtt.host", text)
    port: int = config_field("mqtt.port", int)
    username: str = config_field("mqtt.username", text)
    password: str = config_field("mqtt.password", text)
    tls: bool = config_field("mqtt.tls", bool)
    ca_file: str = config_field("mqtt.ca_file", text)
    tls_insecure: bool = config_field("mqtt.tls_insecure", bool)
    keepalive_s: int = 30  # not configurable: the broker's view of a dead client

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> MqttSettings:
        return cls(**read_fields(cls, cfg))


class MqttLink:
    """A paho client with last will, auto-reconnect, resubscribe and an event queue."""

    def __init__(
        self,
        settings: MqttSettings,
        client_id: str,
        subscriptions: Iterable[str] = (),
        will: Optional[Tuple[str, str]] = None,
        max_queue: int = 10000,
    ) -> None:
        self.settings = settings
        self.client_id = client_id
        self.subscriptions: List[str] = list(subscriptions)
        self.will = will
        self.events: queue.Queue[Event] = queue.Queue(maxsize=max_queue)
        self._connected = threading.Event()
        self._client: Optional[paho.Client] = None
        self._was_connected = False
        self._stopping = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Connect in the background; returns at once, also when the broker is down."""
        s = self.settings
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if s.username:
            client.username_pw_set(s.username, s.password or None)
        if s.tls:
            import ssl  # the real module, loaded here (see the defer above)

            client.tls_set(ca_certs=s.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
            client.tls_insecure_set(s.tls_insecure)
        if self.will:
            client.will_set(self.will[0], self.will[1], qos=1, retain=True)
        client.reconnect_delay_set(1, 30)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        self._client = client
        client.connect_async(s.host, s.port, keepalive=s.keepalive_s)
        client.loop_start()

    def stop(self, final: Optional[Tuple[str, str]] = None) -> None:
        """Publish ``final`` (e.g. availability offline) if connected, then disconnect."""
        client = self._client
        if client is None:
            return
        if final and self.connected:
            info = client.publish(final[0], final[1], qos=1, retain=True)
            try:
                info.wait_for_publish(timeout=2)
            except (RuntimeError, ValueError):
                pass
        self._stopping = True
        client.disconnect()
        client.loop_stop()
        self._client = None
        self._connected.clear()

    def subscribe(self, topic: str) -> None:
        if topic not in self.subscriptions:
            self.subscriptions.append(topic)
        if self._client is not None and self.connected:
            self._client.subscribe(topic, qos=0)

    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool:
        """Queue a publish; False when not connected (paho would queue it unboundedly)."""
        if self._client is None or not self.connected:
            return False
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return info.rc == paho.MQTT_ERR_SUCCESS

    def wait_connected(self, timeout_s: float) -> bool:
        return self._connected.wait(timeout_s)

    def next_event(self, timeout_s: float) -> Optional[Event]:
        try:
            return self.events.get(timeout=max(0.0, timeout_s))
        except queue.Empty:
            return None

    # --- paho callbacks: network thread, enqueue only -------------------------------------
    def _put(self, event: Event) -> None:
        try:
            self.events.put_nowait(event)
        except queue.Full:  # a stuck consumer must not block paho's thread
            log.warning("MQTT event queue full; dropping %s", type(event).__name__)

    def _on_connect(self, client: paho.Client, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if getattr(reason_code, "is_failure", False):
            log.error(
                "MQTT broker %s:%s refused the connection: %s",
                self.settings.host,
                self.settings.port,
                reason_code,
            )
            return
        for topic in self.subscriptions:
            client.subscribe(topic, qos=0)
        self._connected.set()
        if self._was_connected:
            log.info("MQTT reconnected to %s:%s", self.settings.host, self.settings.port)
        else:
            log.info("MQTT connected to %s:%s", self.settings.host, self.settings.port)
        self._was_connected = True
        self._put(Connected())

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason_code: Any, _p: Any) -> None:
        if self._connected.is_set() and not self._stopping:
            log.error(
                "MQTT connection to %s:%s lost (%s); reconnecting",
                self.settings.host,
                self.settings.port,
                reason_code,
            )
        self._connected.clear()
        self._put(Disconnected(str(reason_code)))

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        self._put(Message(msg.topic, bytes(msg.payload), bool(msg.retain)))
