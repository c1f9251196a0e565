"""The parts that run the simulated system as real processes: a private mosquitto, our
processes (``python -m bridge`` …), the simulator, an MQTT probe client, free loopback ports
and the config file they all share.

The tests, the fault suite and the benches all start processes with these; they live here, next
to the simulator, so that the benches (which are not tests) need nothing from ``tests/``.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

import paho.mqtt.client as paho
import yaml
from paho.mqtt.enums import CallbackAPIVersion

ROOT = Path(__file__).resolve().parent.parent


_PORTS_GIVEN: Set[int] = set()
ALL_PORTS = (20000, 32000)  # below Linux's ephemeral range (32768-60999)


def worker_port_range(worker: str, workers: int) -> Tuple[int, int]:
    """This pytest-xdist worker's own slice of ``ALL_PORTS`` ("gw1" of 3 gets the second third),
    so that parallel workers, which cannot see each other's ``_PORTS_GIVEN``, never race for a
    port between the check and the bind. Without xdist: the whole range."""
    lo, hi = ALL_PORTS
    if not worker.startswith("gw") or not worker[2:].isdigit() or workers < 2:
        return lo, hi
    size = (hi - lo) // workers
    start = lo + int(worker[2:]) * size
    return start, start + size - 1


PORT_RANGE = worker_port_range(
    os.environ.get("PYTEST_XDIST_WORKER", ""), int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
)


def free_port() -> int:
    """A port a test server can bind a moment later. Not from the kernel's ephemeral range: a
    port the kernel hands out for "any free port" is also what it gives outgoing connections,
    and CI once lost the simulator's control port to one between this check and the bind.
    Never the same port twice in a run, so two servers of one test cannot collide either."""
    rng = random.Random()
    for _ in range(500):
        port = rng.randint(*PORT_RANGE)
        if port in _PORTS_GIVEN:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _PORTS_GIVEN.add(port)
        return port
    raise RuntimeError(f"no free port in {PORT_RANGE}")


def wait_until(pred: Callable[[], Any], timeout_s: float = 10.0, interval_s: float = 0.05) -> Any:
    """Poll ``pred`` until it returns something truthy; raise AssertionError on timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = pred()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        time.sleep(interval_s)


def mosquitto_path() -> Optional[str]:
    return shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if os.path.exists("/usr/sbin/mosquitto") else None
    )


class Broker:
    """A private mosquitto on a free loopback port; restartable on the same port."""

    def __init__(self, port: Optional[int] = None, extra_conf: str = "") -> None:
        self.port = port or free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="mosq-"))
        self.extra_conf = extra_conf
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> Broker:
        exe = mosquitto_path()
        if not exe:
            raise RuntimeError("mosquitto not installed (make test installs it)")
        conf = self.dir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            f"{self.extra_conf}\n"
        )
        self.proc = subprocess.Popen(
            [exe, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=open(self.dir / "log", "ab")
        )
        wait_until(lambda: _port_open(self.port), 10)
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.proc = None

    def restart(self, down_s: float = 0.5) -> None:
        self.stop()
        time.sleep(down_s)
        self.start()


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Probe:
    """An MQTT client for tests: records every message, waits for conditions, publishes."""

    def __init__(self, port: int, subscriptions: Tuple[str, ...] = ("#",)) -> None:
        self.messages: List[Tuple[str, bytes, bool]] = []
        self.latest: Dict[str, bytes] = {}
        self.lock = threading.Lock()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"probe-{os.getpid()}-{id(self)}"
        )
        self.subs = subscriptions
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, client: paho.Client, *_: Any) -> None:
        for topic in self.subs:
            client.subscribe(topic)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))
            self.latest[msg.topic] = bytes(msg.payload)

    def json(self, topic: str) -> Any:
        with self.lock:
            raw = self.latest.get(topic)
        return None if raw is None else json.loads(raw)

    def text(self, topic: str) -> Optional[str]:
        with self.lock:
            raw = self.latest.get(topic)
        return None if raw is None else raw.decode()

    def wait_json(
        self, topic: str, pred: Callable[[Any], bool] = lambda _v: True, timeout_s: float = 10
    ) -> Any:
        def check() -> Any:
            value = self.json(topic)
            return value if value is not None and pred(value) else None

        return wait_until(check, timeout_s)

    def since(self, index: int, topic: str) -> List[bytes]:
        with self.lock:
            return [p for t, p, _r in self.messages[index:] if t == topic]

    def mark(self) -> int:
        with self.lock:
            return len(self.messages)

    def publish(self, topic: str, payload: Any, retain: bool = False) -> None:
        if not isinstance(payload, (bytes, str)):
            payload = json.dumps(payload)
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


class Proc:
    """A process of ours (``python -m module args``), logging to a file, stopped with SIGTERM."""

    def __init__(
        self,
        module: str,
        *args: str,
        log_dir: Optional[Path] = None,
        env: Optional[Dict[str, str]] = None,
    ) -> None:
        self.module = module
        self.args = list(args)
        self.log_path = (log_dir or Path(tempfile.mkdtemp())) / f"{module.replace('.', '_')}.log"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})}
        self.proc: Optional[subprocess.Popen[bytes]] = None

    # How to run Python: the bench swaps in a 32-bit chroot (``python -m bench --root``).
    interpreter: List[str] = [sys.executable]

    def start(self) -> Proc:
        self.proc = subprocess.Popen(
            [*self.interpreter, "-m", self.module, *self.args],
            cwd=str(ROOT),
            env=self.env,
            stdout=open(self.log_path, "ab"),
            stderr=subprocess.STDOUT,
        )
        return self

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> Optional[int]:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        rc = self.proc.returncode
        self.proc = None
        return rc

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class SimProc(Proc):
    """``python -m sim <kind>`` (charger or world) on its own free Modbus and control ports."""

    def __init__(self, kind: str, *args: str, log_dir: Optional[Path] = None) -> None:
        self.modbus, self.ctl = free_port(), free_port()
        ports = ("--port", str(self.modbus), "--control-port", str(self.ctl))
        super().__init__("sim", kind, *ports, *args, log_dir=log_dir)


def config_procs(tmp: Path, cfg: Dict[str, Any], *modules: str) -> Tuple[Path, List[Proc]]:
    """Write ``cfg`` to ``tmp/config.yaml`` and a Proc per module (bridge, control, ui) on it."""
    path = write_config(tmp / "config.yaml", cfg)
    return path, [Proc(m, "--config", str(path), log_dir=tmp) for m in modules]


def write_config(path: Path, cfg: Dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def base_config(tmp: Path, modbus_port: int, mqtt_port: int, **overrides: Any) -> Dict[str, Any]:
    """A config for the simulated system: loopback everything, files in ``tmp``, fast polls;
    ``overrides`` as in ``merge_config``."""
    cfg: Dict[str, Any] = {
        "modbus": {"ip": "127.0.0.1", "port": modbus_port, "timeout_s": 1.0},
        "mqtt": {"host": "127.0.0.1", "port": mqtt_port},
        "poll_interval_ms": 250,
        "logging": {"level": "DEBUG", "file": str(tmp / "alfen.log")},
        "state_dir": str(tmp / "state"),
        "timezone": "Europe/Amsterdam",
    }
    return merge_config(cfg, overrides)


def merge_config(cfg: Dict[str, Any], overrides: Dict[str, Any]) -> Dict[str, Any]:
    """``cfg`` with ``overrides`` applied one level deep: a dict for a section that already is
    a dict updates that section's keys, anything else replaces the value. Returns ``cfg``."""
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key].update(value)
        else:
            cfg[key] = value
    return cfg
