"""``python -m demo`` (``make demo``): the whole system against the simulated charger and site.

Starts its own MQTT broker on a free port (or shares one with ``--broker HOST:PORT``), the
simulated world (Alfen + Victron site), the bridge, the controller, the web UI and, when a D-Bus
session bus is there, the D-Bus shim; prints the URL; runs a sunny late morning faster than real
time with a scripted cloud and one unplug/replug of the car (so History has a session). Every
topic is under ``alfen-demo/``. Ctrl-C or SIGTERM stops every process; on a shared broker the
demo then clears every retained topic it wrote. ``--headless --duration 80`` is what the test
runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
import webbrowser
from pathlib import Path
from typing import Any, Dict, List, Optional

from common.mqtt_link import MqttSettings
from common.topics import Topics
from demo.broker import (
    BrokerPlan,
    free_port,
    plan_broker,
    port_answers,
    port_free,
    shared_warning,
)
from demo.config import (
    DEMO_PREFIX,
    PORTAL,
    SITE_SPEED,
    START_HOUR,
    DemoPorts,
    world_args,
    write_demo_config,
)
from demo.janitor import clear_retained, owned_roots, retained
from demo.scenario import PERIOD_S, SCRIPT, Director
from demo.supervisor import ProcSpec, Supervisor

ROOT = Path(__file__).resolve().parent.parent
WEB_PORT = 8088
TICK_S = 0.25


def dbus_session_usable() -> Optional[str]:
    """Why the shim is left out, or None when a session bus and the bindings are there."""
    if not os.environ.get("DBUS_SESSION_BUS_ADDRESS"):
        return "no D-Bus session bus (DBUS_SESSION_BUS_ADDRESS is not set)"
    try:
        import dbus  # noqa: F401
        from gi.repository import GLib  # noqa: F401
    except ImportError as exc:
        return f"dbus-python/PyGObject not importable ({exc})"
    return None


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    p.add_argument("--headless", action="store_true", help="never open a browser")
    p.add_argument("--duration", type=float, default=0.0, help="stop after S seconds (0: never)")
    p.add_argument("--state-dir", default="", help="keep config, state and logs here")
    p.add_argument(
        "--keep", action="store_true", help="keep the demo's files (config, state, logs) on exit"
    )
    p.add_argument(
        "--broker",
        default="auto",
        metavar="auto|mosquitto|embedded|HOST:PORT",
        help="auto (default): the demo's own broker on a free port, mosquitto if installed, "
        "else demo/minibroker.py; HOST:PORT shares an existing broker (the demo writes under "
        f"{DEMO_PREFIX}/ there and clears its retained topics on exit)",
    )
    p.add_argument("--web-port", type=int, default=WEB_PORT, help="UI port (busy: any free one)")
    p.add_argument("--no-dbus", action="store_true", help="leave the D-Bus shim out")
    p.add_argument("--no-clouds", action="store_true", help="no scripted events (cloud, unplug)")
    return p.parse_args(argv)


def build_specs(plan: BrokerPlan, ports: DemoPorts, config: Path, dbus: bool) -> List[ProcSpec]:
    """Every process of the demo, in start order (the broker first, when it is ours)."""
    py = sys.executable
    env = {"PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    specs = []
    if plan.argv is not None:
        specs.append(ProcSpec("broker", plan.argv, env))
    specs += [
        ProcSpec("world", [py, "-m", "sim", *world_args(ports, plan.host)], env),
        ProcSpec("bridge", [py, "-m", "bridge", "--config", str(config)], env),
        ProcSpec("control", [py, "-m", "control", "--config", str(config)], env),
        ProcSpec("ui", [py, "-m", "ui", "--config", str(config)], env),
    ]
    if dbus:
        specs.append(ProcSpec("dbus-shim", [py, "-m", "dbus_shim", "--config", str(config)], env))
    return specs


def summary(
    url: str, plan: BrokerPlan, ports: DemoPorts, state_dir: Path, shim: str, keep: bool
) -> str:
    cloud = ", ".join(f"{s.cmd} at {s.at_s:.0f} s" for s in SCRIPT if not s.once)
    once = ", ".join(f"{s.cmd} at {s.at_s:.0f} s" for s in SCRIPT if s.once)
    files = "kept on exit" if keep else "removed on exit (--keep keeps them)"
    lines = [
        "",
        "  Alfen ↔ Victron demo",
        f"  Web UI        {url}",
        f"  MQTT          {plan.description}   (topics {DEMO_PREFIX}/#, N/{PORTAL}/#)",
        f"  Charger       simulated Alfen, Modbus TCP 127.0.0.1:{ports.modbus}, a car plugged in",
        f"  Site          simulated Victron GX, starts {START_HOUR:05.2f} h, {SITE_SPEED:.0f}x real time",
        f"  Script        AUTO; every {PERIOD_S:.0f} s: {cloud}; once: {once}",
        f"  D-Bus shim    {shim}",
        f"  Files         {state_dir} (config.yaml, demo.log, demo.json): {files}",
        "  Stop          Ctrl-C (stops every process)",
        "",
    ]
    return "\n".join(lines)


def write_state(path: Path, doc: Dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    os.replace(tmp, path)


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    # a directory the user named is theirs; ALFEN_DEMO_KEEP is the older spelling of --keep
    keep = args.keep or bool(args.state_dir) or bool(os.environ.get("ALFEN_DEMO_KEEP"))
    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="alfen-demo-")).resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    try:
        plan = plan_broker(args.broker, state_dir)
    except RuntimeError as exc:
        print(f"demo: {exc}", file=sys.stderr)
        if not keep:
            shutil.rmtree(state_dir, ignore_errors=True)
        return 2
    web = args.web_port if args.web_port and port_free(args.web_port) else free_port()
    ports = DemoPorts(mqtt=plan.port, modbus=free_port(), sim_control=free_port(), web=web)
    why_no_dbus = "left out (--no-dbus)" if args.no_dbus else dbus_session_usable()
    shim = why_no_dbus is None
    config = write_demo_config(state_dir, ports, shim, plan.host)
    url = f"http://127.0.0.1:{ports.web}/ui/"

    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda *_a: stop.set())

    sup = Supervisor(ROOT, sys.stdout, state_dir / "demo.log")
    state_file = state_dir / "demo.json"

    def save() -> None:
        write_state(
            state_file,
            {
                "url": url,
                "supervisor_pid": os.getpid(),
                "broker": plan.kind,
                "ports": ports.__dict__,
                "pids": sup.pids(),
                "all_pids": sup.all_pids(),
                "config": str(config),
            },
        )

    sup.on_change = save
    for spec in build_specs(plan, ports, config, shim):
        sup.add(spec)
    if plan.shared:
        print(shared_warning(plan, DEMO_PREFIX, PORTAL), flush=True)
    shim_text = "running (session bus)" if shim else str(why_no_dbus)
    print(summary(url, plan, ports, state_dir, shim_text, keep), flush=True)
    director = Director(
        ports.mqtt,
        ports.sim_control,
        Topics(DEMO_PREFIX, "0"),
        clouds=not args.no_clouds,
        mqtt_host=plan.host,
    )
    deadline = time.monotonic() + args.duration if args.duration > 0 else None
    try:
        if plan.argv is not None:  # our broker first: everyone else connects to it at once
            sup.start(sup.children[0])
            until = time.monotonic() + 10
            while not port_answers(ports.mqtt) and time.monotonic() < until and not stop.is_set():
                time.sleep(0.1)
        sup.start_all()
        director.start()
        opened = args.headless
        while not stop.is_set() and (deadline is None or time.monotonic() < deadline):
            sup.tick()
            director.tick(sup.say)
            if not opened and director.control:
                opened = True
                _open_browser(url)
            time.sleep(TICK_S)
    finally:
        sup.say("demo", "stopping every process…")
        director.stop()
        codes = sup.stop_all()
        save()
        left = [n for n, pid in sup.pids().items() if pid is not None]
        sup.say("demo", "all stopped" if not left else f"still running: {left}")
        if plan.shared:
            _clean_shared_broker(plan, sup.say)
        if keep:
            sup.say("demo", f"files kept in {state_dir}")
        else:
            shutil.rmtree(state_dir, ignore_errors=True)
    bad = {n: c for n, c in codes.items() if c not in (0, None, -signal.SIGTERM)}
    return 1 if bad else 0


def _clean_shared_broker(plan: BrokerPlan, say: Any) -> None:
    """Leave a shared broker as the demo found it: no retained topic of ours stays behind."""
    settings = MqttSettings(host=plan.host, port=plan.port)
    roots = owned_roots(DEMO_PREFIX, PORTAL)
    cleared = clear_retained(settings, roots, f"alfen-demo-janitor-{os.getpid()}")
    left = retained(settings, roots, f"alfen-demo-check-{os.getpid()}")
    say("demo", f"cleared {len(cleared)} retained topics on {plan.host}:{plan.port}")
    if left:
        say("demo", f"WARNING: still retained on {plan.host}:{plan.port}: {', '.join(left)}")


def _open_browser(url: str) -> None:
    if os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or sys.platform == "darwin":
        try:
            webbrowser.open(url)
        except webbrowser.Error:
            pass


if __name__ == "__main__":
    sys.exit(main())
