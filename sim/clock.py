"""Simulation time: real time scaled by a speed factor, starting at a chosen instant."""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        self.speed = speed
        self.start = time.time() if start is None else start
        self._mono0 = time.monotonic()

    def now(self) -> float:
        return self.start + (time.monotonic() - self._mono0) * self.speed
