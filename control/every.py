"""``Every(period_s)``: the one throttle of the controller ("at most / at least every N s").

Each periodic duty (the lease refresh, the control/state heartbeat, the memory, session and
PV saves, the storage retry, the answer to a set command) keeps one of these instead of a
hand-rolled "last time" attribute. Times are the caller's ``now``; after a backward wall-clock
step (NTP) the gap is unknown and counts as overdue, so a save or re-send happens at once
instead of an hour later.
"""

from __future__ import annotations

NEVER = float("-inf")


def elapsed(now: float, then: float) -> float:
    """Seconds since ``then``; infinite when the clock went back past it."""
    gap = now - then
    return gap if gap >= 0 else float("inf")


class Every:
    """Due once ``period_s`` passed since the last ``done`` (due at once when never done)."""

    def __init__(self, period_s: float, last: float = NEVER) -> None:
        self.period_s = period_s
        self.last = last

    def due(self, now: float) -> bool:
        return elapsed(now, self.last) >= self.period_s

    def done(self, now: float) -> None:
        self.last = now

    def reset(self) -> None:
        """Make it due now (a reconnect re-sends what was sent before)."""
        self.last = NEVER

    def take(self, now: float) -> bool:
        """``due`` and, if so, ``done``: for duties that count as done once tried."""
        if not self.due(now):
            return False
        self.last = now
        return True
