"""``python -m control --config FILE``: the controller process (see control/runner.py).

Exit codes: 0 after SIGTERM/SIGINT, 2 for an invalid configuration (one line per problem on
stderr), 1 when the process cannot run at all (the core is missing, the state dir is unusable).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from typing import List, Optional

from common.cli import start
from common.clock import SYSTEM_CLOCK
from common.config import charger_id, topics_for
from common.config_fields import config_value
from common.mqtt_link import MqttLink, MqttSettings
from control.runner import Runner, subscriptions
from control.settings_cmd import defaults_from_config
from control.store import Store
from control.tibber import TibberClient, TibberSettings
from control.venus import VenusInput, VenusSettings

log = logging.getLogger("control")


def main(argv: Optional[List[str]] = None) -> int:
    cfg, config_path = start("python -m control", __doc__, "control", argv)
    if cfg is None:
        return 2
    try:
        from control.core import CoreSettings, decide
    except ImportError as exc:
        log.error("the control core is not available: %s", exc)
        return 1
    clock = SYSTEM_CLOCK
    topics = topics_for(cfg)
    venus = VenusInput(VenusSettings.from_config(cfg))
    link = MqttLink(
        MqttSettings.from_config(cfg),
        client_id=f"{config_value(cfg, 'mqtt.client_id_prefix')}-control-{charger_id(cfg)}"
        f"-{os.getpid()}",
        subscriptions=subscriptions(topics, venus),
        will=(topics.control_availability, "offline"),
    )
    tibber = None
    if cfg["tibber"]["enabled"]:
        tibber = TibberClient(TibberSettings.from_config(cfg), cfg["state_dir"])
    runner = Runner(
        cfg,
        link,
        decide,
        CoreSettings.from_config(cfg),
        Store(cfg["state_dir"], clock),
        venus,
        defaults_from_config(cfg),
        tibber,
        clock,
    )
    runner.config_path = config_path
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_a: stop.set())
    try:
        runner.run(stop)
    except OSError as exc:
        log.error("controller cannot run: %s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
