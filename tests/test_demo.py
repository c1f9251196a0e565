"""``python -m demo`` end to end: every part comes up, AUTO charges on surplus, a cloud pauses it,
the car's unplug puts a session in History, a killed part is restarted, SIGTERM stops everything
and no process is left. On a broker it did not start, the demo leaves no retained topic."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from tests.helpers import ROOT, wait_until

pytestmark = pytest.mark.e2e

PARTS = {"broker", "world", "bridge", "control", "ui"}


def _read(path: Path) -> Optional[Dict[str, Any]]:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _status(url: str) -> Optional[Dict[str, Any]]:
    try:
        with urllib.request.urlopen(url.replace("/ui/", "/api/status"), timeout=2) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _get(url: str) -> Optional[bytes]:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.read()  # type: ignore[no-any-return]
    except OSError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie still answers kill(0): look at its state
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def test_demo_config_is_valid(tmp_path: Path) -> None:
    from common.config import load_config
    from demo.config import DemoPorts, write_demo_config

    for dbus in (False, True):
        cfg = load_config(write_demo_config(tmp_path, DemoPorts(1883, 5020, 5021, 8088), dbus))
        assert cfg["auto"]["stop_delay_s"] < 30 and cfg["web"]["host"] == "127.0.0.1"
        assert ("dbus" in cfg and cfg["dbus"]["bus"] == "session") is dbus


def test_demo_story_and_clean_stop(tmp_path: Path) -> None:
    state = tmp_path / "demo"
    out = tmp_path / "demo.out"
    cmd = [sys.executable, "-m", "demo", "--headless", "--duration", "80"]
    cmd += ["--broker", "embedded", "--web-port", "0", "--no-dbus", "--state-dir", str(state)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(out, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=fh, stderr=subprocess.STDOUT)
    started = time.monotonic()
    try:
        _story(proc, state / "demo.json", started)
    except AssertionError:
        proc.kill()
        print(out.read_text(errors="replace")[-6000:])
        raise
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
    log = out.read_text(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    doc = _read(state / "demo.json")
    assert doc is not None
    every: List[int] = [pid for pids in doc["all_pids"].values() for pid in pids]
    left = [pid for pid in [*every, proc.pid] if _alive(pid)]
    assert not left, f"still running: {left}"
    assert "all stopped" in log


def _story(proc: subprocess.Popen, state_file: Path, started: float) -> None:  # type: ignore[type-arg]
    doc = wait_until(lambda: (d := _read(state_file)) and set(d["pids"]) >= PARTS and d, 15)
    url = doc["url"]
    # every part is up: all have a pid, the UI answers and sees broker, bridge, charger, controller
    wait_until(lambda: all(_read(state_file)["pids"][p] for p in PARTS), 10)  # type: ignore[index]
    up = wait_until(lambda: (s := _status(url)) and all(s["online"].values()) and s, 25)
    assert up["online"] == {"broker": True, "bridge": True, "charger": True, "controller": True}

    def charging_on_surplus() -> Optional[Dict[str, Any]]:
        s = _status(url) or {}
        c, st = s.get("control") or {}, s.get("state") or {}
        ok = c.get("mode") == 1 and c.get("status") == 2 and "surplus" in c.get("reason", "")
        return s if ok and (st.get("current_a") or 0) >= 6 and st.get("charging") else None

    wait_until(charging_on_surplus, 30, interval_s=0.5)

    def paused_by_cloud() -> Optional[Dict[str, Any]]:
        s = _status(url) or {}
        c, st = s.get("control") or {}, s.get("state") or {}
        ok = c.get("mode") == 1 and c.get("status") == 4 and c.get("commanded_current_a") == 0
        return s if ok and (st.get("current_a") or 0) < 1 else None

    wait_until(paused_by_cloud, 45, interval_s=0.5)
    assert time.monotonic() - started < 60, "the story took longer than a minute"

    # the script unplugs the car once: its session is in History and in the CSV
    api = url.replace("/ui/", "/api/")

    def history() -> Optional[List[Dict[str, Any]]]:
        doc = json.loads(_get(api + "sessions") or b"{}")
        return doc.get("sessions") or None

    sessions = wait_until(history, 20, interval_s=0.5)
    assert len(sessions) == 1, sessions
    csv_lines = (_get(api + "sessions.csv") or b"").decode().strip().splitlines()
    assert len(csv_lines) == 2, csv_lines  # the header and the one session

    # a part that dies is reported and restarted with a new pid
    bridge_pid = _read(state_file)["pids"]["bridge"]  # type: ignore[index]
    os.kill(bridge_pid, signal.SIGKILL)
    wait_until(
        lambda: (p := _read(state_file)["pids"]["bridge"]) and p != bridge_pid,  # type: ignore[index]
        10,
    )
    assert proc.poll() is None
    proc.send_signal(signal.SIGTERM)
    proc.wait(30)


def _retained_now(port: int) -> Dict[str, bytes]:
    """Every retained topic on the broker: what a fresh subscriber to # is sent at once."""
    from tests.helpers import Probe

    probe = Probe(port)
    try:
        time.sleep(1.0)  # the broker replays retained messages right after the subscription
        with probe.lock:
            return {t: p for t, p, retain in probe.messages if retain and p}
    finally:
        probe.close()


def test_demo_on_a_shared_broker_leaves_no_retained_topic(tmp_path: Path, broker: Any) -> None:
    from tests.helpers import Probe

    # someone else's retained topics: a real installation and its Home Assistant entity
    theirs = {
        "alfen/0/availability": b"online",
        "homeassistant/sensor/ACE0099999_power/config": b'{"name": "Power"}',
    }
    watcher = Probe(broker.port)
    for topic, payload in theirs.items():
        watcher.publish(topic, payload, retain=True)
    out = tmp_path / "demo.out"
    cmd = [sys.executable, "-m", "demo", "--headless", "--duration", "60", "--no-clouds"]
    cmd += ["--broker", f"127.0.0.1:{broker.port}", "--web-port", "0", "--no-dbus", "--keep"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with open(out, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        # the demo's processes wrote their retained state and discovery configs
        wait_until(lambda: watcher.json("alfen-demo/0/control/state"), 30)
        wait_until(lambda: watcher.json("alfen-demo/0/state"), 10)
        wait_until(
            lambda: any(t.startswith("alfen-demo/homeassistant/") for t in watcher.latest), 10
        )
        assert watcher.text("alfen/0/availability") == "online"  # nothing of theirs written
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(40)
        watcher.close()
    log = out.read_text(errors="replace")
    assert proc.returncode == 0, log[-4000:]
    assert "WARNING: the demo shares the MQTT broker" in log
    assert log.index("WARNING") < log.index("Web UI")  # on the first screen, before the summary
    assert _retained_now(broker.port) == theirs
    assert "cleared" in log and "still retained" not in log, log[-2000:]
    # --keep: the summary said where the files are, and they are still there
    files = re.search(r"Files +(\S+) \(config.yaml, demo.log, demo.json\): kept on exit", log)
    assert files, log[:2000]
    kept = Path(files.group(1))
    try:
        assert (kept / "config.yaml").is_file() and (kept / "demo.log").is_file()
        assert f"files kept in {kept}" in log
    finally:
        shutil.rmtree(kept, ignore_errors=True)


def test_summary_says_whether_the_files_stay(tmp_path: Path) -> None:
    from demo.__main__ import summary
    from demo.broker import BrokerPlan
    from demo.config import DemoPorts

    plan = BrokerPlan("embedded", 1, ["x"])
    ports = DemoPorts(1, 2, 3, 4)
    gone = summary("http://x/ui/", plan, ports, tmp_path, "off", keep=False)
    assert f"{tmp_path} (config.yaml, demo.log, demo.json): removed on exit (--keep" in gone
    kept = summary("http://x/ui/", plan, ports, tmp_path, "off", keep=True)
    assert f"{tmp_path} (config.yaml, demo.log, demo.json): kept on exit" in kept
    assert "alfen-demo/#" in kept and "the demo's own" in kept


def test_a_broker_that_does_not_answer_stops_the_demo_and_leaves_no_files(tmp_path: Path) -> None:
    from demo.broker import free_port

    env = {**os.environ, "PYTHONPATH": str(ROOT), "TMPDIR": str(tmp_path)}
    for bad, why in (
        (f"127.0.0.1:{free_port()}", "no MQTT broker answers on 127.0.0.1:"),
        ("localhost", "expected HOST:PORT"),
        ("localhost:http", "port 'http' is not a number"),
        ("localhost:70000", "port 70000 is not in 1..65535"),
    ):
        out = subprocess.run(
            [sys.executable, "-m", "demo", "--headless", "--broker", bad],
            cwd=str(ROOT),
            env=env,
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.returncode == 2 and why in out.stderr, (bad, out.stderr)
        assert not list(tmp_path.glob("alfen-demo-*")), bad  # its temporary folder is gone
