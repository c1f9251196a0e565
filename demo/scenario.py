"""The demo's script: AUTO on at start, a cloud now and then, and a one-line status every few s.

The script is a list of timed steps on the demo's wall clock, repeated every ``PERIOD_S``: the car
charges on the sunny late morning, a cloud (PV down to 5 %) pauses it after the stop delay, the
sun comes back and charging resumes. Once, during the first cloud, the car is unplugged and
plugged in again: the first session ends and shows in History and its CSV. Steps go to the
simulated site over its JSON control channel (``sim.charger.control``); the mode goes over MQTT like any other client's command.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

import pytz

from common.mqtt_link import Message, MqttLink, MqttSettings
from common.schemas import PayloadError, parse_json
from common.topics import Topics
from sim.charger import control

PERIOD_S = 240.0  # after a broken cloud AUTO waits longer before it starts again
STATUS_EVERY_S = 5.0


@dataclass(frozen=True)
class Step:
    at_s: float  # seconds into each period
    cmd: str
    args: Tuple[Tuple[str, Any], ...]
    says: str
    once: bool = False  # only in the first period


# The car the simulated site starts with (demo/config.py world_args) comes back the same.
REPLUG_CAR: Tuple[Tuple[str, Any], ...] = (
    ("max_current_a", 16.0),
    ("phases", 3),
    ("capacity_kwh", 60.0),
    ("soc_kwh", 25.0),
)

SCRIPT: Tuple[Step, ...] = (
    Step(28.0, "cloud", (("factor", 0.05),), "a cloud: PV drops to 5 % (charging pauses soon)"),
    # paused by then (stop delay 8 s): the session ends at unplug and goes to History
    Step(48.0, "unplug", (), "the car is unplugged: its session goes to History", once=True),
    Step(54.0, "plug", REPLUG_CAR, "the car is plugged in again: a new session", once=True),
    Step(60.0, "sun", (), "the sun is back (charging resumes once the surplus has held)"),
)


class Director:
    """Sends the script's steps and AUTO once; reads state for the status line."""

    def __init__(
        self,
        mqtt_port: int,
        sim_control_port: int,
        topics: Topics,
        timezone: str = "Europe/Amsterdam",
        clouds: bool = True,
        mqtt_host: str = "127.0.0.1",
    ) -> None:
        self.topics = topics
        self.ctl_port = sim_control_port
        self.tz = pytz.timezone(timezone)
        self.clouds = clouds
        self.link = MqttLink(
            MqttSettings(host=mqtt_host, port=mqtt_port),
            client_id=f"alfen-demo-director-{id(self)}",
            subscriptions=[topics.state, topics.control_state],
        )
        self.state: Dict[str, Any] = {}
        self.control: Dict[str, Any] = {}
        self.auto_sent = False
        self.t0 = time.monotonic()
        self.done: List[Tuple[int, int]] = []  # (period, step index)
        self.next_status = self.t0 + STATUS_EVERY_S

    def start(self) -> None:
        self.link.start()

    def stop(self) -> None:
        self.link.stop()

    def tick(self, say: Any) -> None:
        while True:
            event = self.link.next_event(0)
            if event is None:
                break
            if isinstance(event, Message):
                self._take(event)
        if self.control and not self.auto_sent:
            if self.control.get("mode") != 1:
                self.link.publish(self.topics.control_set("mode"), json.dumps({"mode": "auto"}))
            say("demo", "mode AUTO: the car charges from solar surplus only")
            self.auto_sent = True
        elapsed = time.monotonic() - self.t0
        if self.clouds:
            self._script(elapsed, say)
        if time.monotonic() >= self.next_status:
            self.next_status += STATUS_EVERY_S
            say("status", self.status_line())

    def _take(self, msg: Message) -> None:
        try:  # a shared broker (--broker) carries anyone's payloads
            body = parse_json(msg.payload)
        except PayloadError:
            return
        if not isinstance(body, dict):
            return
        if msg.topic == self.topics.control_state:
            self.control = body
        elif msg.topic == self.topics.state:
            self.state = body

    def _script(self, elapsed: float, say: Any) -> None:
        period = int(elapsed // PERIOD_S)
        into = elapsed - period * PERIOD_S
        for i, step in enumerate(SCRIPT):
            if step.once and period > 0:
                continue
            if into >= step.at_s and (period, i) not in self.done:
                self.done.append((period, i))
                try:
                    control(self.ctl_port, step.cmd, **dict(step.args))
                except OSError as exc:
                    say("demo", f"could not reach the simulated site for {step.cmd!r}: {exc}")
                    continue
                say("demo", step.says)

    def site(self) -> Optional[Dict[str, Any]]:
        try:
            reply = control(self.ctl_port, "site_status")
        except OSError:
            return None
        site = reply.get("site")
        return site if isinstance(site, dict) else None

    def status_line(self) -> str:
        parts: List[str] = []
        site = self.site()
        if site and site.get("values"):
            v = site["values"]
            clock = dt.datetime.fromtimestamp(float(site["sim_time"]), self.tz).strftime("%H:%M")
            pv = sum(float(v.get(f"Ac/PvOnGrid/L{i}/Power") or 0.0) for i in (1, 2, 3))
            grid = sum(float(v.get(f"Ac/Grid/L{i}/Power") or 0.0) for i in (1, 2, 3))
            soc = v.get("Dc/Battery/Soc")
            parts.append(f"site {clock} PV {pv / 1000:.1f} kW grid {grid / 1000:+.1f} kW")
            if soc is not None:
                parts.append(f"battery {soc:.0f} %")
        st = self.state
        if st:
            power = st.get("power_w")
            amps = st.get("current_a")
            parts.append(
                "car "
                + (f"{power / 1000:.1f} kW" if isinstance(power, (int, float)) else "? kW")
                + (f" {amps:.1f} A" if isinstance(amps, (int, float)) else "")
                + f" ({st.get('mode3') or '?'})"
            )
        c = self.control
        if c:
            mode = str(c.get("mode_name") or c.get("mode")).upper()
            parts.append(f"{mode}: {c.get('status_text', c.get('status'))} - {c.get('reason')}")
        return " | ".join(parts) if parts else "waiting for the first state…"
