"""A simple car behind an Alfen socket for the control bench (pure, deterministic).

It is plugged in between ``arrive_s`` and ``depart_s``, draws min(offered, car max) per active
phase ``response_s`` after being offered at least 6 A, ramps up at 5 A/s and drops at once (like
sim/charger_model.py), stops when it has taken ``need_wh``. A phase write takes effect only
while nothing is drawn (Alfen ignores 1215 under load).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

MIN_OFFER_A = 6.0
VOLTS = 230.0


@dataclass
class EvModel:
    arrive_s: float
    depart_s: float
    need_wh: float
    max_a: float = 16.0
    car_phases: int = 3
    charger_phases: int = 3  # what 1215 is set to
    response_s: float = 3.0
    current_a: float = 0.0
    offered_a: float = 0.0
    offered_since: Optional[float] = None
    delivered_wh: float = 0.0
    lifetime_wh: float = 100000.0
    phase_switches: int = 0
    starts: int = 0

    def connected(self, t: float) -> bool:
        return self.arrive_s <= t < self.depart_s

    @property
    def full(self) -> bool:
        return self.delivered_wh >= self.need_wh

    @property
    def phases(self) -> int:
        return min(self.car_phases, self.charger_phases)

    def command(self, t: float, amps: float, phases: Optional[int]) -> None:
        if phases in (1, 3) and phases != self.charger_phases and self.current_a <= 0.0:
            self.charger_phases = int(phases)
            if self.connected(t):
                self.phase_switches += 1
        if amps >= MIN_OFFER_A and (self.offered_a < MIN_OFFER_A or self.offered_since is None):
            self.offered_since = t
        if amps < MIN_OFFER_A:
            self.offered_since = None
        self.offered_a = amps

    def step(self, t: float, dt: float) -> Tuple[float, float, float]:
        """Advance by ``dt``; the per-phase power (W) drawn during this step."""
        want = 0.0
        if (
            self.connected(t)
            and not self.full
            and self.offered_a >= MIN_OFFER_A
            and self.offered_since is not None
            and t - self.offered_since >= self.response_s
        ):
            want = min(self.offered_a, self.max_a)
        before = self.current_a
        self.current_a = want if want < before else min(want, before + 5.0 * dt)
        if before <= 0.0 < self.current_a:
            self.starts += 1
        if not self.connected(t):
            self.current_a = 0.0
        p = self.current_a * VOLTS
        wh = p * self.phases * dt / 3600.0
        self.delivered_wh += wh
        self.lifetime_wh += wh
        return (p, p if self.phases == 3 else 0.0, p if self.phases == 3 else 0.0)

    def mode3(self, t: float) -> str:
        if not self.connected(t):
            return "A"
        if self.current_a > 0.0:
            return "C2"
        if self.offered_a >= MIN_OFFER_A:
            return "B2"
        return "C1" if self.delivered_wh > 0 and not self.full else "B1"
