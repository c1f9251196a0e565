"""Which MQTT broker the demo uses: one already on localhost:1883, else mosquitto, else ours.

The choice is made once at start. A broker we start is just another supervised process (so it is
restarted if it dies and stopped at the end); a broker that was already there is left alone.
"""

from __future__ import annotations

import os
import shutil
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

DEFAULT_PORT = 1883


@dataclass(frozen=True)
class BrokerPlan:
    kind: str  # "existing", "mosquitto" or "embedded"
    port: int
    argv: Optional[List[str]]  # None: nothing to start

    @property
    def description(self) -> str:
        return {
            "existing": f"the MQTT broker already on localhost:{self.port}",
            "mosquitto": f"mosquitto on 127.0.0.1:{self.port}",
            "embedded": f"the demo's embedded broker (demo/minibroker.py) on 127.0.0.1:{self.port}",
        }[self.kind]


def port_answers(port: int, host: str = "127.0.0.1", timeout_s: float = 0.3) -> bool:
    with socket.socket() as s:
        s.settimeout(timeout_s)
        return s.connect_ex((host, port)) == 0


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
    """``choice``: auto, existing, mosquitto or embedded (tests pin embedded)."""
    if choice in ("auto", "existing") and port_answers(DEFAULT_PORT):
        return BrokerPlan("existing", DEFAULT_PORT, None)
    if choice == "existing":
        raise RuntimeError(f"no MQTT broker answers on localhost:{DEFAULT_PORT}")
    # Our own broker takes 1883 when it is free (so MQTT Explorer & co. find it), else any port.
    port = DEFAULT_PORT if choice == "auto" and port_free(DEFAULT_PORT) else free_port()
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
