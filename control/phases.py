"""The 1↔3 phase switch as its own small state machine: pause → switch → settle → resume.

Alfen ignores a 1215 write while the car draws current and some cars drop out when the phase
count changes under load (evcc #10303, #32815), so a switch is
always sequenced. The stages live in ``Memory.switch_stage``/``switch_stage_since``; the target in
``Memory.switch_target``. While a sequence runs the GX shows status 22 or 23.
"""

from __future__ import annotations

from typing import Optional, Tuple

from control.model import Memory, Snapshot, Status, Step, evolve
from control.settings import CoreSettings

PAUSING = "pausing"
SWITCHING = "switching"
SETTLING = "settling"


def switch_status(target: int) -> Status:
    return Status.SWITCHING_TO_3P if target == 3 else Status.SWITCHING_TO_1P


def begin(mem: Memory, now: float, target: int, drawing: bool) -> Memory:
    """Start a sequence; when nothing is drawn there is nothing to pause."""
    return evolve(
        mem,
        switch_stage=PAUSING if drawing else SWITCHING,
        switch_stage_since=now,
        switch_target=target,
        phase_candidate=None,
        phase_candidate_since=None,
    )


def abort(mem: Memory) -> Memory:
    return evolve(mem, switch_stage=None, switch_stage_since=None, switch_target=None)


def advance(snap: Snapshot, mem: Memory, s: CoreSettings) -> Tuple[Optional[Step], Memory]:
    """One step of a running sequence; (None, mem) once finished (the caller then resumes)."""
    if mem.switch_stage is None or mem.switch_target is None:
        return None, mem
    now, target = snap.now, mem.switch_target
    since = mem.switch_stage_since if mem.switch_stage_since is not None else now
    status = switch_status(target)
    if not snap.charger.phase_switching_available:
        mem = abort(mem)
        return Step(0.0, None, Status.CONNECTED, _refused(mem.phases), mem), mem
    if mem.switch_stage == PAUSING:
        drawing = snap.charger.charging or (snap.charger.power_w or 0.0) > 100.0
        # wait for the car to stop, but not forever: the charger cuts the contactor anyway
        if (not drawing and now - since >= s.phase_pause_s) or now - since >= 3 * s.phase_pause_s:
            mem = evolve(mem, switch_stage=SWITCHING, switch_stage_since=now)
        else:
            reason = f"pausing before switching to {target} phase"
            return Step(0.0, None, status, reason, mem), mem
    if mem.switch_stage == SWITCHING:
        mem = evolve(
            mem,
            switch_stage=SETTLING,
            switch_stage_since=now,
            phases=target,
            last_phase_switch=now,
        )
        return Step(0.0, target, status, f"switching to {target} phase", mem), mem
    if now - since < s.phase_settle_s:
        left = s.phase_settle_s - (now - since)
        reason = f"switched to {target} phase, resuming in {left:.0f} s"
        return Step(0.0, target, status, reason, mem), mem
    # settled: resume at once (the surplus that asked for the switch is already established;
    # back-dated by the longest start delay, or a stretched one would start its wait again)
    mem = evolve(
        abort(mem),
        surplus_since=now - s.start_delay_s * max(1.0, s.start_delay_stretch),
        stopped_since=None,
        deficit_since=None,
    )
    return None, mem


def _refused(phases: int) -> str:
    return f"charger refused phase switching: staying on {phases} phase"
