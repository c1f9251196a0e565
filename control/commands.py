"""The command sender: ``{base}/cmd/current`` with its lease refresh, and ``cmd/phases``.

The bridge keeps refreshing the charger only while commands keep arriving, so the setpoint is
re-sent at least every ``lease_s / 3`` (two refreshes may get lost before the bridge lets it
lapse); when the controller dies, the charger falls back to its safe current once lease and
validity run out. Phases go out only when the decision changes them.
"""

from __future__ import annotations

import json
import logging
from typing import Callable, Optional

from common.topics import Topics
from control.every import Every
from control.model import Decision

log = logging.getLogger(__name__)

AMPS_EPSILON = 0.05
REFRESH_SLACK_S = 0.1  # tick jitter must not push a refresh a whole tick late

Publish = Callable[[str, str], bool]


class CommandSender:
    """What was last commanded, and when it must go out again."""

    def __init__(self, topics: Topics, publish: Publish, lease_s: float, ceiling_a: float) -> None:
        self.topics = topics
        self.publish = publish
        self.ceiling_a = ceiling_a
        self.refresh = Every(0.0)
        self.configure(lease_s, ceiling_a)
        self.amps: Optional[float] = None  # last setpoint the broker took
        self.phases: Optional[int] = None  # last phase count the broker took

    def configure(self, lease_s: float, ceiling_a: float) -> None:
        """A new lease or ceiling (config reload) applies from the next send."""
        self.refresh.period_s = lease_s / 3.0 - REFRESH_SLACK_S
        self.ceiling_a = ceiling_a

    def on_connected(self) -> None:
        """A new broker session: setpoint and phases go out again at the next send."""
        self.refresh.reset()
        self.phases = None

    def send(self, d: Decision, user_max_a: float, now: float) -> None:
        """Command ``d``: the current clamped to the user's max and the ceiling, on change or
        when the refresh is due; the phases on change."""
        amps = round(max(0.0, min(float(d.amps), user_max_a, self.ceiling_a)), 2)
        changed = self.amps is None or abs(amps - self.amps) >= AMPS_EPSILON
        if (changed or self.refresh.due(now)) and self.publish(
            self.topics.cmd_current, json.dumps({"amps": amps})
        ):
            if changed:
                log.info("setpoint %.2f A (%s)", amps, d.reason)
            self.amps = amps
            self.refresh.done(now)
        if d.phases in (1, 3) and d.phases != self.phases:
            if self.publish(self.topics.cmd_phases, json.dumps({"phases": d.phases})):
                log.info("phases %d (%s)", d.phases, d.reason)
                self.phases = d.phases
