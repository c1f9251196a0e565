"""The one clock of every process: wall time, elapsed time and sleep, injected.

Wall time (``wall``) is what is shown and stored: session starts, state time stamps, price
slots. It jumps when NTP steps the clock. Elapsed time (``monotonic``) never jumps: leases,
poll schedules, back-offs and throttles run on it. No module reads ``time`` directly; each
takes a ``Clock``, so tests drive a ``ManualClock`` through hours in milliseconds.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def wall(self) -> float:
        """Unix time in seconds (may jump)."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin; never goes back."""

    def sleep(self, seconds: float) -> None:
        """Wait (a test clock just advances)."""


class SystemClock:
    """The machine's clocks."""

    def wall(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class ManualClock:
    """A clock that moves only when told to: ``advance`` moves both, ``step_wall`` only the
    wall clock (an NTP step)."""

    def __init__(self, wall: float = 1_780_000_000.0, monotonic: float = 1000.0) -> None:
        self._wall = wall
        self._monotonic = monotonic

    def wall(self) -> float:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def advance(self, seconds: float) -> None:
        self._wall += seconds
        self._monotonic += seconds

    def step_wall(self, seconds: float) -> None:
        self._wall += seconds
