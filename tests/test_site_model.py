"""The simulated site: balance line, ESS battery behaviour, DST day lengths, CSV replay."""

from __future__ import annotations

from pathlib import Path

import pytest

from sim import days
from sim.site_model import BatteryParams, SiteModel, Trace, read_trace_csv, write_trace_csv


def flat(pv: float, load: float, n: int = 10) -> Trace:
    return Trace(0.0, [pv] * n, [(load / 3, load / 3, load / 3)] * n, [0.25] * n)


def test_balance_line_per_phase() -> None:
    site = SiteModel(flat(3000, 900), BatteryParams(soc0=100.0))  # full: no battery power
    r = site.step(0, (2000.0, 0.0, 0.0))
    # grid_k = EV_k + house_k + battery_k − PV_k
    assert r.grid_w == pytest.approx((2000 + 300 - 1000, 300 - 1000, 300 - 1000))
    assert r.battery_w == 0 and r.export_w == pytest.approx(100)


def test_battery_absorbs_surplus_until_full_then_exports() -> None:
    site = SiteModel(flat(8000, 1000), BatteryParams(soc0=50.0, max_charge_w=5000.0))
    r = site.step(0, (0.0, 0.0, 0.0))
    assert r.battery_w == pytest.approx(5000) and r.export_w == pytest.approx(2000)
    full = SiteModel(flat(8000, 1000), BatteryParams(soc0=100.0))
    assert full.step(0, (0.0, 0.0, 0.0)).export_w == pytest.approx(7000)


def test_battery_stops_discharging_at_ess_minimum() -> None:
    site = SiteModel(flat(0, 2000), BatteryParams(soc0=30.0, ess_min_soc=20.0))
    assert site.step(0, (0.0, 0.0, 0.0)).import_w == pytest.approx(0)
    low = SiteModel(flat(0, 2000), BatteryParams(soc0=20.0, ess_min_soc=20.0))
    r = low.step(0, (0.0, 0.0, 0.0))
    assert r.battery_w == 0 and r.import_w == pytest.approx(2000)


def test_days_are_deterministic_and_varied() -> None:
    assert len(days.DAYS) >= 10
    a, b = days.build(days.by_name("broken_cloud")), days.build(days.by_name("broken_cloud"))
    assert a.pv_w[40000:40100] == b.pv_w[40000:40100]
    clear = days.build(days.by_name("clear_june"))
    # clouds: many big second-to-second changes on the broken day, none on the clear one
    jumps = lambda t: sum(1 for x, y in zip(t.pv_w, t.pv_w[1:]) if abs(x - y) > 100)  # noqa: E731
    assert jumps(a) > 50 and jumps(clear) == 0
    assert max(days.build(days.by_name("winter_overcast")).pv_w) < 0.3 * max(clear.pv_w)


def test_dst_days_have_23_and_25_hours() -> None:
    assert len(days.build(days.by_name("dst_spring"))) == 23 * 3600
    assert len(days.build(days.by_name("dst_autumn"))) == 25 * 3600


def test_a_day_moved_across_a_dst_change_keeps_the_sun_at_its_solar_time() -> None:
    autumn = days.by_name("dst_autumn")  # 2026-10-25, the first day of winter time
    before = days.on_date(autumn, "2026-10-24")  # still summer time: the sun is an hour later
    assert before.sunrise_h == pytest.approx(autumn.sunrise_h + 1.0)
    assert before.sunset_h == pytest.approx(autumn.sunset_h + 1.0)
    a, b = days.build(autumn), days.build(before)
    first_sun = lambda tr: next(i for i, w in enumerate(tr.pv_w) if w > 0)  # noqa: E731
    # in UTC the first light comes at the same time of day (the 25-hour day starts at the same
    # UTC clock time, 22:00, as the day before)
    assert (a.start_ts + first_sun(a)) - (b.start_ts + first_sun(b)) == pytest.approx(86400, abs=2)
    assert days.on_date(autumn, "2026-10-26").sunrise_h == autumn.sunrise_h


def test_csv_round_trip_and_sparse_replay(tmp_path: Path) -> None:
    tr = days.build(days.by_name("clear_june"))
    path = tmp_path / "d.csv"
    write_trace_csv(tr, path, every_s=10)
    back = read_trace_csv(path)
    assert back.start_ts == tr.start_ts and len(back) == len(tr)
    assert back.pv_w[43205] == pytest.approx(tr.pv_w[43200], abs=1)
    minimal = tmp_path / "m.csv"
    minimal.write_text("t_s,pv_w,load_w\n0,1000,600\n5,2000,300\n")
    m = read_trace_csv(minimal)
    assert len(m) == 10 and m.load_w[0] == (200, 200, 200) and m.price[0] == 0.25
