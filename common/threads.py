"""A process whose worker thread died must not live on as a zombie that looks alive.

Each process does its work in one or two threads (paho's network thread, the UI's feeder, the
bridge's and the controller's loops). If one of them ends with an uncaught exception, the rest
would keep the process up: the UI would go on showing its last state as "online". So the
process says which thread died and why, and exits with EXIT_THREAD_DIED, for its supervisor
(daemontools on a GX, the demo's supervisor, Docker) to start it afresh.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from typing import Any

# EX_SOFTWARE of sysexits.h: an internal error.
EXIT_THREAD_DIED = 70

log = logging.getLogger(__name__)


def _exit_on_thread_death(args: Any) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    log.critical(
        "thread %s died (%s: %s); exiting so that the supervisor restarts the process",
        name,
        args.exc_type.__name__,
        str(args.exc_value)[:200],
        exc_info=(args.exc_type, args.exc_value, args.exc_traceback),
    )
    for handler in logging.getLogger().handlers:
        try:
            handler.flush()
        except Exception:  # a broken log handler must not keep the process alive
            pass
    sys.stderr.flush()
    os._exit(EXIT_THREAD_DIED)


def exit_when_a_thread_dies() -> None:
    """Install the hook for every thread of this process (Python 3.8+)."""
    threading.excepthook = _exit_on_thread_death
