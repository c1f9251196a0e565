"""``python -m demo`` end to end: every part comes up, AUTO charges on surplus, a cloud pauses it,
a killed part is restarted, SIGTERM stops everything and no process is left."""

from __future__ import annotations

import json
import os
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
