"""The GLib main loop the shim needs, through ctypes instead of PyGObject.

Why: dbus-python dispatches on GLib's default main context, so something must run it, but
``gi.repository.GLib`` costs 4.2 MB of the shim's 25 MB budget for the five calls used here
(main loop, idle, timeout, Unix signal). libglib is already loaded by dbus-python's GLib
integration; calling it directly costs ctypes (about 1.5 MB).

Callbacks follow GLib's contract: return True to run again, False to be removed. One C
trampoline serves every source; it looks the Python callable up by key, so no ctypes callback
object can be collected while GLib still holds it. ``idle_add`` may be called from any thread
(GLib wakes the loop); everything else belongs to the loop's thread.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import threading
from typing import Callable, Dict

log = logging.getLogger(__name__)

LIBGLIB = "libglib-2.0.so.0"
PRIORITY_HIGH = -100
PRIORITY_DEFAULT = 0

Callback = Callable[[], bool]
_SOURCE_FUNC = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)


class GLibLoop:
    """A GLib main loop on the default context (where DBusGMainLoop attaches the bus)."""

    def __init__(self, library: str = LIBGLIB) -> None:
        lib = ctypes.CDLL(library)
        lib.g_main_loop_new.restype = ctypes.c_void_p
        lib.g_main_loop_new.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.g_main_loop_run.argtypes = [ctypes.c_void_p]
        lib.g_main_loop_quit.argtypes = [ctypes.c_void_p]
        lib.g_main_loop_unref.argtypes = [ctypes.c_void_p]
        lib.g_idle_add.restype = ctypes.c_uint
        lib.g_idle_add.argtypes = [_SOURCE_FUNC, ctypes.c_void_p]
        lib.g_timeout_add.restype = ctypes.c_uint
        lib.g_timeout_add.argtypes = [ctypes.c_uint, _SOURCE_FUNC, ctypes.c_void_p]
        lib.g_unix_signal_add_full.restype = ctypes.c_uint
        lib.g_unix_signal_add_full.argtypes = [
            ctypes.c_int,
            ctypes.c_int,
            _SOURCE_FUNC,
            ctypes.c_void_p,
            ctypes.c_void_p,
        ]
        self._lib = lib
        self._loop = lib.g_main_loop_new(None, 0)
        self._callbacks: Dict[int, Callback] = {}
        self._keys = itertools.count(1)
        self._lock = threading.Lock()
        self._trampoline = _SOURCE_FUNC(self._dispatch)  # lives as long as the loop

    def _register(self, callback: Callback) -> int:
        with self._lock:
            key = next(self._keys)
            self._callbacks[key] = callback
        return key

    def _dispatch(self, key: int) -> int:
        with self._lock:
            callback = self._callbacks.get(key)
        again = False
        if callback is not None:
            try:
                again = bool(callback())
            except Exception:  # a raising callback is removed, as PyGObject does
                log.exception("main loop callback failed")
        if not again:
            with self._lock:
                self._callbacks.pop(key, None)
        return 1 if again else 0

    def idle_add(self, callback: Callback) -> None:
        """Run ``callback`` on the loop soon; safe from any thread."""
        self._lib.g_idle_add(self._trampoline, self._register(callback))

    def timeout_add(self, interval_ms: int, callback: Callback) -> None:
        self._lib.g_timeout_add(interval_ms, self._trampoline, self._register(callback))

    def unix_signal_add(self, signum: int, callback: Callback) -> None:
        """Handle ``signum`` inside the loop (GLib installs the handler, replacing Python's)."""
        self._lib.g_unix_signal_add_full(
            PRIORITY_HIGH, signum, self._trampoline, self._register(callback), None
        )

    def run(self) -> None:
        self._lib.g_main_loop_run(self._loop)

    def quit(self) -> None:
        self._lib.g_main_loop_quit(self._loop)

    def pending(self) -> int:
        """How many callbacks GLib still holds (for tests and leak checks)."""
        with self._lock:
            return len(self._callbacks)
