"""Parallel test workers pick server ports from slices of their own that never overlap."""

from __future__ import annotations

from tests.helpers import ALL_PORTS, worker_port_range


def test_workers_get_disjoint_slices_inside_the_range() -> None:
    slices = [worker_port_range(f"gw{i}", 3) for i in range(3)]
    for lo, hi in slices:
        assert ALL_PORTS[0] <= lo < hi <= ALL_PORTS[1]
        assert hi - lo > 1000  # room for a whole run's servers
    ordered = sorted(slices)
    assert all(a[1] < b[0] for a, b in zip(ordered, ordered[1:]))


def test_without_xdist_the_whole_range_is_used() -> None:
    assert worker_port_range("", 1) == ALL_PORTS
    assert worker_port_range("master", 3) == ALL_PORTS
    assert worker_port_range("gw0", 1) == ALL_PORTS
