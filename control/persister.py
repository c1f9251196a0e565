"""The persister: every write of controller state to its disk, each on its own ``Every``.

Settings are written once per tick at most (a burst of set commands is one write to flash);
the memory every 10 s while it changes (timers survive a quick restart, so a resumed session
keeps charging); the open session every 60 s and when it opens or ends (its energy is derived
from the meter register, so a late save loses nothing); the PV history and the learned battery
capacity every 15 minutes. While the disk refuses writes (``StorageHealth``), the failed ones
and the ended sessions waiting for the history are retried every 10 s.
"""

from __future__ import annotations

import logging
from typing import Optional

from control.battery_capacity import CapacityLearner
from control.every import Every
from control.forecast import PvForecaster
from control.model import Memory, UserSettings
from control.session import Session
from control.storage import StorageHealth
from control.store import Store

log = logging.getLogger(__name__)

MEMORY_SAVE_S = 10.0
SESSION_SAVE_S = 60.0
PV_SAVE_S = 900.0
HISTORY_RETRY_S = 10.0


class Persister:
    """Writes through ``storage`` so that a full disk is a state, not an exception."""

    def __init__(self, store: Store, storage: StorageHealth, now: float) -> None:
        self.store = store
        self.storage = storage
        self._settings: Optional[UserSettings] = None  # changed, not written yet
        self._memory_saved: Optional[Memory] = None
        self.memory_save = Every(MEMORY_SAVE_S)
        self.session_save = Every(SESSION_SAVE_S)
        self.pv_save = Every(PV_SAVE_S, last=now)  # nothing learned yet at start
        self.retry_due = Every(HISTORY_RETRY_S)

    def settings_changed(self, user: UserSettings) -> None:
        self._settings = user

    def save_settings(self) -> None:
        """The newest changed settings, if any (a refused write is retried)."""
        user, self._settings = self._settings, None
        if user is not None:
            self.storage.attempt("settings", lambda: self.store.save_settings(user))

    def save_memory(self, mem: Memory, now: float, force: bool = False) -> None:
        """The core's memory, when it changed and the last save is ``MEMORY_SAVE_S`` old."""
        if not force and (mem == self._memory_saved or not self.memory_save.due(now)):
            return
        try:
            self.storage.attempt("memory", lambda: self.store.save_memory(mem, now))
        except (TypeError, ValueError) as exc:  # a memory that is no JSON: a bug, not the disk
            log.error("cannot save the controller memory: %s", exc)
        self._memory_saved = mem
        self.memory_save.done(now)

    def save_session(self, session: Optional[Session], now: float, force: bool = False) -> None:
        """The open session (None: none open), when forced or every ``SESSION_SAVE_S``."""
        if force or self.session_save.due(now):
            self.storage.attempt("session", lambda: self.store.save_session(session))
            self.session_save.done(now)

    def save_idle_meter(self, energy_wh: float) -> None:
        self.storage.attempt("meter", lambda: self.store.save_idle_meter(energy_wh))

    def add_history(self, ended: Session, now: float) -> None:
        """An ended session for the history; if the disk refuses it, retried from now on."""
        self.retry_due.done(now)
        self.storage.add_session(ended, self.store.add_history)

    def save_learners(
        self, forecaster: PvForecaster, capacity: CapacityLearner, now: float
    ) -> None:
        if self.pv_save.take(now):
            self.storage.attempt(
                "forecast", lambda: self.store.save_pv_history(forecaster.to_json())
            )
            self.storage.attempt("battery", lambda: self.store.save_battery(capacity.to_json()))

    def retry(self, now: float) -> None:
        """While the disk refuses writes, try them again every ``HISTORY_RETRY_S``."""
        if not self.storage.ok and self.retry_due.take(now):
            self.storage.retry(self.store.add_history)
