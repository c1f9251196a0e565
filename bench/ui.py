"""Benchmark of the web UI: RSS idle and with 5 live SSE streams; /api/status p99 under load.

A private mosquitto, the UI as its own process (waitress), synthetic retained state republished
once a second, 5 SSE clients reading continuously, then 50 threads hitting /api/status on
loopback (a new connection per request, as browsers and curl mostly do).
``run()`` returns the figures; targets: RSS <= 40 MB, p99 <= 50 ms.
"""

from __future__ import annotations

import http.client
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Dict, List

from bench.procstat import rss_mb

SSE_STREAMS = 5
CONCURRENCY = 50
REQUESTS_PER_THREAD = 20


def _sse_reader(port: int, stop: threading.Event, events: List[int]) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/api/events")
    resp = conn.getresponse()
    assert resp.status == 200, resp.status
    while not stop.is_set():
        line = resp.readline()
        if not line:
            break
        if line.startswith(b"event: status"):
            events.append(1)
    conn.close()


def _hammer(port: int, n: int, out: List[float], errors: List[str]) -> None:
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/status")
            resp = conn.getresponse()
            body = resp.read()
            conn.close()
            if resp.status != 200 or not body:
                errors.append(str(resp.status))
        except OSError as exc:
            errors.append(str(exc))
            continue
        out.append((time.perf_counter() - t0) * 1000)


def run() -> Dict[str, Any]:
    from common.schemas import load_schema
    from sim.procs import Broker, Probe, Proc, base_config, free_port, wait_until, write_config

    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    broker = Broker().start()
    probe = Probe(broker.port)
    web_port = free_port()
    cfg = base_config(tmp, 5020, broker.port, web={"port": web_port})
    cfg["logging"] = {"level": "WARNING", "file": None}
    ui = Proc("ui", "--config", str(write_config(tmp / "c.yaml", cfg)), log_dir=tmp).start()
    stop = threading.Event()
    state = dict(load_schema("state")["examples"][0])
    control = dict(load_schema("control_state")["examples"][0])

    def publisher() -> None:
        probe.publish("alfen/0/availability", "online", retain=True)
        probe.publish("alfen/0/control/availability", "online", retain=True)
        while not stop.is_set():
            state["ts"] = time.time()
            state["power_w"] = 11000 + (time.time() % 10) * 10
            probe.publish("alfen/0/state", state, retain=True)
            probe.publish("alfen/0/control/state", {**control, "ts": time.time()}, retain=True)
            stop.wait(1.0)

    threads = [threading.Thread(target=publisher, daemon=True)]
    threads[0].start()
    try:
        wait_until(lambda: _status_ok(web_port), 15)
        time.sleep(3)
        rss_idle = rss_mb(ui.pid)
        events: List[int] = []
        for _ in range(SSE_STREAMS):
            t = threading.Thread(target=_sse_reader, args=(web_port, stop, events), daemon=True)
            t.start()
            threads.append(t)
        time.sleep(4)
        rss_sse = rss_mb(ui.pid)
        latencies: List[float] = []
        errors: List[str] = []
        workers = [
            threading.Thread(
                target=_hammer, args=(web_port, REQUESTS_PER_THREAD, latencies, errors)
            )
            for _ in range(CONCURRENCY)
        ]
        t0 = time.perf_counter()
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        wall_s = time.perf_counter() - t0
        latencies.sort()
        rss_load = rss_mb(ui.pid)
        return {
            "rss_idle_mb": round(rss_idle, 1),
            "rss_5_sse_mb": round(rss_sse, 1),
            "rss_after_load_mb": round(rss_load, 1),
            "sse_events_received": len(events),
            "status_requests": len(latencies),
            "status_errors": len(errors),
            "status_p50_ms": round(statistics.median(latencies), 2),
            "status_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 2),
            "status_max_ms": round(latencies[-1], 2),
            "status_rps": round(len(latencies) / wall_s),
            "targets": {"rss_mb": 40, "p99_ms": 50},
        }
    finally:
        stop.set()
        ui.stop()
        probe.close()
        broker.stop()


def _status_ok(port: int) -> bool:
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        conn.request("GET", "/api/status")
        ok = json.loads(conn.getresponse().read())["online"]["charger"]
        conn.close()
        return bool(ok)
    except (OSError, ValueError, KeyError):
        return False


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
