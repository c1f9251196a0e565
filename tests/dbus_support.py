"""D-Bus test parts: a private dbus-daemon, a Venus-like client, a fake localsettings.

They live in ``sim.venus_dbus`` (the D-Bus bench uses them too, and must not import from
``tests/``); re-exported here so that tests keep importing them from ``tests.dbus_support``.
"""

from __future__ import annotations

from sim.venus_dbus import (
    BUSITEM,
    Client,
    DbusDaemon,
    dbus_missing,
    glib_setup,
    is_invalid,
    pump,
    serve_settings,
    start_settings,
)

__all__ = [
    "BUSITEM",
    "Client",
    "DbusDaemon",
    "dbus_missing",
    "glib_setup",
    "is_invalid",
    "pump",
    "serve_settings",
    "start_settings",
]
