"""The demo's own config file: loopback everything, short AUTO timers, a fresh state dir.

The timers are shortened (AUTO's defaults are minutes) so that a minute of wall clock shows the
whole story: surplus → start, cloud → pause, sun → resume. The site itself runs faster than real
time (``SITE_SPEED``); the charger, bridge and controller run on the wall clock because their
lease and validity timers are wall-clock timers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict

import yaml

PORTAL = "c0619ab0a1fe"  # the simulated GX's portal id (a made-up one)
# The demo's own topic roots: a real installation (alfen/0) never takes the demo's commands, and
# Home Assistant (which listens on homeassistant/) never sees the demo's fake charger.
DEMO_PREFIX = "alfen-demo"
DEMO_DISCOVERY_PREFIX = f"{DEMO_PREFIX}/homeassistant"
SITE_SPEED = 30.0  # simulated seconds per real second: a sunny hour in two minutes
START_HOUR = 11.0  # late morning: the sun is high enough to charge on three phases
BATTERY_KWH = 15.0
DEMO_AUTO: Dict[str, Any] = {
    "start_delay_s": 4,
    "stop_delay_s": 8,
    "min_on_s": 5,
    "min_off_s": 8,
    "smoothing_s": 2,
    # The battery keeps its share of the sun until 90 %: the car gets what is left, and a cloud
    # pauses the car instead of draining the battery. Above it, AUTO lets the battery bridge
    # clouds (auto.buffer_stop_delay_s), here shortened to 30 s so the demo shows it quickly.
    "battery_priority_soc": 90,
    "buffer_stop_delay_s": 30,
    "start_delay_stretch": 1.0,  # no longer start delay after a cloud: the demo resumes at once
    # The site's SOC moves SITE_SPEED times faster than the wall clock the controller counts
    # energy by, so a capacity it learned would be that many times too small: state it.
    "battery_capacity_kwh": BATTERY_KWH,
}


@dataclass(frozen=True)
class DemoPorts:
    mqtt: int
    modbus: int
    sim_control: int
    web: int


def demo_auto() -> Dict[str, Any]:
    return dict(DEMO_AUTO)


def demo_config(
    state_dir: Path, ports: DemoPorts, dbus: bool, mqtt_host: str = "127.0.0.1"
) -> Dict[str, Any]:
    cfg: Dict[str, Any] = {
        "modbus": {"ip": "127.0.0.1", "port": ports.modbus},
        "device_instance": 0,
        "poll_interval_ms": 1000,
        "timezone": "Europe/Amsterdam",
        "controls": {"command_lease_seconds": 30, "phase_switching": True},
        "mqtt": {"host": mqtt_host, "port": ports.mqtt, "prefix": DEMO_PREFIX},
        "victron": {"portal_id": PORTAL, "keepalive_s": 10},
        "auto": demo_auto(),
        "pricing": {"source": "static", "static_rate_eur_per_kwh": 0.25},
        "logging": {"level": "INFO", "file": None, "format": "simple"},
        "web": {"host": "127.0.0.1", "port": ports.web},
        "state_dir": str(state_dir / "state"),
        "home_assistant": {"discovery": True, "discovery_prefix": DEMO_DISCOVERY_PREFIX},
    }
    if dbus:
        cfg["dbus"] = {"bus": "session", "custom_name": "Alfen (demo)"}
    return cfg


def write_demo_config(
    state_dir: Path, ports: DemoPorts, dbus: bool, mqtt_host: str = "127.0.0.1"
) -> Path:
    (state_dir / "state").mkdir(parents=True, exist_ok=True)
    path = state_dir / "config.yaml"
    body = yaml.safe_dump(demo_config(state_dir, ports, dbus, mqtt_host), sort_keys=False)
    path.write_text("# written by `make demo`; every run writes a fresh one\n" + body, "utf-8")
    return path


def world_args(ports: DemoPorts, mqtt_host: str = "127.0.0.1") -> list:
    """``python -m sim world`` arguments: a car plugged in at once, sun at 11:00, a battery."""
    return [
        *("world", "--port", str(ports.modbus), "--control-port", str(ports.sim_control)),
        *("--mqtt-host", mqtt_host, "--mqtt-port", str(ports.mqtt), "--portal", PORTAL),
        *("--speed", str(SITE_SPEED), "--start-hour", str(START_HOUR)),
        *("--pv-peak-w", "9000", "--house-w", "450"),
        # below auto.battery_priority_soc (90 %): the battery charges first, the car gets the rest
        *("--battery-kwh", str(BATTERY_KWH), "--battery-soc", "50", "--battery-max-w", "2500"),
        *("--plug-at", "0", "--car-max-a", "16", "--car-phases", "3"),
        *("--car-capacity-kwh", "60", "--car-soc-kwh", "20", "--validity-s", "60"),
    ]
