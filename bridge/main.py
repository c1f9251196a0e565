"""``python -m bridge --config FILE``: wire config, Modbus link, MQTT link and the loop together."""

from __future__ import annotations

import logging
import signal
import threading
from typing import List, Optional

from bridge.ha_discovery import HaSettings
from bridge.modbus_link import ModbusLink
from bridge.service import Bridge
from common.cli import start
from common.config import charger_id, topics_for
from common.mqtt_link import MqttLink, MqttSettings

DEFAULT_CONFIG = "/data/alfen/config.yaml"


def main(argv: Optional[List[str]] = None) -> int:
    cfg, config_path = start("python -m bridge", __doc__, "bridge", argv, DEFAULT_CONFIG)
    if cfg is None:
        return 2
    log = logging.getLogger("bridge")
    topics = topics_for(cfg)
    ha = HaSettings.from_config(cfg)
    mqtt = MqttLink(
        MqttSettings.from_config(cfg),
        client_id=f"{cfg['mqtt']['client_id_prefix']}-bridge-{charger_id(cfg)}",
        subscriptions=[topics.cmd_current, topics.cmd_phases, topics.config_changed]
        + ([ha.status_topic] if ha.enabled else []),
        will=(topics.availability, "offline"),
    )
    bridge = Bridge(cfg, ModbusLink.from_config(cfg), mqtt, topics, config_path=config_path)
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
