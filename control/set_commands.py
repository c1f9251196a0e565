"""``{base}/control/set/<what>``: the user's commands, checked, applied, answered.

A command that fails its schema or a limit is rejected on ``{base}/error`` with the reason; a
valid one changes the user's settings. Each is answered at once (a new decision and
control/state), but not more often than every ``ANSWER_GAP_S``: a burst of commands costs one
answer, and the regular tick applies the newest.
"""

from __future__ import annotations

import logging
from typing import Optional

from common.inbound import Inbox, quote_bytes
from common.mqtt_link import Message
from common.schemas import PayloadError, parse_command
from common.topics import COMMAND_SCHEMAS, SET_PREFIX, Topics
from control.every import Every
from control.model import UserSettings
from control.settings_cmd import apply_setting

log = logging.getLogger(__name__)

ANSWER_GAP_S = 0.5


class SetCommands:
    def __init__(self, topics: Topics, inbox: Inbox) -> None:
        self.topics = topics
        self.inbox = inbox
        self.answer = Every(ANSWER_GAP_S)

    def apply(
        self, msg: Message, user: UserSettings, ceiling_a: float, now: float
    ) -> Optional[UserSettings]:
        """The settings after ``msg`` (None: rejected, answered on the error topic)."""
        suffix = self.topics.suffix_of(msg.topic)
        what = suffix[len(SET_PREFIX) :]
        schema = COMMAND_SCHEMAS.get(suffix)
        try:
            if schema is None:
                raise PayloadError(f"unknown setting {what!r}")
            changed = apply_setting(user, what, parse_command(schema, msg.payload), ceiling_a)
        except (PayloadError, ValueError, KeyError) as exc:
            self.inbox.reject(msg, str(exc), now)
            return None
        if changed != user:
            log.info("user setting %s: %s", what, quote_bytes(msg.payload))
        return changed

    def answer_now(self, now: float) -> bool:
        """Whether to answer this command at once (else the next tick does)."""
        return self.answer.take(now)
