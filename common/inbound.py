"""The one guarded way in for every MQTT message a process receives.

Any device on the GX's LAN can publish to its broker once MQTT on LAN is on, and a buggy flow
can retain anything. So each process hands every message to an ``Inbox`` before its handler
sees it:

* a retained message on a command topic is stale (its sender may be long gone): it is ignored
  with a warning, and cleared if this process is the one that consumes that command;
* the handler runs under a catch-all: whatever it raises is logged (once per topic and minute)
  and, for the project's own topics, answered on ``{base}/error``; the process keeps running.

Payload size, number length and nesting depth are capped in ``common.schemas.parse_json``,
the only JSON parser the processes use for what arrives over MQTT or HTTP.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Dict, Union

from common.mqtt_link import Message
from common.schema_check import QUOTE_MAX_CHARS
from common.topics import COMMAND_SCHEMAS, Topics

log = logging.getLogger(__name__)

# What an error payload or a log line quotes of untrusted text: enough to recognise it (the
# same length the config's and the schemas' messages quote).
QUOTE_CHARS = QUOTE_MAX_CHARS
# A topic's problems are logged at most once per this many seconds (a flood is one line).
LOG_PERIOD_S = 60.0

Publish = Callable[[str, Union[str, bytes], bool], bool]


def printable(text: str) -> str:
    """``text`` with control characters shown as escapes: a topic or payload from the broker
    must not move the cursor or recolour the terminal of whoever reads the log."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def quote(text: str, limit: int = QUOTE_CHARS) -> str:
    """``text`` cut to ``limit`` characters, saying how long it was, control characters
    escaped."""
    if len(text) <= limit:
        return printable(text)
    return f"{printable(text[:limit])}… ({len(text)} characters)"


def quote_bytes(payload: bytes, limit: int = QUOTE_CHARS) -> str:
    """A payload as text for an error or a log line; only the head is decoded."""
    head = payload[: limit * 4].decode("utf-8", "replace")
    if len(payload) <= limit * 4 and len(head) <= limit:
        return printable(head)
    return f"{printable(head[:limit])}… ({len(payload)} bytes)"


def error_body(topic: str, payload: bytes, reason: str, source: str, ts: float) -> str:
    """The ``{base}/error`` payload (schemas/error.schema.json): who refused what, and why."""
    return json.dumps(
        {
            "topic": quote(topic),
            "payload": quote_bytes(payload),
            "error": quote(reason, 2 * QUOTE_CHARS),
            "source": source,
            "ts": ts,
        }
    )


class LogLimiter:
    """At most one line per key and period, so that a flood of bad messages is one log line."""

    def __init__(self, period_s: float = LOG_PERIOD_S, max_keys: int = 1000) -> None:
        self.period_s = period_s
        self.max_keys = max_keys  # an attacker can invent topics: the memory stays bounded
        self._last: Dict[str, float] = {}

    def allow(self, key: str, now: float) -> bool:
        last = self._last.get(key)
        if last is not None and 0 <= now - last < self.period_s:
            return False
        if last is None and len(self._last) >= self.max_keys:
            self._last.clear()
        self._last[key] = now
        return True


def is_command(topics: Topics, topic: str) -> bool:
    """A topic that asks for an action (``cmd/*``, ``control/set/*``): never valid retained."""
    suffix = topics.suffix_of(topic)
    return suffix in COMMAND_SCHEMAS or topics.is_set(topic)


class Inbox:
    """Admission and a catch-all for one process's MQTT messages."""

    def __init__(
        self,
        source: str,
        topics: Topics,
        publish: Publish,
        consumes: Callable[[str], bool] = lambda _topic: False,
    ) -> None:
        self.source = source
        self.topics = topics
        self.publish = publish
        self.consumes = consumes  # command topics this process acts on: it clears them
        self.limiter = LogLimiter()
        self.dropped = 0

    def admit(self, msg: Message, now: float) -> bool:
        """False for what no handler may see: a stale (retained) command, or the empty
        message that clears one."""
        if not is_command(self.topics, msg.topic):
            return True
        if not msg.payload:  # a retained command being cleared: never a command itself
            return False
        if not msg.retain:
            return True
        self.dropped += 1
        owner = self.consumes(msg.topic)
        if self.limiter.allow("retained " + msg.topic, now):
            log.warning(
                "ignoring a retained command on %s (commands must be fresh)%s",
                quote(msg.topic),
                "; clearing it" if owner else "",
            )
        if owner:
            self.publish(msg.topic, b"", True)
        return False

    def deliver(self, handler: Callable[[Message], None], msg: Message, now: float) -> None:
        """Run ``handler`` on an admitted message; nothing it raises leaves this call."""
        if not self.admit(msg, now):
            return
        try:
            handler(msg)
        except Exception as exc:  # any payload-driven bug: drop the message, keep running
            self.reject(msg, f"{type(exc).__name__}: {exc}", now, unexpected=True)

    def reject(self, msg: Message, reason: str, now: float, unexpected: bool = False) -> None:
        """Drop ``msg``: answer on ``{base}/error`` if the topic is ours, else log (limited)."""
        self.dropped += 1
        ours = bool(self.topics.suffix_of(msg.topic))
        if self.limiter.allow(msg.topic, now):
            if unexpected:
                log.error(
                    "dropped a message on %s: %s", quote(msg.topic), quote(reason), exc_info=True
                )
            else:
                log.warning("rejected %s: %s", quote(msg.topic), quote(reason))
        if ours and msg.topic != self.topics.error:
            self.publish(
                self.topics.error,
                error_body(msg.topic, msg.payload, reason, self.source, now),
                False,
            )
