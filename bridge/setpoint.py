"""When to write the setpoint: a pure keeper, fed readings and time, answering with actions.

The charger forgets a setpoint when its validity timer (1208) runs out and falls back to the safe
current (1212). The keeper rewrites before that happens, but only while commands keep arriving:
once no command has come for ``lease_s`` it stops, so a dead controller or broker leaves the
charger at its safe current. Phase changes follow pause → wait → write 1215 → wait → resume
(the charger silently ignores a 1215 write while current flows).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional, Union

from common.config_fields import config_field, read_fields
from common.evcs import MIN_CURRENT_A


@dataclass(frozen=True)
class KeeperSettings:
    lease_s: float = config_field("controls.command_lease_seconds")
    refresh_floor_s: float = config_field("controls.refresh_floor_seconds")
    watchdog_s: float = config_field("controls.watchdog_interval_seconds")
    tolerance_a: float = config_field("controls.current_tolerance")
    change_threshold_a: float = config_field("controls.update_difference_threshold")
    max_set_current_a: float = config_field("controls.max_set_current")
    default_station_max_a: float = config_field("defaults.station_max_current")
    retry_delay_s: float = config_field("controls.retry_delay")
    max_retries: int = config_field("controls.max_retries", int)
    phase_pause_s: float = config_field("controls.phase_switch_pause_seconds")
    phase_settle_s: float = config_field("controls.phase_switch_settle_seconds")

    @classmethod
    def from_config(cls, cfg: Dict[str, Any]) -> KeeperSettings:
        return cls(**read_fields(cls, cfg))


@dataclass(frozen=True)
class Readings:
    """What the last poll said about the setpoint registers (None = unknown)."""

    setpoint_a: Optional[float] = None  # 1210
    validity_s: Optional[int] = None  # 1208
    accounted: Optional[bool] = None  # 1214
    station_max_a: Optional[float] = None  # 1100
    max_phase_current_a: Optional[float] = None


@dataclass(frozen=True)
class WriteCurrent:
    amps: float
    why: str


@dataclass(frozen=True)
class WritePhases:
    phases: int


Action = Union[WriteCurrent, WritePhases, None]


class SetpointKeeper:
    """Holds the commanded setpoint and decides, per poll, what (if anything) to write."""

    def __init__(self, settings: KeeperSettings) -> None:
        self.s = settings
        self.commanded_amps: Optional[float] = None
        self.commanded_at: Optional[float] = None
        self.last_written: Optional[float] = None
        self.last_write_at: Optional[float] = None
        self.failures = 0
        self.last_failure_at: Optional[float] = None
        self.accepted: Optional[bool] = None
        self.phase_target: Optional[int] = None
        self.phase_stage: Optional[str] = None  # "pausing" | "settling"
        self.stage_since: Optional[float] = None
        self.note = "no command received yet"
        self.observed_validity_s: Optional[float] = None  # 1208 read right after a write

    # ---- commands ----------------------------------------------------------------------
    def command_current(self, amps: float, now: float) -> None:
        self.commanded_amps, self.commanded_at = float(amps), now
        self.failures = 0

    def command_phases(self, phases: int, now: float) -> None:
        self.phase_target, self.phase_stage, self.stage_since = phases, "pausing", now
        self.commanded_at = now if self.commanded_at is None else max(self.commanded_at, now)

    def lease_left(self, now: float) -> Optional[float]:
        if self.commanded_at is None:
            return None
        if now < self.commanded_at:  # the clock went back: elapsed time unknown, fail safe
            return 0.0
        return max(0.0, self.s.lease_s - (now - self.commanded_at))

    def refreshing(self, now: float) -> bool:
        left = self.lease_left(now)
        return left is not None and left > 0

    def target_amps(self, station_max_a: Optional[float]) -> Optional[float]:
        """Commanded amps clamped to station max and max_set_current; (0, 6) becomes 0."""
        if self.phase_stage is not None:
            return 0.0  # paused for a phase switch (also when only phases were commanded)
        if self.commanded_amps is None:
            return None
        ceiling = self.s.max_set_current_a
        smax = (
            station_max_a
            if station_max_a is not None and station_max_a > 0
            else self.s.default_station_max_a
        )
        amps = min(self.commanded_amps, ceiling, smax)
        return 0.0 if amps < MIN_CURRENT_A else round(amps, 2)

    # ---- per poll ----------------------------------------------------------------------
    def next_action(self, now: float, r: Readings) -> Action:
        if self.commanded_amps is None and self.phase_target is None:
            return None
        if not self.refreshing(now):
            self.note = (
                f"no command for {self.s.lease_s:.0f} s: not refreshing, the charger falls "
                "back to its safe current when its validity timer runs out"
            )
            return None
        if self.phase_stage == "pausing" and self.stage_since is not None:
            idle = r.max_phase_current_a is not None and r.max_phase_current_a < 0.5
            if now - self.stage_since >= self.s.phase_pause_s and idle and self.last_written == 0.0:
                assert self.phase_target is not None
                return WritePhases(self.phase_target)
        elif self.phase_stage == "settling" and self.stage_since is not None:
            if now - self.stage_since >= self.s.phase_settle_s:
                self.phase_stage = None
        target = self.target_amps(r.station_max_a)
        if target is None:
            return None
        if self.failures and self.last_failure_at is not None:
            wait = self.s.retry_delay_s if self.failures < self.s.max_retries else self.s.watchdog_s
            if now - self.last_failure_at < wait:
                return None
        why = self._why_write(now, target, r)
        return WriteCurrent(target, why) if why else None

    def _why_write(self, now: float, target: float, r: Readings) -> str:
        if self.last_written is None or abs(self.last_written - target) > self.s.change_threshold_a:
            return "new setpoint"
        if r.accounted is False:
            return "charger is not using our setpoint (1214 = 0)"
        if r.setpoint_a is not None and abs(r.setpoint_a - target) > self.s.tolerance_a:
            return f"charger reads {r.setpoint_a:g} A instead of {target:g} A"
        if r.validity_s is not None and r.validity_s <= self.refresh_at_s():
            return f"validity timer at {r.validity_s} s"
        if self.last_write_at is None or now - self.last_write_at >= self.s.watchdog_s:
            return "watchdog refresh"
        return ""

    def refresh_at_s(self) -> float:
        """Rewrite when 1208 drops to this: the floor, but never more than half the validity
        time seen right after a write (the configured validity cannot be read, only 1208)."""
        if self.observed_validity_s:
            return min(self.s.refresh_floor_s, self.observed_validity_s / 2)
        return self.s.refresh_floor_s

    # ---- results -----------------------------------------------------------------------
    def wrote_current(self, amps: float, now: float) -> None:
        self.last_written, self.last_write_at = amps, now

    def verified(self, amps: float, r: Readings) -> bool:
        """Read-back after a write: 1210 within tolerance and 1214 = 1."""
        ok = (
            r.setpoint_a is not None
            and math.isfinite(r.setpoint_a)
            and abs(r.setpoint_a - amps) <= self.s.tolerance_a
            and r.accounted is not False
        )
        self.accepted = ok
        if ok and r.validity_s:
            self.observed_validity_s = float(r.validity_s)
        if ok:
            self.failures = 0
            self.note = f"{amps:g} A accepted by the charger"
        return ok

    def failed(self, now: float, why: str) -> None:
        self.failures += 1
        self.last_failure_at = now
        self.accepted = False
        self.note = f"write failed ({why})"

    def wrote_phases(self, now: float) -> None:
        self.phase_stage, self.stage_since = "settling", now

    def phases_refused(self) -> None:
        self.phase_target, self.phase_stage, self.stage_since = None, None, None
