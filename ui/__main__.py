"""``python -m ui --config FILE``: the web UI and JSON API, served by waitress."""

from __future__ import annotations

import logging
import os
import signal
import sys
from typing import Any, List, Optional

from waitress.server import create_server

from common.cli import start
from common.clock import SYSTEM_CLOCK, Clock
from common.config import topics_for
from common.config_fields import config_value
from common.mqtt_link import MqttLink, MqttSettings
from ui.app import create_app
from ui.auth import resolve_token
from ui.cache import Feeder, StateCache, subscriptions
from ui.context import MAX_SSE_STREAMS, UiContext
from ui.history import SessionHistory

log = logging.getLogger("ui")


class _Stop(Exception):
    """Raised by the SIGTERM/SIGINT handler to leave waitress's loop in the main thread."""


def build(cfg: dict, config_path: str, clock: Clock = SYSTEM_CLOCK) -> tuple:
    """Wire the parts (no I/O until ``start``): link, cache, feeder, app context, one clock."""
    topics = topics_for(cfg)
    client_id = f"{config_value(cfg, 'mqtt.client_id_prefix')}-ui-{os.getpid()}"
    link = MqttLink(MqttSettings.from_config(cfg), client_id, subscriptions(topics))
    cache = StateCache(topics, clock)
    ctx = UiContext(
        cfg=cfg,
        config_path=config_path,
        cache=cache,
        publisher=link,
        topics=topics,
        token=resolve_token(cfg),
        history=SessionHistory(cfg["state_dir"], currency=cfg["pricing"]["currency"]),
        clock=clock,
    )
    return link, Feeder(link, cache, clock=clock), ctx


def main(argv: Optional[List[str]] = None) -> int:
    cfg, config_path = start("python -m ui", __doc__, "ui", argv)
    if cfg is None:
        return 2
    host, port = cfg["web"]["host"], int(cfg["web"]["port"])
    try:
        link, feeder, ctx = build(cfg, os.path.abspath(config_path))
    except OSError as exc:
        log.error("cannot prepare the write token in %s: %s", cfg["state_dir"], exc)
        return 1
    try:
        server: Any = create_server(
            create_app(ctx),
            host=host,
            port=port,
            threads=MAX_SSE_STREAMS + 8,
            ident="alfen-ui",
            channel_timeout=60,
            clear_untrusted_proxy_headers=True,
        )
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", host, port, exc)
        return 1
    link.start()
    feeder.start()

    def stop(_sig: int, _frame: Any) -> None:
        ctx.stopping.set()  # open SSE streams end at their next wake-up
        raise _Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "web UI on http://%s:%s/ui/ (%s)",
        host,
        port,
        "write token required" if ctx.token else "localhost only, no token",
    )
    try:
        server.run()
    except _Stop:
        pass
    finally:
        ctx.stopping.set()
        server.close()
        feeder.stop()
        link.stop()
    log.info("web UI stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
