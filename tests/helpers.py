"""Real parts for tests: a mosquitto broker, processes of ours, and an MQTT probe client.

They live in ``sim.procs`` and ``sim.stack`` (the benches use them too, and must not import
from ``tests/``); re-exported here so that tests keep importing them from ``tests.helpers``.
"""

from __future__ import annotations

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
from sim.stack import Stack, seed_controller_state

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
