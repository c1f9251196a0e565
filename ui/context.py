"""What the Flask app needs from the process, in one typed object (no globals)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Protocol, Union

from common.clock import SYSTEM_CLOCK, Clock
from common.topics import Topics
from ui.cache import StateCache
from ui.history import SessionHistory

# Each open SSE stream holds one waitress thread for as long as the page is open; the cap keeps
# threads free for ordinary requests (the server runs MAX_SSE_STREAMS + 8 threads).
MAX_SSE_STREAMS = 8


class Publisher(Protocol):
    """The one MQTT operation the UI needs (``common.mqtt_link.MqttLink`` has it)."""

    @property
    def connected(self) -> bool: ...

    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool: ...


@dataclass
class UiContext:
    cfg: Dict[str, Any]
    config_path: str
    cache: StateCache
    publisher: Publisher
    topics: Topics
    token: Optional[str]  # None: loopback bind, writes need no token
    history: SessionHistory
    max_sse: int = MAX_SSE_STREAMS
    sse_slots: threading.BoundedSemaphore = field(init=False)
    stopping: threading.Event = field(default_factory=threading.Event)
    heartbeat_s: float = 15.0
    config_lock: threading.Lock = field(default_factory=threading.Lock)
    clock: Clock = SYSTEM_CLOCK  # the SSE pacing and the config notice's time stamp

    def __post_init__(self) -> None:
        self.sse_slots = threading.BoundedSemaphore(self.max_sse)
