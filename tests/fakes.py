"""Fakes with the interfaces of the processes' ports, for tests that run without I/O.

``ModelLink`` serves the bridge's Modbus port straight from the simulator's register model, so
a write is checked where the charger would take it. ``RecordingLink`` is the MQTT port of the
bridge and the controller: it records what they publish and subscribe, and serves queued
events; given a ``ManualClock``, waiting for an event that is not there advances the clock, so a
process loop runs through minutes in milliseconds.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from typing import Any, Deque, Dict, List, Optional, Tuple, Union

from bridge import codec
from bridge.modbus_link import ChargerRejected
from bridge.registers import Block, Device, Register
from common.clock import ManualClock
from common.mqtt_link import Event
from sim.charger_model import ChargerModel


class ModelLink:
    """The bridge's Modbus port served by ``sim.charger_model.ChargerModel``."""

    def __init__(self, model: ChargerModel, host: str, port: int) -> None:
        self.model, self.host, self.port = model, host, port
        self.units = {Device.SOCKET: 1, Device.STATION: 200}
        self.timeout_s = 1.0
        self.connected = False

    def connect(self) -> None:
        self.connected = True

    def close(self) -> None:
        self.connected = False

    def read_block(self, block: Block) -> Dict[str, codec.Value]:
        words = self.model.read(self.units[block.device], block.start, block.count)
        if isinstance(words, int):
            raise ChargerRejected(f"read {block.start}", words)
        return codec.decode_block(block.registers, block.start, words)

    def write(self, reg: Register, value: codec.Value) -> None:
        code = self.model.write(self.units[reg.device], reg.address, codec.encode(reg, value))
        if code is not None:
            raise ChargerRejected(f"write {reg.address}", code)

    def setpoints(self) -> List[float]:
        return [v for _t, what, v in self.model.sockets[1].writes if what == "setpoint"]


class RecordingLink:
    """The MQTT port (``common.mqtt_link.MqttLink``'s methods): records every publish."""

    def __init__(self, clock: Optional[ManualClock] = None) -> None:
        self.published: List[Tuple[str, str, bool]] = []
        self.subscribed: List[str] = []
        self.events: Deque[Event] = deque()
        self.clock = clock
        self.started = False
        self.final: Optional[Tuple[str, str]] = None
        self._stop: Optional[Tuple[threading.Event, float]] = None

    def start(self) -> None:
        self.started = True

    def stop(self, final: Optional[Tuple[str, str]] = None) -> None:
        self.final = final

    def subscribe(self, topic: str) -> None:
        self.subscribed.append(topic)

    def stop_at(self, stop: threading.Event, monotonic_s: float) -> None:
        """Set ``stop`` once the clock reaches ``monotonic_s`` (ends a loop under test)."""
        self._stop = (stop, monotonic_s)

    def next_event(self, timeout_s: float) -> Optional[Event]:
        """The next queued event; with none, the clock moves on by ``timeout_s``."""
        if self.events:
            return self.events.popleft()
        if self.clock is not None:
            self.clock.advance(timeout_s)
            if self._stop is not None and self.clock.monotonic() >= self._stop[1]:
                self._stop[0].set()
        return None

    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool:
        text = payload if isinstance(payload, str) else payload.decode()
        self.published.append((topic, text, retain))
        return True

    def mark(self) -> int:
        return len(self.published)

    def on(self, topic: str, since: int = 0) -> List[str]:
        return [p for t, p, _r in self.published[since:] if t == topic]

    def json_on(self, topic: str, since: int = 0) -> List[Any]:
        return [json.loads(p) for p in self.on(topic, since)]


def build_runner(
    cfg: Dict[str, Any],
    link: Any,
    clock: Any = None,
    decide: Any = None,
    defaults: Any = None,
    tibber: Any = None,
) -> Any:
    """A controller ``Runner`` on a validated config with its real parts (the real core, store
    and Venus input unless given), on ``link`` and ``clock``; not yet loaded."""
    from common.clock import SYSTEM_CLOCK
    from control.core import decide as real_decide
    from control.runner import Runner
    from control.settings import CoreSettings
    from control.settings_cmd import defaults_from_config
    from control.store import Store
    from control.venus import VenusInput, VenusSettings

    clock = clock or SYSTEM_CLOCK
    return Runner(
        cfg,
        link,
        decide or real_decide,
        CoreSettings.from_config(cfg),
        Store(cfg["state_dir"], clock),
        VenusInput(VenusSettings.from_config(cfg)),
        defaults or defaults_from_config(cfg),
        tibber=tibber,
        clock=clock,
    )
