"""The setpoint keeper as time series: what it writes, when, and when it lets go."""

from __future__ import annotations

from typing import List, Optional, Tuple

from bridge.setpoint import KeeperSettings, Readings, SetpointKeeper, WriteCurrent, WritePhases

S = KeeperSettings(
    lease_s=60, refresh_floor_s=10, watchdog_s=30, phase_pause_s=10, phase_settle_s=5
)


def run(keeper: SetpointKeeper, steps: List[Tuple[float, Readings]]) -> List[Tuple[float, object]]:
    """Feed readings at times; 'write' each action as accepted; return (t, action) list."""
    out = []
    for t, r in steps:
        action = keeper.next_action(t, r)
        if isinstance(action, WriteCurrent):
            keeper.wrote_current(action.amps, t)
            keeper.verified(
                action.amps, Readings(setpoint_a=action.amps, validity_s=60, accounted=True)
            )
        elif isinstance(action, WritePhases):
            keeper.wrote_phases(t)
        if action is not None:
            out.append((t, action))
    return out


def ok(
    setpoint: Optional[float] = 16.0, validity: Optional[int] = 50, current: float = 16.0
) -> Readings:
    return Readings(
        setpoint_a=setpoint,
        validity_s=validity,
        accounted=True,
        station_max_a=32.0,
        max_phase_current_a=current,
    )


def test_nothing_is_written_before_a_command() -> None:
    assert run(SetpointKeeper(S), [(0, ok()), (100, ok(validity=1))]) == []


def test_new_command_is_written_clamped_to_station_max() -> None:
    k = SetpointKeeper(S)
    k.command_current(40, 0)
    actions = run(k, [(0, Readings(station_max_a=25.0))])
    assert actions == [(0, WriteCurrent(25.0, "new setpoint"))]


def test_below_six_amps_pauses_with_zero() -> None:
    k = SetpointKeeper(S)
    k.command_current(4.5, 0)
    assert run(k, [(0, ok())])[0][1] == WriteCurrent(0.0, "new setpoint")


def test_refreshes_before_validity_runs_out_but_not_every_poll() -> None:
    """A charger with a 20 s validity timer, polled every second for 200 s, commands every 20 s."""
    k = SetpointKeeper(KeeperSettings(lease_s=60, refresh_floor_s=10, watchdog_s=300))
    last_write = None
    writes = []
    for t in range(0, 200):
        if t % 20 == 0:
            k.command_current(16, t)
        left = 0 if last_write is None else max(0, 20 - (t - last_write))
        r = Readings(
            setpoint_a=16.0 if left else 6.0, validity_s=left, accounted=left > 0, station_max_a=32
        )
        action = k.next_action(t, r)
        if isinstance(action, WriteCurrent):
            k.wrote_current(action.amps, t)
            k.verified(action.amps, Readings(setpoint_a=16.0, validity_s=20, accounted=True))
            last_write = t
            writes.append(t)
        assert t == 0 or left > 0 or t - last_write == 0, f"setpoint expired at {t}"
    gaps = [b - a for a, b in zip(writes, writes[1:])]
    assert writes[0] == 0 and max(gaps) <= 11 and min(gaps) >= 5


def test_rewrites_when_charger_forgot_the_setpoint_after_reboot() -> None:
    k = SetpointKeeper(S)
    k.command_current(16, 0)
    run(k, [(0, ok())])
    k.command_current(16, 5)
    actions = run(
        k, [(5, Readings(setpoint_a=6.0, validity_s=0, accounted=False, station_max_a=32.0))]
    )
    assert actions == [(5, WriteCurrent(16.0, "charger is not using our setpoint (1214 = 0)"))]


def test_stops_refreshing_when_the_lease_runs_out() -> None:
    k = SetpointKeeper(S)
    k.command_current(16, 0)
    actions = run(k, [(t, ok(validity=5)) for t in range(0, 200, 5)])
    assert max(t for t, _ in actions) < 60  # nothing after the 60 s lease
    assert not k.refreshing(61) and "safe current" in k.note


def test_retries_after_failure_with_backoff() -> None:
    k = SetpointKeeper(KeeperSettings(retry_delay_s=1, max_retries=2, watchdog_s=30, lease_s=600))
    k.command_current(10, 0)
    assert isinstance(k.next_action(0, ok()), WriteCurrent)
    k.failed(0, "timeout")
    assert k.next_action(0.5, ok()) is None
    assert isinstance(k.next_action(1.0, ok()), WriteCurrent)
    k.failed(1.0, "timeout")
    assert k.next_action(20, ok()) is None  # after max_retries: wait a watchdog period
    assert isinstance(k.next_action(31, ok()), WriteCurrent)


def test_phase_switch_pauses_then_writes_then_resumes() -> None:
    k = SetpointKeeper(S)
    k.command_current(16, 0)
    run(k, [(0, ok())])
    k.command_phases(1, 1)
    k.command_current(16, 1)
    steps = [
        (1, ok(current=16)),
        (2, ok(setpoint=0.0, current=0)),
        (11, ok(setpoint=0.0, current=0)),
        (12, ok(setpoint=0.0, current=0)),
        (16, ok(setpoint=0.0, current=0)),
    ]
    actions = run(k, steps)
    assert actions[0] == (1, WriteCurrent(0.0, "new setpoint"))
    assert actions[1] == (11, WritePhases(1))
    assert actions[2][0] == 16 and actions[2][1] == WriteCurrent(16.0, "new setpoint")


def test_phase_write_waits_until_the_car_stopped_drawing() -> None:
    k = SetpointKeeper(S)
    k.command_current(16, 0)
    run(k, [(0, ok())])
    k.command_phases(3, 0)
    actions = run(k, [(t, ok(current=8.0)) for t in range(0, 30)])
    assert not any(isinstance(a, WritePhases) for _, a in actions)


def test_short_validity_never_makes_it_write_every_poll() -> None:
    k = SetpointKeeper(S)
    k.command_current(16, 0)
    k.next_action(0, ok())
    k.wrote_current(16, 0)
    k.verified(16, Readings(setpoint_a=16, validity_s=10, accounted=True))
    assert k.refresh_at_s() == 5
    assert k.next_action(1, ok(validity=9)) is None
