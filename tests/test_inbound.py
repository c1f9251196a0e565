"""Hostile MQTT input, in process: the caps of parse_json, the inbox of every process, the
controller under a command burst, the UI's feeder, and a thread that dies.

Each case here was reproduced against the processes before the guard: a 5,000-digit integer
raised ValueError out of parse_json, a 100,000-deep list RecursionError out of the Venus parser,
a 600-deep JSON killed the UI's feeder thread, a retained command was obeyed, and every one of
1,000 set commands was answered with its own decision and cmd/current.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any, List, Tuple, Union

import pytest

from common.clock import ManualClock
from common.config import validate_config
from common.inbound import QUOTE_CHARS, Inbox, LogLimiter, error_body, quote_bytes
from common.mqtt_link import Message
from common.schemas import MAX_DEPTH, PayloadError, parse_json, validate
from common.threads import EXIT_THREAD_DIED
from common.topics import Topics
from control.model import Mode
from control.runner import Runner
from control.venus import parse_value
from tests.fakes import RecordingLink, build_runner
from tests.helpers import ROOT, base_config
from ui.cache import Feeder, StateCache

T = Topics("alfen", "0")
HUGE_INT = b"9" * 5000
DEEP_100K = b"[" * 100_000 + b"]" * 100_000
DEEP_600 = b"[" * 600 + b"]" * 600


# ---- parse_json: the caps ---------------------------------------------------------------------
@pytest.mark.parametrize(
    "raw, reason",
    [
        (HUGE_INT, "a number of 5000 characters"),
        (b'{"amps": ' + HUGE_INT + b"}", "a number of 5000 characters"),
        (b'{"amps": 1.' + HUGE_INT + b"}", "a number of 5002 characters"),
        (DEEP_100K, "nested deeper than"),
        (DEEP_600, "nested deeper than"),
        (b'{"a":' * 40 + b"1" + b"}" * 40, "nested deeper than"),
        (b"1e400", "not a finite number"),
        (b"x" * 300_000, "at most 262144"),
        (b"\xff", "not UTF-8"),
    ],
)
def test_parse_json_refuses_with_a_reason(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_json(raw)


def test_parse_json_keeps_what_is_normal() -> None:
    nested = {"a": [{"b": [1, 2.5, -3e5, None, True, "x"]}]}
    assert parse_json(json.dumps(nested).encode()) == nested
    edge = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    assert parse_json(edge) is not None  # exactly at the cap is fine
    assert parse_json(b"12345678901234567890") == 12345678901234567890


def test_validate_walks_a_deep_value_without_recursion() -> None:
    deep: Any = 1.0
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(PayloadError):  # not RecursionError
        validate("set_current", {"amps": deep})


def test_venus_parser_never_raises() -> None:
    assert parse_value(DEEP_100K) == (False, None)
    assert parse_value(b'{"value": ' + HUGE_INT + b"}") == (False, None)
    assert parse_value(b'{"value": 42.5}') == (True, 42.5)


# ---- the inbox -------------------------------------------------------------------------------
class Recorder:
    def __init__(self) -> None:
        self.sent: List[Tuple[str, Union[str, bytes], bool]] = []

    def __call__(self, topic: str, payload: Union[str, bytes], retain: bool) -> bool:
        self.sent.append((topic, payload, retain))
        return True


def test_a_retained_command_is_ignored_and_cleared_by_its_consumer() -> None:
    sent = Recorder()
    inbox = Inbox("bridge", T, sent, consumes=lambda t: t == T.cmd_current)
    seen: List[Message] = []
    inbox.deliver(seen.append, Message(T.cmd_current, b'{"amps": 16}', True), 0.0)
    assert seen == []
    assert sent.sent == [(T.cmd_current, b"", True)]  # cleared: a restart won't see it again
    # the broker echoes the clearing as an empty message: never a command
    inbox.deliver(seen.append, Message(T.cmd_current, b"", False), 0.1)
    assert seen == []
    inbox.deliver(seen.append, Message(T.cmd_current, b'{"amps": 8}', False), 0.2)
    assert [m.payload for m in seen] == [b'{"amps": 8}']


def test_a_retained_command_another_process_consumes_is_ignored_not_cleared() -> None:
    sent = Recorder()
    inbox = Inbox("dbus", T, sent)
    seen: List[Message] = []
    inbox.deliver(seen.append, Message(T.control_set("mode"), b'{"mode": 1}', True), 0.0)
    assert seen == [] and sent.sent == []
    inbox.deliver(seen.append, Message(T.state, b"{}", True), 0.0)  # retained state is normal
    assert len(seen) == 1


def test_a_handler_error_is_answered_bounded_and_logged_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sent = Recorder()
    inbox = Inbox("control", T, sent)

    def boom(msg: Message) -> None:
        raise RuntimeError("x" * 1_000_000)

    big = b'{"amps": "' + b"y" * 1_000_000 + b'"}'
    with caplog.at_level(logging.WARNING):
        for i in range(100):
            inbox.deliver(boom, Message(T.control_set("current"), big, False), float(i))
    assert len(sent.sent) == 100  # every one answered on the error topic
    topic, body, retain = sent.sent[0]
    assert topic == T.error and retain is False
    assert len(body) < 1500, "a 1 MB payload must not be echoed whole"
    error = json.loads(body)
    validate("error", error)
    assert error["source"] == "control" and error["error"].startswith("RuntimeError: xxx")
    assert error["payload"].endswith(f"({len(big)} bytes)")
    lines = [r for r in caplog.records if "dropped a message" in r.getMessage()]
    assert len(lines) == 2, "one line per topic and minute (at t=0 and t=60)"
    assert all(len(r.getMessage()) < 1000 for r in lines)


def test_a_foreign_topic_is_logged_not_answered() -> None:
    sent = Recorder()
    inbox = Inbox("control", T, sent)
    inbox.deliver(lambda m: 1 / 0, Message("N/abc/system/0/Dc/Battery/Soc", b"[]", True), 0.0)
    assert sent.sent == [] and inbox.dropped == 1


def test_quote_and_limiter_stay_bounded() -> None:
    assert quote_bytes(b"short") == "short"
    assert len(quote_bytes("é".encode() * 10_000)) < QUOTE_CHARS + 40
    limiter = LogLimiter(period_s=60, max_keys=10)
    assert all(limiter.allow(f"t{i}", 0.0) for i in range(50))
    assert len(limiter._last) <= 10
    body = json.loads(error_body("t" * 5000, b"p", "r" * 5000, "bridge", 1.0))
    assert len(body["topic"]) < 300 and len(body["error"]) < 500


# ---- the controller --------------------------------------------------------------------------
def make_runner(tmp: Path) -> Tuple[Runner, RecordingLink]:
    config = validate_config(
        base_config(tmp, 1502, 1883, victron={"portal_id": "abc"}, controls={"max_set_current": 16})
    )
    link = RecordingLink()
    runner = build_runner(config, link, ManualClock(wall=1_780_000_000.0))
    runner.load()
    return runner, link


def charger_state(now: float) -> bytes:
    line = {"voltage_v": 230.0, "current_a": 0.0, "power_w": 0.0}
    return json.dumps(
        {
            "ts": now,
            "connected": True,
            "mode3": "B2",
            "vehicle_connected": True,
            "charging": False,
            "l1": line,
            "l2": line,
            "l3": line,
            "power_w": 0.0,
            "energy_wh": 1000.0,
            "station_max_current_a": 32.0,
        }
    ).encode()


def test_the_controller_survives_poison_on_every_topic_it_reads(tmp_path: Path) -> None:
    runner, link = make_runner(tmp_path)
    now = 1_780_000_000.0
    poison = [
        HUGE_INT,
        DEEP_100K,
        DEEP_600,
        b'{"amps": ' + HUGE_INT + b"}",
        b'{"amps": ' + b"7" * 1000 + b"}",
        b"\xff\xfe",
    ]
    topics = [
        T.state,
        T.availability,
        T.config_changed,
        T.control_set("current"),
        T.control_set("mode"),
        "N/abc/system/0/Dc/Battery/Soc",
        "N/abc/system/0/Ac/Grid/L1/Power",
    ]
    for topic, payload in ((t, p) for t in topics for p in poison):
        for retain in (True, False):
            runner._safely(runner.handle, Message(topic, payload, retain))
            runner._safely(runner.tick)
    errors = [json.loads(p) for p in link.on(T.error)]
    digits = [e for e in errors if "a number of 1000 characters" in e["error"]]
    size = [e for e in errors if "payload of 5010 bytes" in e["error"]]
    assert digits and size, "a huge amps must be answered on the error topic"
    assert all(len(json.dumps(e)) < 1500 for e in errors)
    # still deciding: a valid command is applied and answered
    runner.handle(Message(T.state, charger_state(now), True), now)
    runner.handle(Message(T.control_set("current"), b'{"amps": 9}', False), now + 1)
    assert runner.user.set_current_a == 9.0


def test_a_retained_set_command_does_not_change_the_mode_and_is_cleared(tmp_path: Path) -> None:
    runner, link = make_runner(tmp_path)
    before = runner.user.mode
    runner.handle(Message(T.control_set("mode"), b'{"mode": 2}', True), 1.0)
    assert runner.user.mode == before == Mode.MANUAL
    assert (T.control_set("mode"), "", True) in link.published
    runner.handle(Message(T.control_set("mode"), b'{"mode": 2}', False), 2.0)
    assert runner.user.mode == Mode.SCHEDULED  # a fresh one is obeyed


def test_a_burst_of_set_commands_costs_few_answers_and_the_newest_wins(tmp_path: Path) -> None:
    runner, link = make_runner(tmp_path)
    now = 1_780_000_000.0
    runner.handle(Message(T.state, charger_state(now), True), now)
    runner.handle(Message(T.control_set("startstop"), b'{"enabled": true}', False), now)
    runner.tick(now)
    sent_before = len(link.on(T.cmd_current))
    states_before = len(link.on(T.control_state))
    # 1,000 commands within 0.1 s, alternating 6 and 16 A, the last one 11 A
    for i in range(1000):
        amps = 11 if i == 999 else (6 if i % 2 else 16)
        body = json.dumps({"amps": amps}).encode()
        runner.handle(Message(T.control_set("current"), body, False), now + 1 + i / 10_000)
    answers = len(link.on(T.control_state)) - states_before
    assert answers <= 2, f"{answers} control/state for one burst"
    assert len(link.on(T.cmd_current)) - sent_before <= 2
    runner.tick(now + 2)  # the regular tick applies the newest
    assert runner.user.set_current_a == 11.0
    assert json.loads(link.on(T.cmd_current)[-1])["amps"] == 11.0


# ---- the UI's feeder -------------------------------------------------------------------------
def test_the_ui_feeder_outlives_a_deep_error_and_keeps_updating() -> None:
    cache = StateCache(T)
    feeder = Feeder(link=None, cache=cache)
    feeder.handle(Message(T.error, b'{"e":' * 600 + b"1" + b"}" * 600, True))
    feeder.handle(Message(T.state, b'{"connected": ' + HUGE_INT + b"}", True))
    feeder.handle(Message(T.state, json.dumps({"connected": True, "ts": 1.0}).encode(), True))
    snap = cache.snapshot()
    assert snap["state"] == {"connected": True, "ts": 1.0}
    json.dumps(snap)  # still serialisable for /api/status


def test_the_feeder_survives_a_cache_bug(monkeypatch: pytest.MonkeyPatch) -> None:
    cache = StateCache(T)
    feeder = Feeder(link=None, cache=cache)

    def broken(topic: str, payload: bytes) -> bool:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(cache, "apply", broken)
    feeder.handle(Message(T.state, b"{}", True))  # logged, not raised


# ---- a thread that dies ends the process -----------------------------------------------------
def test_a_dead_thread_ends_the_process_with_its_reason() -> None:
    script = (
        "import threading, time\n"
        "from common.threads import exit_when_a_thread_dies\n"
        "exit_when_a_thread_dies()\n"
        "def work():\n"
        "    raise RecursionError('deep payload')\n"
        "threading.Thread(target=work, name='ui-feeder').start()\n"
        "time.sleep(10)\n"
        "print('still alive')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=20,
    )
    assert proc.returncode == EXIT_THREAD_DIED, proc.stdout + proc.stderr
    assert "thread ui-feeder died (RecursionError: deep payload)" in proc.stderr
    assert "still alive" not in proc.stdout


def test_every_process_installs_the_thread_guard(tmp_path: Path) -> None:
    """Every process starts through common.cli.start, and that installs the guard."""
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(base_config(tmp_path, 1502, 1883)))  # JSON is YAML
    script = (
        "import sys, threading, time\n"
        "from common.cli import start\n"
        f"cfg, _ = start('x', None, 'test', ['--config', {str(config)!r}])\n"
        "assert cfg is not None\n"
        "threading.Thread(target=lambda: 1 / 0, name='worker').start()\n"
        "time.sleep(10)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script], cwd=str(ROOT), capture_output=True, text=True, timeout=20
    )
    assert proc.returncode == EXIT_THREAD_DIED, proc.stdout + proc.stderr
    mains = ("bridge/main.py", "control/__main__.py", "dbus_shim/main.py", "ui/__main__.py")
    assert all("from common.cli import start" in (ROOT / m).read_text() for m in mains)


def test_quoted_text_cannot_drive_the_terminal() -> None:
    """A topic or payload from the broker reaches logs and error payloads: control characters
    (an ANSI escape, a carriage return) are shown as escapes, never passed through."""
    from common.inbound import quote

    assert quote("a\x1b[2Jb\r") == "a\\x1b[2Jb\\r"
    assert quote_bytes(b"\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"
    assert quote("plain text ok") == "plain text ok"


def test_the_ui_keeps_only_what_has_the_schemas_shape() -> None:
    """One retained message of the wrong shape on a topic the page renders ({"storage": 1} on
    control/state, a null slot on control/prices) made the page's render throw on every event:
    the cache keeps the last valid value instead."""
    cache = StateCache(T)
    good = {"ts": 1.0, "mode": 0, "storage": None}
    assert cache.apply(T.control_state, json.dumps(good).encode())
    assert not cache.apply(T.control_state, b'{"ts": 2.0, "storage": 1}')
    assert not cache.apply(T.sub("control/prices"), b'{"slots": [null]}')
    assert not cache.apply(T.error, b'{"topic": 5}')
    assert cache.snapshot()["control"] == good
