"""Tibber client against a local HTTP server: 15-minute prices, errors, 429, request budget."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import pytest
import pytz

from control.tibber import (
    ERROR_BACKOFF_S,
    MAX_REQUESTS_PER_DAY,
    RATE_LIMIT_BACKOFF_S,
    TibberClient,
    TibberSettings,
    parse_response,
    price_at,
)

TZ = pytz.timezone("Europe/Amsterdam")
TOKEN = "secret-token-abc123"


def day_slots(day: dt.date, base: float = 0.20) -> List[Dict[str, Any]]:
    """96 quarter-hour prices in Tibber's recorded format (local times with offset)."""
    start = TZ.localize(dt.datetime.combine(day, dt.time(0)))
    out = []
    for i in range(96):
        t = TZ.normalize(start + dt.timedelta(minutes=15 * i))
        price = round(base + 0.01 * (i % 8), 4)
        level = "CHEAP" if i % 8 < 2 else "NORMAL"
        out.append(
            {"total": price, "level": level, "startsAt": t.isoformat(timespec="milliseconds")}
        )
    return out


def answer(today: dt.date, tomorrow: bool) -> Dict[str, Any]:
    info = {
        "today": day_slots(today),
        "tomorrow": day_slots(today + dt.timedelta(days=1), 0.3) if tomorrow else [],
    }
    home = {"id": "home-1", "currentSubscription": {"priceInfo": info}}
    return {"data": {"viewer": {"homes": [home]}}}


class Api:
    """The fake Tibber: a queue of (status, body) answers; records every request."""

    def __init__(self) -> None:
        self.answers: List[Tuple[int, Any]] = []
        self.requests: List[Dict[str, Any]] = []
        api = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                api.requests.append(
                    {"auth": self.headers.get("Authorization"), "body": json.loads(body)}
                )
                status, reply = api.answers.pop(0) if api.answers else (500, {"errors": []})
                raw = json.dumps(reply).encode() if not isinstance(reply, bytes) else reply
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1-beta/gql"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()


@pytest.fixture
def api() -> Iterator[Api]:
    a = Api()
    yield a
    a.server.shutdown()


def client(api: Api, tmp_path: Path, home_id: str = "") -> TibberClient:
    return TibberClient(TibberSettings(api.url, TOKEN, home_id, 2.0), str(tmp_path))


def at(day: dt.date, hour: int, minute: int = 0) -> float:
    return TZ.localize(dt.datetime.combine(day, dt.time(hour, minute))).timestamp()


DAY = dt.date(2025, 10, 14)


def test_fetches_quarter_hour_prices_with_the_token(api: Api, tmp_path: Path) -> None:
    api.answers.append((200, answer(DAY, tomorrow=False)))
    c = client(api, tmp_path)
    now = at(DAY, 9, 20)
    c.poll(now)
    c.wait()
    prices = c.prices(now)
    assert prices.error is None and prices.source == "tibber"
    assert price_at(prices, now) == pytest.approx(0.20 + 0.01 * (37 % 8))  # 09:15 is slot 37
    slot = next(s for s in prices.slots if s.start <= now < s.end)
    assert slot.end - slot.start == 900 and slot.level in ("CHEAP", "NORMAL")
    req = api.requests[0]
    assert req["auth"] == f"Bearer {TOKEN}"
    assert "QUARTER_HOURLY" in req["body"]["query"]
    assert "total" in req["body"]["query"] and "startsAt" in req["body"]["query"]


def test_home_id_goes_into_variables(api: Api, tmp_path: Path) -> None:
    home = {
        "id": "h2",
        "currentSubscription": {"priceInfo": {"today": day_slots(DAY), "tomorrow": []}},
    }
    api.answers.append((200, {"data": {"viewer": {"home": home}}}))
    c = client(api, tmp_path, home_id="h2")
    assert c.fetch(at(DAY, 9))
    assert api.requests[0]["body"]["variables"] == {"id": "h2"}


def test_cache_on_disk_means_no_request_at_restart(api: Api, tmp_path: Path) -> None:
    api.answers.append((200, answer(DAY, tomorrow=False)))
    c = client(api, tmp_path)
    c.poll(at(DAY, 9))
    c.wait()
    c2 = client(api, tmp_path)
    c2.poll(at(DAY, 10))
    c2.wait()
    assert len(api.requests) == 1
    assert price_at(c2.prices(at(DAY, 10)), at(DAY, 10)) is not None


def test_after_13h_fetches_tomorrow_then_stops(api: Api, tmp_path: Path) -> None:
    api.answers += [(200, answer(DAY, tomorrow=False))] * 3 + [(200, answer(DAY, tomorrow=True))]
    c = client(api, tmp_path)
    t = at(DAY, 8)
    while t < at(DAY, 23, 59):  # a whole day of 1-minute polls
        c.poll(t)
        c.wait()
        t += 60
    # 08:00 (today), then from 13:00 every 30 min until tomorrow's prices arrive (3rd retry)
    assert len(api.requests) == 4
    assert price_at(c.prices(at(DAY, 23)), at(DAY, 23) + 86400 - 3600) is not None


def test_http_error_backs_off_and_reports(
    api: Api, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api.answers += [(500, {"errors": [{"message": "boom"}]}), (200, answer(DAY, False))]
    c = client(api, tmp_path)
    now = at(DAY, 9)
    c.poll(now)
    c.wait()
    p = c.prices(now)
    assert p.error is not None and "HTTP 500" in p.error and not p.slots
    for dt_s in range(1, int(ERROR_BACKOFF_S)):
        c.poll(now + dt_s)
    assert len(api.requests) == 1
    c.poll(now + ERROR_BACKOFF_S)
    c.wait()
    assert len(api.requests) == 2 and c.prices(now + 61).error is None
    assert TOKEN not in caplog.text


def test_429_backs_off_longer_than_the_tibber_block(api: Api, tmp_path: Path) -> None:
    api.answers += [(429, {"errors": [{"message": "Too many requests"}]})] * 5
    c = client(api, tmp_path)
    now = at(DAY, 9)
    for minute in range(0, 120):
        c.poll(now + minute * 60)
        c.wait()
    # 09:00, 09:15 (≥ 15 min), 09:45 (×2), 10:45 (×2): four in two hours, not 120
    assert len(api.requests) == 4
    assert "429" in (c.prices(now).error or "")
    assert RATE_LIMIT_BACKOFF_S >= 600


def test_graphql_rate_limit_error_counts_as_429(api: Api, tmp_path: Path) -> None:
    body = {"errors": [{"message": "rate limited", "extensions": {"code": "TOO_MANY_REQUESTS"}}]}
    api.answers += [(200, body)]
    c = client(api, tmp_path)
    now = at(DAY, 9)
    assert not c.fetch(now)
    assert c._next_try - now >= RATE_LIMIT_BACKOFF_S
    assert "GraphQL error: rate limited" in (c.prices(now).error or "")


def test_never_more_than_the_daily_budget(api: Api, tmp_path: Path) -> None:
    api.answers += [(200, {"errors": [{"message": "x"}]})] * 100
    c = client(api, tmp_path)
    c._backoff_s = 0
    now = at(DAY, 0)
    for minute in range(0, 24 * 60):
        c._next_try = 0  # defeat back-off: the daily cap alone must hold
        c.poll(now + minute * 60)
        c.wait()
    assert len(api.requests) == MAX_REQUESTS_PER_DAY


@pytest.mark.parametrize(
    "body, text",
    [
        ({"errors": [{"message": "invalid token"}]}, "GraphQL error: invalid token"),
        ({"data": {"viewer": {"homes": []}}}, "no Tibber home"),
        ({"data": {"viewer": {}}}, "unexpected answer shape"),
        ([], "not a JSON object"),
    ],
)
def test_parse_errors(body: Any, text: str) -> None:
    with pytest.raises(Exception, match=text):
        parse_response(body)


def test_unreachable_api_gives_error_text(tmp_path: Path) -> None:
    c = TibberClient(TibberSettings("http://127.0.0.1:9/gql", TOKEN, "", 1.0), str(tmp_path))
    assert not c.fetch(at(DAY, 9))
    assert "cannot reach" in (c.prices(at(DAY, 9)).error or "")


@pytest.mark.parametrize(
    "reply, text",
    [
        ({"data": "x" * (3 * 1024 * 1024)}, "answer longer than"),
        ({"data": {"n": 10**100}}, "a number of 101 characters"),
    ],
)
def test_a_hostile_answer_is_an_error_not_a_crash(
    api: Api, tmp_path: Path, reply: Any, text: str
) -> None:
    """The API address is the user's to set: what answers there is untrusted."""
    api.answers.append((200, reply))
    c = client(api, tmp_path)
    now = at(DAY, 9)
    c.poll(now)
    c.wait()
    p = c.prices(now)
    assert p.error is not None and text in p.error and not p.slots
