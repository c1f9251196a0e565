"""The MQTT port of the controller: what it needs of ``common.mqtt_link.MqttLink``
(tests pass ``tests.fakes.RecordingLink``)."""

from __future__ import annotations

from typing import Optional, Protocol, Tuple, Union

from common.mqtt_link import Event


class Link(Protocol):
    def start(self) -> None: ...
    def stop(self, final: Optional[Tuple[str, str]] = None) -> None: ...
    def subscribe(self, topic: str) -> None: ...
    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool: ...
    def next_event(self, timeout_s: float) -> Optional[Event]: ...
