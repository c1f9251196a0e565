"""The whole simulated system as real processes, assembled one way for every caller.

A ``Stack`` is a private mosquitto (or a broker the caller already runs), the simulator
(``python -m sim world``: the charger and a Venus site publishing on MQTT; or ``sim charger``
alone) and our processes (``bridge``, ``control``, ``ui``, ``dbus_shim``) on one config file,
all on loopback ports of their own. The fault suite, the end-to-end tests and the benches build
their own checks on top of it (monitors, timers, probes); this module only assembles, starts,
stops and reports on the processes.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

from sim.charger import control
from sim.procs import (
    Broker,
    Proc,
    SimProc,
    base_config,
    free_port,
    merge_config,
    wait_until,
    write_config,
)

OURS = ("bridge", "control", "ui", "dbus_shim")


class Stack:
    """Broker + simulator + our ``modules`` on one config; ``cfg`` overrides the config as in
    ``merge_config`` (a dict updates a section, anything else replaces it)."""

    def __init__(
        self,
        tmp: Path,
        modules: Sequence[str] = ("bridge", "control"),
        *,
        broker: Optional[Broker] = None,
        sim: str = "world",
        sim_args: Sequence[str] = (),
        portal: str = "sim0portal",
        **cfg: Any,
    ) -> None:
        unknown = sorted(set(modules) - set(OURS))
        if unknown:
            raise ValueError(f"modules: unknown {unknown}; choose from {', '.join(OURS)}")
        if sim not in ("world", "charger"):
            raise ValueError(f"sim: {sim!r} is neither 'world' nor 'charger'")
        tmp.mkdir(parents=True, exist_ok=True)
        self.tmp = tmp
        self.owns_broker = broker is None
        self.broker = broker if broker is not None else Broker()
        venus = ("--mqtt-port", str(self.broker.port), "--portal", portal) if sim == "world" else ()
        self.sim = SimProc(sim, *venus, *sim_args, log_dir=tmp)
        self.modbus_port, self.ctl_port = self.sim.modbus, self.sim.ctl
        self.config = merge_config(
            base_config(
                tmp,
                self.modbus_port,
                self.broker.port,
                victron={"portal_id": portal},
                web={"port": free_port()},
            ),
            cfg,
        )
        self.config_path = write_config(tmp / "config.yaml", self.config)
        self.state_dir = Path(self.config["state_dir"])
        self.ui_url = f"http://127.0.0.1:{self.config['web']['port']}"
        self.ours: Dict[str, Proc] = {
            m: Proc(m, "--config", str(self.config_path), log_dir=tmp) for m in modules
        }

    # --- life cycle --------------------------------------------------------------------------
    def procs(self) -> List[Proc]:
        """The simulator and our processes, in start order (mosquitto is ``broker``)."""
        return [self.sim, *self.ours.values()]

    def start(self) -> Stack:
        """The broker (when it is ours), the simulator (until its control port answers), then
        our processes in the order given."""
        if self.owns_broker:
            self.broker.start()
        self.start_sim()
        for module in self.ours:
            self.ours[module].start()
        return self

    def start_sim(self, timeout_s: float = 20) -> Proc:
        self.sim.start()
        wait_until(self.ctl_ok, timeout_s, 0.2)
        return self.sim

    def stop(self) -> None:
        """Our processes in reverse order, the simulator, then the broker when it is ours."""
        for proc in reversed(self.procs()):
            proc.stop()
        if self.owns_broker:
            self.broker.stop()

    def logs(self, tail_chars: int = 4000) -> str:
        """The end of every process's log, for a failing test's report."""
        return "\n".join(f"--- {p.module}\n{p.log()[-tail_chars:]}" for p in self.procs())

    # --- the simulator -----------------------------------------------------------------------
    def ctl(self, cmd: str, **args: Any) -> Dict[str, Any]:
        """One command on the simulator's control channel (``status``, ``plug``, ``cloud`` …)."""
        return control(self.ctl_port, cmd, **args)

    def ctl_ok(self) -> bool:
        """Whether the simulator's control channel answers yet."""
        try:
            return bool(self.ctl("status")["ok"])
        except OSError:
            return False

    def socket(self, n: int = 1) -> Dict[str, Any]:
        """The simulated charger's socket ``n``: registers, currents, writes, car, meter."""
        return self.ctl("status")["status"]["sockets"][str(n)]


def seed_controller_state(
    state_dir: Path, surplus_w: float, capacity_kwh: float, tz: str = "Europe/Amsterdam"
) -> None:
    """What a GX would have learned before: the site's surplus in every quarter hour of
    yesterday and today so far, the battery's capacity, and AUTO as the user's mode; written
    with the controller's own classes and store."""
    from control.battery_capacity import CapacityLearner
    from control.forecast import PvForecaster
    from control.model import Mode, UserSettings
    from control.store import Store

    now = time.time()
    pv = PvForecaster(tz)
    for t in range(int(now) - 2 * 86400, int(now) - 900, 900):
        pv.record(float(t), surplus_w)
    capacity = CapacityLearner()
    capacity.load_json({"estimates_kwh": [capacity_kwh]})
    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(str(state_dir))
    store.save_pv_history(pv.to_json())
    store.save_battery(capacity.to_json())
    store.save_settings(UserSettings(mode=Mode.AUTO))
