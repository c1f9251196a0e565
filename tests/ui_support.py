"""Shared pieces of the UI tests: an app on a fake publisher, synthetic retained state."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

from flask import Flask

from common.config import load_config
from common.schemas import load_schema
from common.topics import Topics
from tests.helpers import base_config, write_config
from ui.app import create_app
from ui.cache import StateCache
from ui.context import UiContext
from ui.history import SessionHistory

SECRETS = {
    "tibber": {"access_token": "tibber-SECRET-7f3a9c"},
    "mqtt": {"password": "mqtt-SECRET-b81d2e"},
}
SECRET_VALUES = ("tibber-SECRET-7f3a9c", "mqtt-SECRET-b81d2e")


class FakePublisher:
    """Records publishes; ``connected`` can be switched off to simulate a broker outage."""

    def __init__(self) -> None:
        self.connected = True
        self.sent: List[Tuple[str, Any, bool]] = []
        self.lock = threading.Lock()

    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool:
        if not self.connected:
            return False
        with self.lock:
            self.sent.append((topic, json.loads(payload), retain))
        return True


def example(schema: str) -> Dict[str, Any]:
    return dict(load_schema(schema)["examples"][0])


def make_config(tmp: Path, **overrides: Any) -> Path:
    cfg = base_config(tmp, 5020, 1883, **overrides)
    cfg.update({k: {**cfg.get(k, {}), **v} for k, v in SECRETS.items()})
    return write_config(tmp / "config.yaml", cfg)


def make_app(
    tmp: Path, token: Optional[str] = None, max_sse: int = 4, **overrides: Any
) -> Tuple[Flask, UiContext, FakePublisher]:
    path = make_config(tmp, **overrides)
    cfg = load_config(path, env={})
    topics = Topics("alfen", "0")
    pub = FakePublisher()
    ctx = UiContext(
        cfg=cfg,
        config_path=str(path),
        cache=StateCache(topics),
        publisher=pub,
        topics=topics,
        token=token,
        history=SessionHistory(cfg["state_dir"]),
        max_sse=max_sse,
    )
    ctx.heartbeat_s = 0.2
    return create_app(ctx), ctx, pub


def feed_online(cache: StateCache, **state_changes: Any) -> None:
    """Retained state as bridge and controller publish it, everything online."""
    t = cache.topics
    cache.set_broker(True)
    state = example("state")
    state["ts"] = cache.clock.wall()
    state.update(state_changes)
    cache.apply(t.availability, b"online")
    cache.apply(t.control_availability, b"online")
    cache.apply(t.state, json.dumps(state).encode())
    cache.apply(t.info, json.dumps(example("info")).encode())
    cache.apply(t.control_state, json.dumps(example("control_state")).encode())
