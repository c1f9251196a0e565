"""The battery capacity AUTO's check learns from SOC and power (control/battery_capacity.py)."""

from __future__ import annotations

from typing import Callable, Optional

import pytest

from control.battery_capacity import KEEP, MAX_GAP_S, CapacityLearner
from sim.site_model import BatteryParams, battery_step


def feed(
    learner: CapacityLearner,
    seconds: int,
    net_w: Callable[[int], float],
    b: BatteryParams,
    soc: float,
    t0: float = 0.0,
    resolution: Optional[float] = 1.0,
    every_s: int = 1,
) -> float:
    """Run the simulator's ESS battery under ``net_w`` (site surplus, W) and show the learner
    what a GX would publish: the SOC rounded to ``resolution`` % (a BMS's steps) and the power.
    Returns the SOC at the end."""
    for i in range(0, seconds, every_s):
        power, soc = battery_step(soc, net_w(i), b, float(every_s))
        shown = soc if resolution is None else round(soc / resolution) * resolution
        learner.record(t0 + i, shown, power)
    return soc


BATTERY = BatteryParams(capacity_wh=10000.0, efficiency=0.97, ess_min_soc=10.0)


def test_a_charge_and_a_discharge_measure_the_capacity_within_the_losses() -> None:
    learner = CapacityLearner()
    soc = feed(learner, 4 * 3600, lambda i: 2000.0, BATTERY, 30.0)  # 30 → ~88 %
    assert learner.kwh is not None
    # charging: the meter counts what goes in, the SOC rises by a little less (losses)
    assert learner.kwh == pytest.approx(10.0 / 0.97, rel=0.02)
    feed(learner, 4 * 3600, lambda i: -1500.0, BATTERY, soc, t0=4 * 3600)
    assert len(learner.estimates) >= 4
    assert learner.kwh == pytest.approx(10.0, rel=0.04)


def test_a_fine_grained_soc_reading_works_too() -> None:
    learner = CapacityLearner()
    feed(learner, 3 * 3600, lambda i: 3000.0, BATTERY, 20.0, resolution=0.1, every_s=10)
    assert learner.kwh == pytest.approx(10.0 / 0.97, rel=0.02)


def test_a_gap_in_the_readings_breaks_the_measurement() -> None:
    learner = CapacityLearner()
    soc = feed(learner, 1800, lambda i: 2000.0, BATTERY, 30.0)  # ~+10 points
    # the GX's data stops for ten minutes while the battery charges on
    soc = feed(CapacityLearner(), 600, lambda i: 2000.0, BATTERY, soc)
    feed(learner, 1800, lambda i: 2000.0, BATTERY, soc, t0=1800 + 600)
    assert learner.kwh is None  # neither half covers 20 points alone

    unknown = CapacityLearner()
    feed(unknown, 1800, lambda i: 2000.0, BATTERY, 30.0)
    unknown.record(1800.0, None, None)  # stale values also break it
    feed(unknown, 1800, lambda i: 2000.0, BATTERY, soc, t0=1801)
    assert unknown.kwh is None
    assert MAX_GAP_S < 600


def test_energy_at_a_full_battery_is_not_counted() -> None:
    # up to 100 %, then an hour where the meter sees 1 kW go in and out at 100 % (absorption,
    # loads), then down: the estimate must come from the moves, not from the hour at the top
    learner = CapacityLearner()
    soc = feed(learner, 5 * 3600, lambda i: 2500.0, BATTERY, 60.0)
    assert soc == pytest.approx(100.0)
    for i in range(3600):
        learner.record(5 * 3600 + i, 100.0, 1000.0)
    feed(learner, 5 * 3600, lambda i: -1500.0, BATTERY, 100.0, t0=6 * 3600)
    assert learner.estimates and all(9.4 < kwh < 10.6 for kwh in learner.estimates)


def test_power_against_the_soc_is_not_believed() -> None:
    # a battery monitor wired the other way round: power negative while the SOC rises
    learner = CapacityLearner()
    soc = 30.0
    for i in range(4 * 3600):
        power, soc = battery_step(soc, 2000.0, BATTERY, 1.0)
        learner.record(float(i), round(soc), -power)
    assert learner.kwh is None


def test_the_estimate_is_the_median_of_the_last_few() -> None:
    learner = CapacityLearner()
    learner.load_json({"estimates_kwh": [10.0, 10.2, 50.0, 9.8, 10.1, 9.9]})
    assert len(learner.estimates) == KEEP
    assert learner.kwh == pytest.approx(10.1)  # the 50 kWh outlier does not move it


def test_the_saved_estimates_come_back_and_malformed_ones_are_dropped() -> None:
    learner = CapacityLearner()
    feed(learner, 4 * 3600, lambda i: 2000.0, BATTERY, 30.0)
    again = CapacityLearner()
    again.load_json(learner.to_json())
    assert again.kwh == learner.kwh
    for bad in (None, [], {"estimates_kwh": "10"}, {"estimates_kwh": [True, "x", -3, 1e9]}):
        spoiled = CapacityLearner()
        spoiled.load_json(bad)
        assert spoiled.kwh is None
