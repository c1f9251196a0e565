"""One whole stack per fault case, and a monitor that checks the safety invariants while it runs.

Each ``FaultStack`` is a ``sim.stack.Stack`` with its own mosquitto (so a broker fault hits one
case only), a ``sim world`` (charger + Venus site), a bridge and a controller, all on loopback
with short timers:

* charger validity 5 s (real default 60–300 s), command lease 10 s (default 90 s), refresh floor
  2 s, bridge poll 500 ms, Venus data stale after 6 s, keepalive 5 s. Every wait in the cases is
  derived from these constants, so "safe current within lease + validity" is the same rule as in
  production, only shorter.

The ``Monitor`` samples the simulator's status every 0.25 s and records:

* every setpoint/phase write the charger received (the sim's write log),
* the highest phase current seen against what may flow (the larger of the highest current the
  controller ever commanded and the safe current) and against the main fuse,
* processes that died although no fault killed them.

``finish()`` pauses the car, lets everything settle and compares the controller's session energy
(``control/state`` → session.energy_kwh) with the simulator's meter delta since plug-in.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Set, Tuple

from common.topics import Topics
from sim.procs import Probe, Proc, wait_until
from sim.stack import Stack

T = Topics("alfen", "0")
PORTAL = "fault0portal"
VALIDITY_S = 5.0  # charger setpoint validity (scaled: real chargers 60–300 s)
LEASE_S = 10.0  # controls.command_lease_seconds (scaled: default 90 s)
SAFE_A = 6.0  # charger safe current (1212)
SET_A = 10.0  # the user's set current in MANUAL
STATION_MAX_A = 16.0
CAR_MAX_A = 16.0
FUSE_A = 25.0  # victron.fuse_limit_a
STALE_S = 6.0  # victron.stale_after_s
POLL_MS = 500
TOL_A = 0.3  # the car ramps, a sample can catch a value mid-step; never more than this above
ENERGY_TOL_WH = 2.0  # control/state rounds to 1 Wh, the bridge state to 0.1 Wh


class Monitor(threading.Thread):
    """Samples the simulator and checks invariants; ``violations`` must stay empty."""

    def __init__(self, stack: FaultStack, interval_s: float = 0.25) -> None:
        super().__init__(daemon=True, name=f"monitor-{stack.name}")
        self.stack = stack
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.samples: List[Tuple[float, Dict[str, Any]]] = []
        self.writes: Dict[Tuple[float, str, float], None] = {}
        self.violations: List[str] = []
        self.max_current_a = 0.0
        self.lock = threading.Lock()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                sock = self.stack.socket()
            except (OSError, ValueError, KeyError):
                sock = None
            if sock is not None:
                self._check(sock)
            self._check_processes()
            self.stopped.wait(self.interval_s)

    def _check(self, sock: Dict[str, Any]) -> None:
        now = time.monotonic()
        with self.lock:
            self.samples.append((now, sock))
            for w in sock["writes"]:
                self.writes[(float(w[0]), str(w[1]), float(w[2]))] = None
        top = max(sock["current_a"])
        self.max_current_a = max(self.max_current_a, top)
        allowed = max(self.stack.max_commanded(), SAFE_A) + TOL_A
        if top > allowed:
            self.violations.append(f"phase current {top:.2f} A > allowed {allowed:.2f} A")
        if top > FUSE_A:
            self.violations.append(f"phase current {top:.2f} A above the fuse limit {FUSE_A} A")

    def _check_processes(self) -> None:
        for proc in self.stack.procs():
            if proc.module in self.stack.may_be_down:
                continue
            if not proc.alive():
                msg = f"{proc.module} died unexpectedly"
                if msg not in self.violations:
                    self.violations.append(msg)

    def setpoint_writes(self) -> List[Tuple[float, float]]:
        with self.lock:
            return sorted((t, v) for t, name, v in self.writes if name == "setpoint")

    def phase_writes(self) -> List[float]:
        with self.lock:
            return [v for _t, name, v in self.writes if name == "phases"]

    def sample(self) -> Dict[str, Any]:
        """A fresh sample now (not waiting for the thread)."""
        return self.stack.socket()


class FaultStack(Stack):
    """mosquitto + sim world + bridge + controller (+ UI) for one fault case, with the probe
    and the monitor that watch it."""

    def __init__(
        self,
        name: str,
        tmp: Path,
        mode: str = "manual",
        world_args: Tuple[str, ...] = (),
        cfg: Optional[Dict[str, Any]] = None,
        with_ui: bool = False,
    ) -> None:
        super().__init__(
            tmp,
            ("bridge", "control", "ui") if with_ui else ("bridge", "control"),
            portal=PORTAL,
            sim_args=(
                *("--start-hour", "12"),
                *("--battery-kwh", "0", "--pv-peak-w", "9000", "--house-w", "300"),
                *("--validity-s", str(VALIDITY_S), "--safe-current", str(SAFE_A)),
                *("--station-max", str(STATION_MAX_A)),
                *world_args,
            ),
            poll_interval_ms=POLL_MS,
            controls={
                "command_lease_seconds": LEASE_S,
                "refresh_floor_seconds": 2,
                "phase_switching": False,
                "watchdog_interval_seconds": 5,
            },
            defaults={"intended_set_current": SET_A, "station_max_current": STATION_MAX_A},
            victron={"stale_after_s": STALE_S, "keepalive_s": 5, "fuse_limit_a": FUSE_A},
            auto={
                "start_delay_s": 2,
                "stop_delay_s": 4,
                "min_on_s": 0,
                "min_off_s": 0,
                "smoothing_s": 0,
            },
            logging={"level": "INFO"},
            **(cfg or {}),
        )
        self.name, self.mode = name, mode
        self.world = self.sim
        self.bridge, self.controller = self.ours["bridge"], self.ours["control"]
        self.ui: Optional[Proc] = self.ours.get("ui")
        self._probe: Optional[Probe] = None
        self.monitor = Monitor(self)
        self.may_be_down: Set[str] = set()  # modules a fault takes down on purpose
        self.e0_wh: Optional[float] = None
        self.session_start: Optional[float] = None
        self._commanded: List[float] = []
        self.series_mark = 0  # control/state messages before this index belong to no check

    @property
    def probe(self) -> Probe:
        assert self._probe is not None, "start() first"
        return self._probe

    # --- life cycle --------------------------------------------------------------------------
    def start(self) -> FaultStack:
        super().start()
        self._probe = Probe(self.broker.port)
        self.probe.client.message_callback_add(T.cmd_current, self._on_cmd)
        self.monitor.start()
        self.wait_json(T.control_state, timeout_s=30)
        if self.mode != "manual":
            self.publish(T.control_set("mode"), {"mode": self.mode})
        return self

    def stop(self) -> None:
        self.monitor.stopped.set()
        for p in reversed(self.procs()):
            p.stop()
        if self._probe is not None:
            self._probe.close()
        super().stop()  # the processes are down already: this stops the broker

    def _on_cmd(self, _c: Any, _u: Any, msg: Any) -> None:
        self.probe._on_message(_c, _u, msg)
        try:
            amps = float(json.loads(msg.payload)["amps"])
        except (ValueError, KeyError, TypeError):
            return
        self._commanded.append(amps)

    def max_commanded(self) -> float:
        return max(self._commanded, default=0.0)

    # --- the UI ------------------------------------------------------------------------------
    def ui_status(self) -> Optional[Dict[str, Any]]:
        """GET /api/status of the UI, or None while it does not answer."""
        try:
            with urllib.request.urlopen(self.ui_url + "/api/status", timeout=3) as resp:
                return dict(json.loads(resp.read()))
        except (OSError, ValueError):
            return None

    # --- MQTT --------------------------------------------------------------------------------
    def publish(self, topic: str, payload: Any) -> None:
        self.probe.publish(topic, payload)

    def wait_json(
        self, topic: str, pred: Callable[[Any], bool] = lambda _v: True, timeout_s: float = 10
    ) -> Any:
        return self.probe.wait_json(topic, pred, timeout_s)

    def control_state(self) -> Any:
        return self.probe.json(T.control_state)

    # --- the session -------------------------------------------------------------------------
    def charging(self, amps: float = SET_A) -> bool:
        sock = self.socket()
        setpoint = sock["setpoint_a"]
        return (
            setpoint is not None
            and abs(setpoint - amps) < 0.3
            and min(sock["current_a"]) >= amps - 0.5
            and self.probe.text(T.availability) == "online"
        )

    def charging_at_least(self, amps: float) -> bool:
        sock = self.socket()
        return (sock["setpoint_a"] or 0.0) >= amps and min(sock["current_a"]) >= amps - 0.5

    def plug_and_charge(self, timeout_s: float = 40) -> None:
        """Plug in while paused (so the meter reading at plug-in is exact), then charge."""
        self.publish(T.control_set("startstop"), {"enabled": False})
        wait_until(lambda: self.socket()["setpoint_a"] == 0.0, 20, 0.2)
        self.series_mark = self.probe.mark()
        sock = self.ctl("plug", max_current_a=CAR_MAX_A, phases=3, response_s=1.0)
        self.e0_wh = float(sock["status"]["sockets"]["1"]["energy_wh"])
        state = self.wait_json(T.control_state, lambda v: v["session"]["active"], 20)
        self.session_start = state["session"]["start"]
        self.publish(T.control_set("startstop"), {"enabled": True})
        if self.mode == "manual":
            wait_until(self.charging, timeout_s, 0.25)
        else:
            wait_until(lambda: self.charging_at_least(SAFE_A + 1), timeout_s, 0.25)

    def wait_new(self, mark: int, topic: str, timeout_s: float) -> Any:
        """The first ``topic`` payload published after ``mark`` (a Probe.mark())."""
        probe = self.probe
        raw: bytes = wait_until(lambda: next(iter(probe.since(mark, topic)), None), timeout_s, 0.2)
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode()

    def stop_controller(self) -> Optional[int]:
        """Stop the controller on purpose (SIGTERM): the monitor is told first, or a sample
        taken between the stop and the restart reports it as died unexpectedly."""
        self.may_be_down.add("control")
        return self.controller.stop()

    def restart_controller(self) -> None:
        """Start the controller and wait until it has connected and published (subscribed);
        from then on the monitor watches it again."""
        mark = self.probe.mark()
        self.controller.start()
        self.wait_new(mark, T.control_availability, 20)
        self.wait_new(mark, T.control_state, 20)
        self.may_be_down.discard("control")

    def keep_charging(self, seconds: float, amps: float = SET_A) -> int:
        """Assert the car charges at ``amps`` for ``seconds`` (so a case has energy to count)."""
        end, n = time.monotonic() + seconds, 0
        while time.monotonic() < end:
            assert self.charging(amps), f"stopped charging at {amps} A"
            n += 1
            time.sleep(0.5)
        return n

    def recover_time(self, since: float, timeout_s: float, amps: float = SET_A) -> float:
        """Seconds from ``since`` (monotonic) until charging at ``amps`` again, bridge online."""
        wait_until(lambda: self.charging(amps), timeout_s, 0.25)
        return time.monotonic() - since

    def finish(self) -> Tuple[float, float]:
        """Pause, let the meter settle, return (controller session kWh, simulator kWh since plug)."""
        assert self.e0_wh is not None
        self.publish(T.control_set("startstop"), {"enabled": False})
        wait_until(
            lambda: self.socket()["setpoint_a"] == 0.0 and max(self.socket()["current_a"]) < 0.01,
            20,
            0.25,
        )
        sim_kwh = (float(self.socket()["energy_wh"]) - self.e0_wh) / 1000.0

        def settled() -> Any:
            st = self.control_state()
            ok = st and abs(st["session"]["energy_kwh"] - sim_kwh) * 1000.0 <= ENERGY_TOL_WH
            return st if ok else None

        try:
            state = wait_until(settled, 15, 0.25)
        except AssertionError:
            state = self.control_state()
        return float(state["session"]["energy_kwh"]), sim_kwh

    def session_series(self) -> List[Dict[str, Any]]:
        """Every control/state session object seen since plug-in."""
        out = []
        for raw in self.probe.since(self.series_mark, T.control_state):
            try:
                s = json.loads(raw)["session"]
            except (ValueError, KeyError, TypeError):
                continue
            if s.get("active"):
                out.append(s)
        return out

    # --- shared checks ---------------------------------------------------------------------
    def check_common(self) -> Dict[str, Any]:
        """Assert the invariants every case shares; return figures for the report."""
        session_kwh, sim_kwh = self.finish()
        self.monitor.stopped.set()
        self.monitor.join(5)
        v = self.monitor.violations
        assert not v, f"{self.name}: invariant violations: {v[:5]}"
        writes = self.monitor.setpoint_writes()
        assert writes, "no setpoint was ever written"
        cap = max(self.max_commanded(), 0.0)
        for _t, amps in writes:
            assert amps == 0.0 or SAFE_A <= amps <= min(cap, STATION_MAX_A) + 1e-6, (
                f"setpoint write {amps} A outside {{0}} ∪ [6, {min(cap, STATION_MAX_A)}]"
            )
        # the bridge writes only what it was told: a commanded value, clamped to the station
        # max, or 0 for a pause (below 6 A); never a value of its own
        told = {0.0} | {
            0.0 if min(c, STATION_MAX_A) < SAFE_A else round(min(c, STATION_MAX_A), 2)
            for c in self._commanded
        }
        invented = sorted({a for _t, a in writes if round(a, 2) not in told})
        assert not invented, f"setpoint writes never commanded: {invented} (told {sorted(told)})"
        assert all(p in (1, 3) for p in self.monitor.phase_writes())
        series = self.session_series()
        starts = {s["start"] for s in series}
        assert starts == {self.session_start}, f"more than one session: {sorted(starts)}"
        energies = [s["energy_kwh"] for s in series]
        assert all(b >= a for a, b in zip(energies, energies[1:])), "session energy went back"
        assert abs(session_kwh - sim_kwh) * 1000.0 <= ENERGY_TOL_WH, (
            f"session {session_kwh:.3f} kWh != simulator meter {sim_kwh:.3f} kWh"
        )
        assert sim_kwh > 0.005, "the car hardly charged: the case proves nothing"
        for p in self.procs():
            log = p.log()
            assert "Traceback" not in log, f"{p.module} logged a traceback:\n{log[-3000:]}"
        return {
            "session_kwh": session_kwh,
            "sim_kwh": round(sim_kwh, 4),
            "max_current_a": round(self.monitor.max_current_a, 2),
            "writes": len(writes),
        }
