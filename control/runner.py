"""The controller process around the pure core: MQTT in, ``decide`` at ~1 Hz, MQTT out.

The runner only wires: it routes each MQTT event to the collaborator that owns it, and each
tick builds a ``Snapshot`` from the inputs, calls ``decide(snap, mem, settings)`` and hands the
decision to the command sender (control/commands.py: ``cmd/current`` with its lease refresh,
``cmd/phases``), the session book (control/session_book.py), the state publisher
(control/publisher.py: ``control/state``, ``control/site``, ``control/prices``), the learners
(control/learners.py) and the persister (control/persister.py); the user's
``control/set/*`` commands go through control/set_commands.py. Time comes from one injected
``Clock``: wall time for what is shown and stored, monotonic time for the loop's pace.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

from common.clock import SYSTEM_CLOCK, Clock
from common.config import reload_on_notice, topics_for
from common.inbound import Inbox, LogLimiter
from common.mqtt_link import Connected, Event, Message
from common.topics import Topics
from control import session as sess
from control.commands import CommandSender
from control.inputs import ChargerInputs, stale_after_s
from control.learners import Learners
from control.link import Link
from control.model import Decision, Memory, Prices, Snapshot, UserSettings
from control.persister import Persister
from control.publisher import StatePublisher
from control.session_book import Pricing, SessionBook
from control.set_commands import SetCommands
from control.settings import CoreSettings
from control.storage import StorageHealth
from control.store import Store
from control.tibber import TibberClient
from control.venus import VenusInput

log = logging.getLogger(__name__)

TICK_S = 1.0
MEMORY_MAX_AGE_S = 300.0
# At start, the charger's retained state arrives a moment after the broker connection. A tick
# before it would see "charger not reachable": command 0 A (a pause of a charging car) and
# publish the session as last saved. So the first ticks wait for it, this long at most.
STARTUP_GRACE_S = 3.0

DecideFn = Callable[[Snapshot, Memory, CoreSettings], Tuple[Decision, Memory]]


def subscriptions(topics: Topics, venus: VenusInput) -> List[str]:
    return [
        topics.state,
        topics.availability,
        topics.sub("control/set/+"),
        topics.config_changed,
        *venus.subscriptions(),
    ]


class Runner:
    """One controller for one charger. Constructing it does no I/O; ``run`` does."""

    def __init__(
        self,
        cfg: Dict[str, Any],
        link: Link,
        decide: DecideFn,
        core_settings: CoreSettings,
        store: Store,
        venus: VenusInput,
        defaults: UserSettings,
        tibber: Optional[TibberClient] = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.topics = topics = topics_for(cfg)
        self.link, self.decide, self.clock = link, decide, clock
        self.core_settings = core_settings
        self.store, self.venus, self.tibber = store, venus, tibber
        self.user = defaults
        self.mem = Memory()
        self.config_path: Optional[str] = None  # set by __main__: reloaded on config/changed
        self.started_at = clock.wall()
        self.storage = StorageHealth()
        self.persister = Persister(store, self.storage, self.started_at)
        self.inputs = ChargerInputs(stale_after_s(cfg))
        self.commands = CommandSender(
            topics,
            lambda topic, payload: link.publish(topic, payload),
            float(cfg["controls"]["command_lease_seconds"]),
            float(cfg["controls"]["max_set_current"]),
        )
        self.book = SessionBook(self.persister, Pricing.from_config(cfg))
        self.learners = Learners(str(cfg["timezone"]))
        self.publisher = StatePublisher(topics, link, self.commands, self.book, self.storage)
        self._decide_failing = False
        self._loop_errors = LogLimiter()
        self.inbox = Inbox(
            "control",
            topics,
            lambda topic, payload, retain: link.publish(topic, payload, retain=retain),
            consumes=topics.is_set,
        )
        self.set_commands = SetCommands(topics, self.inbox)

    @property
    def session(self) -> Optional[sess.Session]:
        return self.book.session

    # --- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Open the store and restore user settings, the open session and what was learned."""
        self.store.open()
        self.user = self.store.load_settings(self.user)
        self.book.load()
        self.learners.load(self.store)
        mem = self.store.load_memory(self.clock.wall(), MEMORY_MAX_AGE_S)
        if mem is not None:
            self.mem = mem
        if self.tibber is not None:
            self.tibber.load_cache()

    def run(self, stop: threading.Event) -> None:
        self.load()
        self.link.start()
        clock = self.clock
        next_tick = clock.monotonic()
        while not stop.is_set():
            wait = min(0.5, max(0.0, next_tick - clock.monotonic()))
            event = self.link.next_event(wait)
            if event is not None:
                self._safely(self.handle, event)
            if clock.monotonic() >= next_tick:
                self._safely(self.tick)
                next_tick = max(next_tick + TICK_S, clock.monotonic() - TICK_S)
        self.shutdown()

    def _safely(self, step: Callable[..., None], *args: Any) -> None:
        """Run one step of the loop; whatever it raises is logged (once a minute) and the loop
        goes on: one bad input must not end the process."""
        try:
            step(*args, self.clock.wall())
        except Exception:
            name = getattr(step, "__name__", "step")
            if self._loop_errors.allow(name, self.clock.monotonic()):
                log.exception("unexpected error in %s; carrying on", name)

    def shutdown(self) -> None:
        """Persist and say goodbye; the charger is left to lease + validity (no command)."""
        now = self.clock.wall()
        self.persister.save_settings()
        self.persister.save_session(self.book.session, now, force=True)
        self.persister.save_memory(self.mem, now, force=True)
        if self.storage.pending:
            log.error(
                "%d ended session(s) could not be saved to the history and are lost",
                len(self.storage.pending),
            )
        self.store.close()
        self.link.stop(final=(self.topics.control_availability, "offline"))
        log.info("controller stopped")

    # --- events --------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> None:
        if isinstance(event, Connected):
            self.venus.on_connected()
            self.commands.on_connected()
            self.publisher.on_connected()
            self._keepalive(now)
        elif isinstance(event, Message):  # Disconnected: MqttLink logs it and reconnects
            self.inbox.deliver(lambda msg: self._on_message(msg, now), event, now)

    def _on_message(self, msg: Message, now: float) -> None:
        t = self.topics
        if msg.topic == t.state:
            self.inputs.on_state(msg.payload, now)
        elif msg.topic == t.availability:
            self.inputs.on_availability(msg.payload)
        elif self.topics.is_set(msg.topic):
            self._on_set(msg, now)
        elif msg.topic == t.config_changed:
            cfg = reload_on_notice(msg.payload, self.config_path, self.started_at)
            if cfg is not None:
                self.apply_config(cfg)
        elif msg.topic.startswith("N/"):
            for topic in self.venus.on_message(msg.topic, msg.payload, now):
                self.link.subscribe(topic)
            self._keepalive(now)

    def apply_config(self, cfg: Dict[str, Any]) -> None:
        """Take over every setting the controller can change without a restart (the UI saved
        the config and said so on config/changed)."""
        self.core_settings = CoreSettings.from_config(cfg)
        controls = cfg["controls"]
        self.commands.configure(
            float(controls["command_lease_seconds"]), float(controls["max_set_current"])
        )
        self.inputs.stale_s = stale_after_s(cfg)
        self.book.pricing = Pricing.from_config(cfg)

    def _on_set(self, msg: Message, now: float) -> None:
        user = self.set_commands.apply(msg, self.user, self.commands.ceiling_a, now)
        if user is None:
            return
        if user != self.user:
            self.user = user
            self.persister.settings_changed(user)  # saved by the tick: a burst is one write
        if self.set_commands.answer_now(now):
            self.tick(now)  # answer at once: new decision and control/state

    # --- the 1 Hz step -------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        return Snapshot(
            now,
            self.inputs.view(now),
            self.venus.site(now),
            self.prices(now),
            self.user,
            pv_forecast=self.learners.forecast(now, self.core_settings),
            battery_capacity_kwh=self.learners.capacity_kwh,
        )

    def prices(self, now: float) -> Prices:
        return self.tibber.prices(now) if self.tibber is not None else Prices(source="static")

    def tick(self, now: float) -> None:
        self._keepalive(now)
        self.persister.save_settings()
        self.persister.retry(now)
        if self.inputs.state is None and 0 <= now - self.started_at < STARTUP_GRACE_S:
            return  # the charger's retained state is on its way
        if self.tibber is not None:
            self.tibber.poll(now)
        snap = self.snapshot(now)
        try:
            decision, self.mem = self.decide(snap, self.mem, self.core_settings)
        except Exception:  # the core is pure: a bug there must not take the process down
            if not self._decide_failing:
                log.exception("the core failed; not commanding (the charger falls back to safe)")
            self._decide_failing = True
            self.publisher.announce()  # alive, though without a state to go with it
            return
        if self._decide_failing:
            log.info("the core decides again")
        self._decide_failing = False
        self.commands.send(decision, self.user.max_current_a, now)
        self.book.track(snap, now)
        self.publisher.publish(decision, snap, self.mem, self.core_settings, now)
        self.persister.save_memory(self.mem, now)
        self._learn_pv(snap, now)

    def _learn_pv(self, snap: Snapshot, now: float) -> None:
        """Feed the PV forecast and the battery's capacity; saved every 15 minutes."""
        self.learners.record(snap, now)
        self.persister.save_learners(self.learners.forecaster, self.learners.capacity, now)

    def _keepalive(self, now: float) -> None:
        due = self.venus.keepalive_due(now)
        if due is not None and self.link.publish(due[0], due[1]):
            self.venus.keepalive_sent(now)
