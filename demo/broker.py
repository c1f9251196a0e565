"""Which MQTT broker the demo uses: its own (mosquitto, else the embedded one), or a shared one.

The choice is made once at start. By default the demo starts its own broker on a free port, so
it never writes into a broker someone else uses (a Home Assistant there would keep a fake
charger, and a real installation could take the demo's commands). A broker we start is just
another supervised process (restarted if it dies, stopped at the end). ``--broker HOST:PORT``
shares an existing broker instead: the demo then says so loudly and clears what it wrote.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

OWN_CHOICES = ("auto", "mosquitto", "embedded")


@dataclass(frozen=True)
class BrokerPlan:
    kind: str  # "shared", "mosquitto" or "embedded"
    port: int
    argv: Optional[List[str]]  # None: nothing to start
    host: str = "127.0.0.1"

    @property
    def shared(self) -> bool:
        return self.kind == "shared"

    @property
    def description(self) -> str:
        return {
            "shared": f"SHARED broker {self.host}:{self.port} (not started by the demo)",
            "mosquitto": f"mosquitto on 127.0.0.1:{self.port} (the demo's own)",
            "embedded": f"the demo's own embedded broker (demo/minibroker.py) on "
            f"127.0.0.1:{self.port}",
        }[self.kind]


def shared_warning(plan: BrokerPlan, prefix: str, portal: str) -> str:
    """The banner shown before the demo writes into a broker it did not start."""
    bar = "!" * 78
    return "\n".join(
        [
            bar,
            f"!! WARNING: the demo shares the MQTT broker {plan.host}:{plan.port}.",
            f"!! It publishes retained topics under {prefix}/# and a simulated GX under",
            f"!! N/{portal}/#, and clears them when it stops. Meanwhile anyone on that broker",
            "!! sees the fake charger, and a controller whose victron.portal_id is empty may",
            "!! take the simulated GX for the real one.",
            "!! Without --broker the demo runs its own broker and touches nothing else.",
            bar,
        ]
    )


def parse_host_port(text: str) -> Tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT`` too) → (host, port); ValueError names what is wrong."""
    host, sep, port_text = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host:
        raise ValueError(f"--broker {text!r}: expected HOST:PORT, e.g. 192.168.1.5:1883")
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"--broker {text!r}: port {port_text!r} is not a number") from None
    if not 1 <= port <= 65535:
        raise ValueError(f"--broker {text!r}: port {port} is not in 1..65535")
    return host, port


def port_answers(port: int, host: str = "127.0.0.1", timeout_s: float = 0.3) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:  # refused, unreachable, or a host name that does not resolve
        return False


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def mosquitto_exe() -> Optional[str]:
    found = shutil.which("mosquitto")
    if found:
        return found
    return "/usr/sbin/mosquitto" if os.access("/usr/sbin/mosquitto", os.X_OK) else None


def plan_broker(choice: str, state_dir: Path) -> BrokerPlan:
    """``choice``: auto, mosquitto or embedded (our own broker), or HOST:PORT (shared).

    RuntimeError with the reason when the choice cannot be honoured.
    """
    if choice not in OWN_CHOICES:
        try:
            host, port = parse_host_port(choice)
        except ValueError as exc:
            raise RuntimeError(str(exc)) from None
        if not port_answers(port, host, timeout_s=2.0):
            raise RuntimeError(f"no MQTT broker answers on {host}:{port}")
        return BrokerPlan("shared", port, None, host)
    port = free_port()  # never 1883: another client there could mistake the demo for a site
    exe = mosquitto_exe() if choice in ("auto", "mosquitto") else None
    if choice == "mosquitto" and exe is None:
        raise RuntimeError("mosquitto is not installed")
    if exe is not None:
        conf = state_dir / "mosquitto.conf"
        conf.write_text(
            f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n",
            encoding="utf-8",
        )
        return BrokerPlan("mosquitto", port, [exe, "-c", str(conf)])
    argv = [sys.executable, "-m", "demo.minibroker", "--port", str(port)]
    return BrokerPlan("embedded", port, argv)
