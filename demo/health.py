"""Health checks for containers and scripts: exit 0 when healthy, 1 (with the reason) when not.

``python -m demo.health tcp HOST PORT`` - something listens;
``python -m demo.health http URL`` - answers 2xx;
``python -m demo.health topic HOST PORT TOPIC [EXPECTED]`` - a retained MQTT message is there
(and equals EXPECTED), e.g. ``alfen/0/availability online`` for the bridge.
"""

from __future__ import annotations

import socket
import sys
import time
import urllib.request
from typing import List, Optional

from common.mqtt_link import Message, MqttLink, MqttSettings

TIMEOUT_S = 4.0


def check_tcp(host: str, port: int) -> Optional[str]:
    try:
        socket.create_connection((host, port), TIMEOUT_S).close()
    except OSError as exc:
        return f"{host}:{port} does not answer: {exc}"
    return None


def check_http(url: str) -> Optional[str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return None if 200 <= resp.status < 300 else f"{url}: HTTP {resp.status}"
    except OSError as exc:
        return f"{url}: {exc}"


def check_topic(host: str, port: int, topic: str, expected: Optional[str]) -> Optional[str]:
    link = MqttLink(MqttSettings(host=host, port=port), f"health-{time.time_ns()}", [topic])
    link.start()
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while time.monotonic() < deadline:
            event = link.next_event(deadline - time.monotonic())
            if isinstance(event, Message) and event.topic == topic:
                text = event.payload.decode("utf-8", errors="replace")
                if expected is None or text == expected:
                    return None
                return f"{topic} is {text!r}, expected {expected!r}"
        return f"no retained message on {topic} from {host}:{port}"
    finally:
        link.stop()


def main(argv: Optional[List[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    try:
        if args[0] == "tcp":
            why = check_tcp(args[1], int(args[2]))
        elif args[0] == "http":
            why = check_http(args[1])
        elif args[0] == "topic":
            why = check_topic(args[1], int(args[2]), args[3], args[4] if len(args) > 4 else None)
        else:
            raise IndexError
    except (IndexError, ValueError):
        print(__doc__, file=sys.stderr)
        return 2
    if why:
        print(why, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
