"""``python -m bridge --config FILE``: wire config, Modbus link, MQTT link and the loop together."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from typing import List, Optional

from bridge.ha_discovery import HaSettings
from bridge.modbus_link import ModbusLink
from bridge.service import Bridge
from common.config import ConfigError, charger_id, load_config
from common.logsetup import setup_logging
from common.mqtt_link import MqttLink, MqttSettings
from common.topics import Topics

DEFAULT_CONFIG = "/data/alfen/config.yaml"


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bridge", description=__doc__)
    parser.add_argument("--config", "-c", default=DEFAULT_CONFIG, help="YAML config file")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.config)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    setup_logging(cfg, "bridge")
    log = logging.getLogger("bridge")
    topics = Topics(cfg["mqtt"]["prefix"], charger_id(cfg))
    ha = HaSettings.from_config(cfg)
    mqtt = MqttLink(
        MqttSettings.from_config(cfg),
        client_id=f"{cfg['mqtt']['client_id_prefix']}-bridge-{charger_id(cfg)}",
        subscriptions=[topics.cmd_current, topics.cmd_phases, topics.config_changed]
        + ([ha.status_topic] if ha.enabled else []),
        will=(topics.availability, "offline"),
    )
    bridge = Bridge(cfg, ModbusLink.from_config(cfg), mqtt, topics, config_path=args.config)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info(
        "bridge for %s:%s starting (poll %d ms, topics %s/…)",
        cfg["modbus"]["ip"],
        cfg["modbus"]["port"],
        cfg["poll_interval_ms"],
        topics.base,
    )
    mqtt.start()
    try:
        bridge.run(stop)
    finally:
        mqtt.stop(final=(topics.availability, "offline"))
        bridge.link.close()
        log.info("bridge stopped")
    return 0
