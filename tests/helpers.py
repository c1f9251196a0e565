"""Real parts for tests: a mosquitto broker, processes of ours, and an MQTT probe client.

They live in ``sim.procs`` and ``sim.stack`` (the benches use them too, and must not import
from ``tests/``); re-exported here so that tests keep importing them from ``tests.helpers``.
"""

from __future__ import annotations

import time
from pathlib import Path

from sim.procs import (
    ALL_PORTS,
    PORT_RANGE,
    ROOT,
    Broker,
    Probe,
    Proc,
    SimProc,
    base_config,
    config_procs,
    free_port,
    merge_config,
    mosquitto_path,
    wait_until,
    worker_port_range,
    write_config,
)
from sim.stack import Stack

__all__ = [
    "ALL_PORTS",
    "PORT_RANGE",
    "ROOT",
    "Broker",
    "Probe",
    "Proc",
    "SimProc",
    "Stack",
    "base_config",
    "config_procs",
    "free_port",
    "merge_config",
    "mosquitto_path",
    "seed_controller_state",
    "wait_until",
    "worker_port_range",
    "write_config",
]


def seed_controller_state(
    state_dir: Path, surplus_w: float, capacity_kwh: float, tz: str = "Europe/Amsterdam"
) -> None:
    """What a GX would have learned before: the site's surplus in every quarter hour of
    yesterday and today so far, the battery's capacity, and AUTO as the user's mode; written
    with the controller's own classes and store."""
    from control.battery_capacity import CapacityLearner
    from control.forecast import PvForecaster
    from control.model import Mode, UserSettings
    from control.store import Store

    now = time.time()
    pv = PvForecaster(tz)
    for t in range(int(now) - 2 * 86400, int(now) - 900, 900):
        pv.record(float(t), surplus_w)
    capacity = CapacityLearner()
    capacity.load_json({"estimates_kwh": [capacity_kwh]})
    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(str(state_dir))
    store.save_pv_history(pv.to_json())
    store.save_battery(capacity.to_json())
    store.save_settings(UserSettings(mode=Mode.AUTO))
