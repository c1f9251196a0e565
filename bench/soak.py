"""``python -m bench.soak [--days 7] [--speed 720]``: the whole stack for days of simulated time.

mosquitto + ``sim world`` (charger and site, accelerated) + bridge + controller + UI, all as real
processes. Random plug sessions (random car, set current, duration) and random faults (charger
reboot/outage/silence/NaN answers, broker restart, controller or bridge killed and restarted)
run on a simulated calendar; afterwards a table shows per process the memory growth (RSS from
/proc), CPU and log volume, and the energy reconciliation: the sum of the sessions in the
controller's SQLite history against the simulator's meter.

Scaling: the charger and the site run ``--speed`` times faster than the wall clock (charger
validity = 60 real s); the bridge, the controller and the UI run in real time at their default
timers (1 s poll, 90 s lease) because they keep their timers on the wall clock. So the energy,
the sessions and the faults of a simulated day pass in 86400/speed real seconds, while the
number of polls per simulated day is ``speed`` times lower than in the field; the table gives
memory growth per simulated day and per real hour. Each session ends the way a user ends one
(stop, then unplug) or when the car is full: at this speed a cable yanked mid-charge would lose
``speed`` × one poll of energy to the bridge's poll period, which is not what is measured here.

Targets: memory growth ≤ 1 MB per process per simulated day, zero Wh lost. Exit code 1 when
missed. ``make soak`` runs it; it is not part of CI.
"""

from __future__ import annotations

import argparse
import json
import random
import sqlite3
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from bench.procstat import cpu_s, rss_mb
from common.topics import Topics
from sim.procs import Probe, wait_until
from sim.stack import Stack

T = Topics("alfen", "0")
DAY_S = 86400.0
WARMUP_S = 20.0  # real seconds before the memory baseline (imports, first connections)
FAULTS = (
    "reboot",
    "outage",
    "silent",
    "nan",
    "broker_restart",
    "controller_kill",
    "bridge_kill",
)


@dataclass
class Sample:
    at: float  # monotonic
    rss_mb: float
    cpu_s: float


@dataclass
class ProcStats:
    name: str
    lives: Dict[int, List[Sample]] = field(default_factory=dict)  # pid → samples
    log_path: Optional[Path] = None


@dataclass
class Event:
    at_sim_s: float  # since the start of the soak, simulated
    kind: str
    args: Dict[str, Any] = field(default_factory=dict)


def plan(days: float, rng: random.Random, faults: Tuple[str, ...] = FAULTS) -> List[Event]:
    """Sessions (plug … stop + unplug) one after another, a fault in the middle of each."""
    events: List[Event] = []
    t = rng.uniform(0.5, 3.0) * 3600
    end = days * DAY_S - 1800
    while True:
        length = rng.uniform(1.5, 4.5) * 3600
        if t + length > end:
            break
        car = {
            "max_current_a": rng.choice([16, 16, 32]),
            "phases": rng.choice([3, 3, 1]),
            "capacity_kwh": rng.choice([40, 60, 77]),
            "soc_kwh": rng.uniform(5, 30),
            "response_s": 3,
        }
        events.append(Event(t, "plug", {"car": car, "amps": rng.randint(6, 16)}))
        events.append(
            Event(t + length * rng.uniform(0.3, 0.6), "fault", {"kind": rng.choice(faults)})
        )
        events.append(Event(t + length, "unplug"))
        t += length + rng.uniform(1.0, 6.0) * 3600
    return events


class Soak:
    def __init__(
        self, days: float, speed: float, seed: int, tmp: Path, faults: Tuple[str, ...] = FAULTS
    ) -> None:
        self.fault_pool = faults
        self.days, self.speed, self.tmp = days, speed, tmp
        self.rng = random.Random(seed)
        self.stack = Stack(
            tmp,
            ("bridge", "control", "ui"),
            portal="soak0portal",
            sim_args=(
                *("--speed", str(speed), "--charger-speed", str(speed), "--start-hour", "0"),
                *("--validity-s", str(60 * speed), "--safe-current", "6", "--station-max", "16"),
            ),
            poll_interval_ms=1000,
            logging={"level": "INFO"},
        )
        self.broker, self.world = self.stack.broker, self.stack.sim
        self.state_dir = self.stack.state_dir
        self.bridge, self.controller, self.ui = (
            self.stack.ours[m] for m in ("bridge", "control", "ui")
        )
        self.procs = self.stack.procs()
        self.stats = {p.module: ProcStats(p.module, log_path=p.log_path) for p in self.procs}
        self.stats["mosquitto"] = ProcStats("mosquitto")
        self.probe: Optional[Probe] = None
        self.t0 = 0.0
        self.faults: List[Tuple[str, Optional[float]]] = []  # kind, recovery real s
        self.sessions = 0
        self.amps = 6
        self.crashes: List[str] = []
        self.ledger: List[Dict[str, Any]] = []  # per session: meter at plug/unplug, faults
        self._stop = threading.Event()

    # --- plumbing ----------------------------------------------------------------------------
    def socket(self) -> Dict[str, Any]:
        return self.stack.socket()

    def ctl(self, cmd: str, **args: Any) -> Dict[str, Any]:
        return self.stack.ctl(cmd, **args)

    def sim_s(self) -> float:
        return (time.monotonic() - self.t0) * self.speed

    def start(self) -> None:
        self.stack.start()
        self.probe = Probe(self.broker.port, (T.sub("#"),))
        self.probe.wait_json(T.control_state, timeout_s=30)
        self.t0 = time.monotonic()
        threading.Thread(target=self._sampler, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self.probe is not None:
            self.probe.close()
        self.stack.stop()

    def _sampler(self) -> None:
        while not self._stop.wait(2.0):
            pairs: List[Tuple[str, Optional[int]]] = [
                (p.module, p.proc.pid if p.proc is not None and p.alive() else None)
                for p in self.procs
            ]
            mosq = self.broker.proc
            pairs.append(("mosquitto", mosq.pid if mosq and mosq.poll() is None else None))
            for name, pid in pairs:
                if pid is None:
                    continue
                try:
                    s = Sample(time.monotonic(), rss_mb(pid), cpu_s(pid))
                except (OSError, ValueError, IndexError):
                    continue
                self.stats[name].lives.setdefault(pid, []).append(s)

    def publish(self, suffix: str, body: Any) -> None:
        assert self.probe is not None
        self.probe.publish(T.sub(suffix), body)

    def wait(self, pred: Callable[[], Any], timeout_s: float) -> Optional[float]:
        start = time.monotonic()
        try:
            wait_until(pred, timeout_s, 0.25)
        except AssertionError:
            return None
        return time.monotonic() - start

    # --- the calendar ------------------------------------------------------------------------
    def run(self) -> None:
        for ev in plan(self.days, self.rng, self.fault_pool):
            delay = (ev.at_sim_s - self.sim_s()) / self.speed
            if delay > 0:
                time.sleep(delay)
            getattr(self, f"_{ev.kind}")(**ev.args)
            self._check_alive()
        end = (self.days * DAY_S - self.sim_s()) / self.speed
        if end > 0:
            time.sleep(end)
        self._check_alive()

    def _check_alive(self) -> None:
        for p in self.procs:
            if not p.alive():
                self.crashes.append(f"{p.module} at sim day {self.sim_s() / DAY_S:.2f}")
                p.start()

    def _plug(self, car: Dict[str, Any], amps: int) -> None:
        self.publish("control/set/current", {"amps": amps})
        self.publish("control/set/startstop", {"enabled": True})
        reply = self.ctl("plug", **car)
        self.sessions += 1
        self.amps = amps
        meter = float(reply["status"]["sockets"]["1"]["energy_wh"])
        self.ledger.append({"n": self.sessions, "plug_wh": meter, "faults": [], "notes": []})

    def _unplug(self) -> None:
        """The user stops, the car stops drawing, one poll later the cable comes out."""
        self.publish("control/set/startstop", {"enabled": False})
        row = self.ledger[-1]
        if self.wait(lambda: max(self.socket()["current_a"]) < 0.01, 30) is None:
            row["notes"].append("still drawing 30 s after stop")
        time.sleep(2.5)  # a bridge poll and a controller tick see the final meter reading
        reply = self.ctl("unplug")
        row["unplug_wh"] = float(reply["status"]["sockets"]["1"]["energy_wh"])
        probe = self.probe
        assert probe is not None
        if (
            self.wait(
                lambda: not (probe.json(T.control_state) or {}).get("session", {}).get("active"), 10
            )
            is None
        ):
            row["notes"].append("session still active 10 s after unplug")

    def _fault(self, kind: str) -> None:
        """Inject, wait out the fault, then time how long until charging is back by itself."""
        s = self.speed
        if kind == "reboot":
            self.ctl("reboot", down_s=5 * s)
        elif kind in ("outage", "silent"):
            self.ctl(kind, seconds=5 * s)
        elif kind == "nan":
            self.ctl("fault", mode="nan", seconds=5 * s)
        elif kind == "broker_restart":
            self.broker.restart(1.0)
        elif kind == "controller_kill":
            self.controller.kill()
        elif kind == "bridge_kill":
            self.bridge.kill()
        time.sleep(5.0 if kind not in ("broker_restart",) else 0.0)
        if kind == "controller_kill":
            self.controller.start()
        elif kind == "bridge_kill":
            self.bridge.start()
        probe = self.probe
        assert probe is not None
        mark = probe.mark()

        def charging_again() -> bool:
            sock = self.socket()
            car = sock["car"]
            full = car is not None and car["soc_kwh"] >= car["capacity_kwh"] - 0.01
            fresh = any(json.loads(p).get("connected") for p in probe.since(mark, T.state))
            ctl = bool(probe.since(mark, T.control_state))
            applied = abs((sock["setpoint_a"] or 0.0) - self.amps) < 0.3 or full
            return fresh and ctl and applied

        took = self.wait(charging_again, 90)
        self.faults.append((kind, took))
        if self.ledger:
            self.ledger[-1]["faults"].append(kind)

    # --- the report --------------------------------------------------------------------------
    def energy(self, meter0_wh: float) -> Dict[str, float]:
        meter_wh = float(self.socket()["energy_wh"]) - meter0_wh
        db = sqlite3.connect(str(self.state_dir / "sessions.sqlite3"))
        try:
            rows = db.execute("SELECT start, energy_wh FROM sessions ORDER BY start").fetchall()
        finally:
            db.close()
        history_wh = sum(r[1] for r in rows)
        for row, (_start, e_wh) in zip(self.ledger, rows):
            row["session_wh"] = e_wh
        return {
            "sessions": float(len(rows)),
            "history_kwh": history_wh / 1000.0,
            "meter_kwh": meter_wh / 1000.0,
            "lost_wh": meter_wh - history_wh,
        }

    def discrepancies(self) -> List[str]:
        """Sessions whose history energy differs from the meter between plug and unplug."""
        out = []
        for row in self.ledger:
            if "unplug_wh" not in row or "session_wh" not in row:
                out.append(f"session {row['n']}: incomplete {row}")
                continue
            lost = row["unplug_wh"] - row["plug_wh"] - row["session_wh"]
            if abs(lost) > 1.0:
                out.append(
                    f"session {row['n']}: meter {row['unplug_wh'] - row['plug_wh']:.1f} Wh, "
                    f"history {row['session_wh']:.1f} Wh, lost {lost:.1f} Wh; faults "
                    f"{row['faults']}; {'; '.join(row['notes']) or 'no notes'}"
                )
        return out

    def table(self, wall_s: float) -> Tuple[List[str], float]:
        lines = [
            f"{'process':<10} {'RSS start':>9} {'RSS end':>8} {'growth':>7} {'MB/sim-day':>10} "
            f"{'MB/real-h':>9} {'CPU %':>6} {'log KB':>7} {'KB/sim-day':>10} {'lives':>5}"
        ]
        worst = 0.0
        for st in self.stats.values():
            lives = [v for v in st.lives.values() if v]
            if not lives:
                continue
            longest = max(lives, key=lambda v: v[-1].at - v[0].at)
            warm = [x for x in longest if x.at - longest[0].at >= WARMUP_S] or longest
            first, last = warm[0], longest[-1]
            real_s = max(1e-9, last.at - first.at)
            sim_days = real_s * self.speed / DAY_S
            growth = last.rss_mb - first.rss_mb
            per_day = growth / sim_days if sim_days > 0 else 0.0
            worst = max(worst, per_day)
            cpu = sum(v[-1].cpu_s - v[0].cpu_s for v in lives) / max(1e-9, wall_s) * 100.0
            log_kb = (st.log_path.stat().st_size / 1024.0) if st.log_path else 0.0
            lines.append(
                f"{st.name:<10} {first.rss_mb:>9.1f} {last.rss_mb:>8.1f} {growth:>7.2f} "
                f"{per_day:>10.2f} {growth / real_s * 3600:>9.2f} {cpu:>6.2f} {log_kb:>7.1f} "
                f"{log_kb / self.days:>10.1f} {len(lives):>5}"
            )
        return lines, worst


def main(argv: Optional[List[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n")[0])
    ap.add_argument("--days", type=float, default=7.0, help="simulated days (default 7)")
    ap.add_argument("--speed", type=float, default=720.0, help="simulated s per real s")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument(
        "--faults", default=",".join(FAULTS), help=f"comma-separated subset of {','.join(FAULTS)}"
    )
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    pool = tuple(f for f in args.faults.split(",") if f)
    unknown = sorted(set(pool) - set(FAULTS))
    if unknown or not pool:
        ap.error(f"unknown faults {unknown}; choose from {', '.join(FAULTS)}")
    soak = Soak(args.days, args.speed, args.seed, tmp, pool)
    real = args.days * DAY_S / args.speed
    print(f"soak: {args.days:g} simulated days at {args.speed:g}x = {real / 60:.1f} min; {tmp}")
    started = time.monotonic()
    try:
        soak.start()
        meter0 = float(soak.socket()["energy_wh"])
        soak.run()
        energy = soak.energy(meter0)
        wall = time.monotonic() - started
        lines, worst = soak.table(wall)
    finally:
        soak.stop()
    print("\n".join(lines))
    recovered = [k for k, t in soak.faults if t is not None]
    print(
        f"faults: {len(soak.faults)} injected ({', '.join(k for k, _ in soak.faults)}), "
        f"{len(recovered)} recovered; max recovery "
        f"{max((t for _k, t in soak.faults if t is not None), default=0):.1f} s real"
    )
    print(
        f"energy: {soak.sessions} plug-ins, {energy['sessions']:.0f} sessions in history, "
        f"{energy['history_kwh']:.3f} kWh; meter {energy['meter_kwh']:.3f} kWh; "
        f"lost {energy['lost_wh']:.1f} Wh"
    )
    for line in soak.discrepancies():
        print("  " + line)
    print(f"crashes: {soak.crashes or 'none'}; wall {wall:.0f} s")
    print(json.dumps({"worst_mb_per_sim_day": round(worst, 3), **energy}))
    ok = (
        worst <= 1.0
        and abs(energy["lost_wh"]) <= 1.0
        and not soak.crashes
        and len(recovered) == len(soak.faults)
    )
    if not args.keep:
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
