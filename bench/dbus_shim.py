"""Benchmark of the D-Bus shim: RSS, CPU per update at 1 s updates, state -> ItemsChanged latency.

A private dbus-daemon and mosquitto, the shim as its own process, synthetic retained state
published once a second (each a real change of power and currents), and a client that times
each ItemsChanged against the publish. ``run()`` returns the figures; ``make bench`` prints them.
"""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List

from bench.procstat import cpu_s, rss_mb

UPDATES = 20
PERIOD_S = 1.0


def run(updates: int = UPDATES) -> Dict[str, Any]:
    from common.schemas import load_schema
    from sim.procs import Broker, Probe, Proc, base_config, free_port, write_config
    from sim.venus_dbus import Client, DbusDaemon, pump

    tmp = Path(tempfile.mkdtemp(prefix="bench-shim-"))
    daemon, broker = DbusDaemon().start(), Broker().start()
    probe = Probe(broker.port, subscriptions=())
    cfg = base_config(tmp, free_port(), broker.port, dbus={"address": daemon.address})
    cfg["logging"] = {"level": "WARNING", "file": None}
    shim = Proc("dbus_shim", "--config", str(write_config(tmp / "c.yaml", cfg)), log_dir=tmp)
    client = None
    try:
        state = copy.deepcopy(load_schema("state")["examples"][0])
        probe.publish("alfen/0/availability", "online", retain=True)
        probe.publish("alfen/0/info", load_schema("info")["examples"][0], retain=True)
        probe.publish("alfen/0/control/state", load_schema("control_state")["examples"][0], True)
        probe.publish("alfen/0/state", state, retain=True)
        shim.start()
        client = Client(daemon.address)
        name = "com.victronenergy.evcharger.alfen_0"
        client.wait(lambda: client.owner(name), 20)
        client.wait(lambda: client.value(name, "/Connected") == 1, 10)
        pump(1.0)
        latencies: List[float] = []
        cpu0, t0 = cpu_s(shim.pid), time.monotonic()
        for i in range(updates):
            state["power_w"] = 1000.0 + i
            state["l1"]["power_w"] = 300.0 + i
            mark = len(client.signals)
            sent = time.perf_counter()
            probe.client.publish("alfen/0/state", json.dumps(state), qos=0, retain=True)
            client.wait(lambda m=mark: client.items_changed(m), 5)
            latencies.append((time.perf_counter() - sent) * 1000)
            pump(max(0.0, t0 + (i + 1) * PERIOD_S - time.monotonic()))
        cpu_ms = (cpu_s(shim.pid) - cpu0) * 1000 / updates
        latencies.sort()
        return {
            "dbus_shim_rss_mb": round(rss_mb(shim.pid), 1),
            # shared libraries (libpython, GLib, libdbus, libssl) are most of VmRSS and are
            # shared with Venus's own Python services; the private part is what the shim adds
            "dbus_shim_rss_private_mb": round(rss_mb(shim.pid, "RssAnon"), 1),
            "dbus_shim_cpu_ms_per_update": round(cpu_ms, 2),
            "dbus_shim_latency_ms_p50": round(statistics.median(latencies), 2),
            "dbus_shim_latency_ms_p99": round(
                latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 2
            ),
            "dbus_shim_updates": updates,
        }
    finally:
        if client is not None:
            client.close()
        shim.stop()
        probe.close()
        broker.stop()
        daemon.stop()


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
