"""The pure decision: ``decide(snap, mem, settings) -> (Decision, Memory)``.

No I/O, no clock, no logging: time comes in as ``snap.now`` and every timer is a timestamp in
``Memory`` ("since when"). Order of a decision:

1. charger offline / fault / no vehicle / StartStop off → 0 A with the matching status;
2. the mode proposes (MANUAL: the user's current; AUTO: control/auto.py; SCHEDULED:
   control/scheduled.py); a running phase-switch sequence takes precedence in every mode;
3. limits: station max, user max, ``controls.max_set_current`` and the main fuse — in every mode
   the grid current of each phase the car uses must stay under ``victron.fuse_limit_a`` (EMS
   mode switches off Alfen's own load balancing);
4. the status is refined from what the charger does (starting, charging, stopping, charged).
"""

from __future__ import annotations

import math
from typing import Optional, Tuple

from control import auto, phases, scheduled
from control.model import Decision, Memory, Mode, Snapshot, Status, Step, evolve
from control.settings import CoreSettings
from control.status import Mode3Info, charger_facts

__all__ = ["CoreSettings", "decide", "fuse_limit_a"]

START_GRACE_S = 60.0  # after this long offered but not drawing, B2 means the car is full


def decide(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Decision, Memory]:
    facts = charger_facts(snap.charger)
    mem = _track_mode(snap, mem)
    gate = _gate(snap, facts)
    if gate is not None:
        status, reason = gate
        if not facts.connected or not snap.charger.online:
            mem = _session_reset(mem)
        return _finish(snap, mem, Step(0.0, None, status, reason, mem), facts)
    mem = _trust_measured_phases(snap, mem, facts)
    max_a = _ceiling_a(snap, s)
    step = _propose(snap, mem, s, max_a)
    step = _apply_fuse(snap, s, step)
    return _finish(snap, step.mem, step, facts)


def _gate(snap: Snapshot, facts: Mode3Info) -> Optional[Tuple[Status, str]]:
    if not snap.charger.online:
        return Status.DISCONNECTED, "charger not reachable: no data from it"
    if facts.fault:
        return facts.status, facts.label + ": not charging"
    if not facts.connected:
        return Status.DISCONNECTED, facts.label if not facts.known else "no vehicle connected"
    if not snap.user.enabled:
        return Status.WAIT_START, "charging switched off (Start charging resumes it)"
    return None


def _track_mode(snap: Snapshot, mem: Memory) -> Memory:
    mode = int(snap.user.mode)
    if mem.mode == mode:
        return mem
    # a mode change expires the timers of the previous mode (evcc #1822)
    return evolve(
        mem,
        mode=mode,
        surplus_since=None,
        deficit_since=None,
        phase_candidate=None,
        phase_candidate_since=None,
    )


def _session_reset(mem: Memory) -> Memory:
    """The car left: forget session timers and the deadline plan, keep filters and phases."""
    return evolve(
        mem,
        surplus_since=None,
        deficit_since=None,
        phase_candidate=None,
        phase_candidate_since=None,
        plan_key=None,
        plan_anchor_wh=None,
        plan_deadline=None,
        car_single_phase=False,
    )


def _trust_measured_phases(snap: Snapshot, mem: Memory, facts: Mode3Info) -> Memory:
    """Alfen sometimes ignores or undoes a phase write (evcc #10303, #22934): believe the currents
    while the car draws, and the charger's own phase setting (register 1215) while it does not.

    The setting matters most to a core with no memory: it used to assume 3 phases until it first
    measured a current, so on a 1-phase installation it waited for the 3-phase minimum (4.1 kW)
    before its first start. A car measured on one phase this session keeps its 1 phase."""
    measured = snap.charger.phases_measured
    configured = snap.charger.phases_configured
    if (
        mem.switch_stage is None
        and not facts.charging
        and configured in (1, 3)
        and configured != mem.phases
        and not mem.car_single_phase
    ):
        return evolve(mem, phases=int(configured or 3))
    if (
        mem.switch_stage is None
        and facts.charging
        and measured in (1, 3)
        and measured != mem.phases
    ):
        # one phase measured while three were set: a single-phase car; stop trying to switch
        single = mem.car_single_phase or (measured == 1 and mem.phases == 3)
        return evolve(mem, phases=int(measured), car_single_phase=single)
    return mem


def _ceiling_a(snap: Snapshot, s: CoreSettings) -> float:
    station = snap.charger.station_max_current_a
    if station is None or math.isnan(station) or station <= 0:
        station = s.station_max_a
    return max(0.0, min(station, snap.user.max_current_a, s.max_set_current_a))


def _propose(snap: Snapshot, mem: Memory, s: CoreSettings, max_a: float) -> Step:
    mode = snap.user.mode
    if mode == Mode.AUTO:
        return auto.step(snap, mem, s, max_a)
    # MANUAL and SCHEDULED want full power: three phases when the charger can switch
    can_switch = snap.charger.phase_switching_available and not mem.car_single_phase
    if can_switch and mem.phases != 3 and mem.switch_stage is None:
        drawing = snap.charger.charging or mem.last_amps > 0
        mem = phases.begin(mem, snap.now, 3, drawing)
    seq, mem = phases.advance(snap, mem, s)
    if seq is not None:
        return seq
    if mode == Mode.SCHEDULED:
        return scheduled.step(snap, mem, s, max_a, mem.phases)
    amps = min(snap.user.set_current_a, max_a)
    if amps < s.min_current_a:
        why = f"set current {snap.user.set_current_a:g} A is below the 6 A minimum: paused"
        return Step(0.0, None, Status.WAIT_START, why, mem)
    return Step(amps, None, Status.CHARGING, f"manual: {amps:g} A", mem)


def fuse_limit_a(snap: Snapshot, s: CoreSettings, phase_count: int) -> Tuple[float, str]:
    """Most current the car may take per phase so no grid phase exceeds the fuse.

    Grid current of phase k without the car = grid_k / V − car_k (the car is inside grid_k).
    One-phase charging is assumed on L1 (how Alfen wires single-phase use). Unknown grid values →
    the car alone may use the fuse limit (the house is unknown; the reason says so).
    """
    grid = snap.site.grid_power_w
    if any(g is None for g in grid):
        return s.fuse_limit_a, "grid meter unknown: fuse check assumes an idle house"
    used = (0,) if phase_count == 1 else (0, 1, 2)
    best, where = math.inf, ""
    for k in used:
        volts = snap.charger.phase_voltage_v[k] or s.voltage_v
        car_a = snap.charger.phase_current_a[k] or 0.0
        house_a = (grid[k] or 0.0) / volts - car_a
        room = s.fuse_limit_a - house_a
        if room < best:
            best, where = room, f"L{k + 1}"
    return max(0.0, best), f"main fuse: {best:.1f} A left on {where}"


def _apply_fuse(snap: Snapshot, s: CoreSettings, step: Step) -> Step:
    if step.amps <= 0:
        return step
    room, why = fuse_limit_a(snap, s, step.mem.phases)
    if step.amps <= room:
        return step
    amps = math.floor(room * 10.0) / 10.0
    if amps < s.min_current_a:
        return evolve(step, amps=0.0, status=Status.CHARGING_LIMIT, reason=why + ": paused")
    return evolve(step, amps=amps, reason=f"{step.reason}; limited to {amps:g} A ({why})")


def _finish(snap: Snapshot, mem: Memory, step: Step, facts: Mode3Info) -> Tuple[Decision, Memory]:
    now, amps = snap.now, step.amps
    status = step.status
    if status in (Status.CHARGING, Status.START_CHARGING) and amps > 0:
        status = _charging_status(snap, mem, facts, now)
    elif amps <= 0 and facts.charging and status not in _KEEP_WHEN_STOPPING:
        status = Status.STOP_CHARGING
    if amps > 0 and mem.last_amps <= 0:
        mem = evolve(mem, charging_since=now)
    elif amps <= 0 and mem.last_amps > 0:
        mem = evolve(mem, stopped_since=now)
    mem = evolve(mem, last_amps=amps)
    dec = Decision(
        amps=amps,
        phases=step.phases,
        status=status,
        reason=step.reason,
        plan=step.plan,
        details={**step.details, "mode3": facts.state or snap.charger.mode3, "phases": mem.phases},
    )
    return dec, mem


_KEEP_WHEN_STOPPING = (
    Status.SWITCHING_TO_1P,
    Status.SWITCHING_TO_3P,
    Status.LOW_SOC,
    Status.CHARGED,
    Status.CHARGING_LIMIT,
)


def _charging_status(snap: Snapshot, mem: Memory, facts: Mode3Info, now: float) -> Status:
    if facts.charging:
        return Status.CHARGING
    offered_for = now - mem.charging_since if mem.last_amps > 0 and mem.charging_since else 0.0
    if facts.state == "B2" and offered_for >= START_GRACE_S:
        return Status.CHARGED  # current offered for a while, the car does not take it: full
    return Status.START_CHARGING
