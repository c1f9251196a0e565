"""The UI's read side for the power view, the power graph, the SCHEDULED prices and the wording
of who is offline: the controller's control/site and control/prices through the cache."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from common.clock import ManualClock
from tests.ui_support import example, feed_online, make_app
from ui.cache import POWER_BUCKET_S, PowerHistory, StateCache


@pytest.fixture
def app_ctx(tmp_path: Path) -> Any:
    return make_app(tmp_path)


def _site(cache: StateCache, **changes: Any) -> None:
    body = {**example("control_site"), "ts": cache.clock.wall(), **changes}
    cache.apply(cache.topics.control_site, json.dumps(body).encode())


def test_status_carries_the_site_while_the_controller_is_online(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache)
    _site(ctx.cache)
    c = app.test_client()
    site = c.get("/api/status").json["site"]
    assert (site["pv_w"], site["grid_w"], site["battery_soc"]) == (5400.0, -120.0, 72.5)
    ctx.cache.apply(ctx.topics.control_availability, b"offline")  # its last word is old news
    assert c.get("/api/status").json["site"] is None
    ctx.cache.apply(ctx.topics.control_availability, b"online")
    _site(ctx.cache, ts=time.time() - 600)  # a retained one from long ago
    assert c.get("/api/status").json["site"] is None


def test_charger_not_answering_is_not_a_dead_bridge(app_ctx: Any) -> None:
    """The bridge says offline while the charger does not answer it, but keeps publishing its
    state (connected false): that is the charger's side. A stale state means the bridge died."""
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache, connected=False)
    ctx.cache.apply(ctx.topics.availability, b"offline")
    on = app.test_client().get("/api/status").json["online"]
    assert on["bridge"] is True and on["charger"] is False
    feed_online(ctx.cache, ts=time.time() - 600)
    ctx.cache.apply(ctx.topics.availability, b"offline")  # its last will
    on = app.test_client().get("/api/status").json["online"]
    assert on["bridge"] is False and on["charger"] is False


def test_power_graph_keeps_30_s_means_of_every_flow(tmp_path: Path) -> None:
    clock = ManualClock(wall=1_000_020.0)
    app, ctx, _pub = make_app(tmp_path)
    ctx.cache = cache = StateCache(ctx.topics, clock=clock)
    feed_online(cache, power_w=3000.0)
    for i in range(60):  # a minute of 1 s samples: two buckets, the second still open
        feed_online(cache, power_w=3000.0)
        _site(cache, pv_w=4000.0 + (100.0 if i % 2 else -100.0), grid_w=-1000.0, battery_w=None)
        cache.sample()
        clock.advance(1)  # after the last: the third bucket begins, the second one is complete
    _site(cache)
    cache.sample()
    c = app.test_client()
    g = c.get("/api/power").json
    assert g["bucket_s"] == [POWER_BUCKET_S] and len(g["t"]) == 2
    assert g["pv_w"] == [4000.0, 4000.0] and g["grid_w"] == [-1000.0, -1000.0]
    assert g["ev_w"] == [3000.0, 3000.0] and g["battery_w"] == [None, None]  # unknown stays so
    assert c.get(f"/api/power?since={g['t'][0]}").json["t"] == g["t"][1:]
    assert c.get("/api/power?since=soon").status_code == 400


def test_power_history_is_bounded() -> None:
    h = PowerHistory(bucket_s=1.0, points=5)
    for t in range(20):
        h.add(float(t), (1.0, 2.0, None, None))
    cols = h.columns(0.0)
    assert len(cols["t"]) == 5 and cols["t"][-1] == 18.5


def test_prices_are_served_apart_and_their_version_moves_on_change(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    c = app.test_client()
    assert c.get("/api/prices").json == {"source": "none", "slots": []}
    before = c.get("/api/status").json["prices_version"]
    body = json.dumps(example("control_prices")).encode()
    ctx.cache.apply(ctx.topics.control_prices, body)
    moved = c.get("/api/status").json["prices_version"]
    ctx.cache.apply(ctx.topics.control_prices, body)  # the same again (a reconnect)
    assert moved == before + 1 == c.get("/api/status").json["prices_version"]
    assert len(c.get("/api/prices").json["slots"]) == 2
    assert "slots" not in json.dumps(c.get("/api/status").json)  # not in every SSE event
