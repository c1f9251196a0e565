"""Whether the controller's state disk takes writes, and the ended sessions waiting for it.

A full (or read-only) disk is a state the user must see, not a log line per second: the first
failed write enters it (one ERROR), the first write that succeeds once nothing is left waiting
leaves it (one INFO), and ``control/state`` carries it in between. An ended session that the
history could not take stays in memory (``pending``) and is written when space returns; it is
lost only if the controller restarts while the disk is still full.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
from typing import Any, Callable, Dict, List, Optional

from control.session import Session

log = logging.getLogger(__name__)

# Unsaved sessions kept in memory: a year of daily sessions, a few hundred bytes each.
MAX_PENDING = 400


def _is_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(exc, sqlite3.Error) and "full" in str(exc).lower()


class StorageHealth:
    """The state of the disk as the controller's writes find it."""

    def __init__(self) -> None:
        self.failing: Dict[str, str] = {}  # what could not be saved -> why
        self._writes: Dict[str, Callable[[], None]] = {}  # what -> its latest write, to retry
        self.full = False
        self.pending: List[Session] = []  # ended sessions the history has not taken yet
        self._announced = False  # the ERROR on entering was logged; the INFO on leaving is due

    @property
    def ok(self) -> bool:
        return not self.failing and not self.pending

    def attempt(self, what: str, write: Callable[[], None]) -> bool:
        """Run one write; record its outcome; True if it went through."""
        try:
            write()
        except (OSError, sqlite3.Error) as exc:
            self._writes[what] = write
            self._failed(what, exc)
            return False
        self._writes.pop(what, None)
        self._succeeded(what)
        return True

    def retry(self, write_session: Callable[[Session], None]) -> None:
        """Try every failed write again (the latest of each kind), then the waiting sessions:
        some state (the meter, the settings) is written only when it changes."""
        for what, write in list(self._writes.items()):
            self.attempt(what, write)
        self.flush(write_session)

    def add_session(self, session: Session, write: Callable[[Session], None]) -> None:
        """Queue an ended session for the history and write whatever is waiting."""
        self.pending.append(session)
        if len(self.pending) > MAX_PENDING:
            dropped = self.pending.pop(0)
            log.error("storage still failing: the session of %.0f is dropped", dropped.start)
        self.flush(write)

    def flush(self, write: Callable[[Session], None]) -> None:
        """Write the waiting sessions, oldest first, until one fails."""
        while self.pending:
            if not self.attempt("history", lambda: write(self.pending[0])):
                return
            self.pending.pop(0)
            self._check_recovered()

    def _failed(self, what: str, exc: BaseException) -> None:
        self.failing[what] = str(exc)[:200]
        self.full = self.full or _is_full(exc)
        if self._announced:
            log.debug("still cannot save %s: %s", what, exc)
            return
        self._announced = True
        log.error(
            "%s: %s could not be saved (%s); kept in memory until it can be",
            "storage full" if self.full else "storage not writable",
            what,
            self.failing[what],
        )

    def _succeeded(self, what: str) -> None:
        self.failing.pop(what, None)
        self._check_recovered()

    def _check_recovered(self) -> None:
        if self._announced and self.ok:
            self._announced = False
            self.full = False
            log.info("storage writable again: everything pending is saved")

    def text(self) -> Optional[str]:
        """The user's words for the state, or None when every write goes through."""
        if self.ok:
            return None
        head = "storage full" if self.full else "storage not writable"
        return f"{head}: history not saved" if self.pending else f"{head}: state not saved"

    def summary(self) -> Optional[Dict[str, Any]]:
        """``control/state.storage``: None while every write goes through."""
        if self.ok:
            return None
        return {
            "ok": False,
            "full": self.full,
            "text": self.text(),
            "unsaved_sessions": len(self.pending),
            "failing": sorted(self.failing),
        }
