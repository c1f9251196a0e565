"""The UI runs on one injected ``common.clock.Clock``: the cache's staleness and sample times,
the feeder's sampling schedule, the SSE pacing and the config notice's time stamp. Driven by a
``ManualClock``: hours pass in microseconds, nothing sleeps."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

from common.clock import ManualClock
from tests.ui_support import feed_online, make_app
from ui.api import SSE_MIN_GAP_S, _notify, _stream
from ui.cache import STALE_AFTER_S, Feeder, StateCache


def test_cache_judges_staleness_and_stamps_samples_on_its_clock(tmp_path: Path) -> None:
    clock = ManualClock(wall=1_800_000_000.0)
    _app, ctx, _pub = make_app(tmp_path)
    cache = StateCache(ctx.topics, clock)
    feed_online(cache)  # the state's ts is the clock's wall time
    assert cache.sample().ts == 1_800_000_000.0
    assert cache.snapshot()["online"]["charger"] is True
    clock.advance(STALE_AFTER_S + 1)
    snap = cache.snapshot()
    assert snap["ts"] == clock.wall() and snap["online"]["charger"] is False


class _SteppingLink:
    """A link with no messages: waiting for one lets the manual clock run instead."""

    def __init__(self, clock: ManualClock, feeder_box: List[Feeder], until_s: float) -> None:
        self.clock, self.box, self.until = clock, feeder_box, clock.monotonic() + until_s
        self.waits: List[float] = []

    def next_event(self, timeout_s: float) -> Optional[Any]:
        self.waits.append(timeout_s)
        self.clock.sleep(timeout_s)
        if self.clock.monotonic() >= self.until:
            self.box[0].stop()
        return None


def test_feeder_samples_once_a_period_on_its_clock(tmp_path: Path) -> None:
    clock = ManualClock()
    _app, ctx, _pub = make_app(tmp_path)
    cache = StateCache(ctx.topics, clock)
    box: List[Feeder] = []
    link = _SteppingLink(clock, box, until_s=10.0)
    feeder = Feeder(link, cache, period_s=1.0, clock=clock)
    box.append(feeder)
    feeder._run()  # returns when the link has let 10 s of manual time pass
    times = cache.graph()["t"]
    assert len(times) == 11  # at 0 s, 1 s, … 10 s
    assert [round(b - a, 6) for a, b in zip(times, times[1:])] == [1.0] * 10
    assert max(link.waits) <= 0.5


def test_sse_pacing_and_config_notice_use_the_context_clock(tmp_path: Path) -> None:
    _app, ctx, pub = make_app(tmp_path)
    ctx.clock = clock = ManualClock(wall=1_800_000_000.0, monotonic=50.0)
    assert ctx.sse_slots.acquire(blocking=False)  # as the /api/events route does
    stream = _stream(ctx)
    assert next(stream).startswith("retry:")
    assert next(stream).startswith("event: status")
    ctx.cache.set_broker(True)  # a change, so the stream does not wait for its heartbeat
    assert next(stream).startswith("event: status")
    assert clock.monotonic() == 50.0 + SSE_MIN_GAP_S  # paced on the clock, not by time.sleep
    ctx.stopping.set()
    stream.close()
    assert _notify(ctx, ["pricing.currency"])
    topic, notice, retained = pub.sent[-1]
    assert topic == ctx.topics.config_changed and retained
    assert notice["ts"] == 1_800_000_000.0 + SSE_MIN_GAP_S
