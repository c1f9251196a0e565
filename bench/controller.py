"""Benchmark of the controller process (``python -m control``): RSS and CPU per 1 s tick.

Everything real: mosquitto, the simulated site and charger in real time (PV, house, a battery,
a car plugged in), the bridge, and the controller in AUTO with the battery check working: a
seeded PV history and battery capacity, so each tick also runs the forecast and the learner.
After a warm-up the controller's CPU is read from /proc over the window. ``run()`` returns the
figures; ``make bench`` prints them.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any, Dict

from bench.procstat import cpu_s, rss_mb

WARMUP_S = 15.0
WINDOW_S = 60.0


def run(window_s: float = WINDOW_S) -> Dict[str, Any]:
    from common.topics import Topics
    from sim.procs import Broker, Probe, Proc, SimProc, base_config, wait_until, write_config
    from sim.stack import seed_controller_state

    tmp = Path(tempfile.mkdtemp(prefix="bench-control-"))
    broker = Broker().start()
    topics = Topics("alfen", "0")
    probe = Probe(broker.port, subscriptions=(topics.control_state,))
    world = SimProc(
        "world",
        *("--mqtt-port", str(broker.port), "--portal", "bench0portal", "--start-hour", "12"),
        *("--battery-kwh", "10", "--battery-soc", "85", "--pv-peak-w", "6000"),
        *("--plug-at", "0", "--car-phases", "3"),
        log_dir=tmp,
    )
    cfg = base_config(
        tmp,
        world.modbus,
        broker.port,
        victron={"portal_id": "bench0portal"},
        auto={"start_delay_s": 5},  # charging through the window, not waiting for the delay
    )
    cfg["poll_interval_ms"] = 1000  # as on a GX
    cfg["logging"] = {"level": "WARNING", "file": None}
    path = write_config(tmp / "config.yaml", cfg)
    seed_controller_state(tmp / "state", surplus_w=3000.0, capacity_kwh=10.0)
    bridge = Proc("bridge", "--config", str(path), log_dir=tmp)
    control = Proc("control", "--config", str(path), log_dir=tmp)
    try:
        world.start()
        time.sleep(1.0)
        bridge.start()
        control.start()
        wait_until(lambda: probe.text(topics.control_state), 20)
        time.sleep(WARMUP_S)
        cpu0, t0 = cpu_s(control.pid), time.monotonic()
        time.sleep(window_s)
        seconds = time.monotonic() - t0
        state = probe.json(topics.control_state)
        cpu_ms = (cpu_s(control.pid) - cpu0) * 1000 / seconds
        return {
            "control_rss_mb": round(rss_mb(control.pid), 1),
            "control_rss_peak_mb": round(rss_mb(control.pid, "VmHWM"), 1),
            "control_rss_private_mb": round(rss_mb(control.pid, "RssAnon"), 1),
            "control_cpu_ms_per_tick": round(cpu_ms, 2),
            "control_cpu_percent_of_core": round(cpu_ms / 10.0, 2),
            "control_window_s": round(seconds),
            "control_state_when_measured": f"{state.get('mode_name')}, status {state.get('status')}"
            f", battery_check {state.get('battery_check')}",
        }
    finally:
        for proc in (control, bridge, world):
            proc.stop()
        probe.close()
        broker.stop()
