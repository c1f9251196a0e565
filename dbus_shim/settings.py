"""Claim the VRM device instance through ``com.victronenergy.settings`` (localsettings).

As velib and dbus-modbus-client do: add the string setting
``/Settings/Devices/<unique id>/ClassAndVrmInstance`` with default ``evcharger:40``; localsettings
keeps class:instance pairs unique and never overwrites an existing record; read the granted
value back with GetValue. The same setting is what the GUI's "VRM device instances" page edits,
so the shim watches it.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Callable, Optional

import dbus

log = logging.getLogger(__name__)

SETTINGS_SERVICE = "com.victronenergy.settings"
SETTINGS_IFACE = "com.victronenergy.Settings"
BUSITEM_IFACE = "com.victronenergy.BusItem"
DEVICE_CLASS = "evcharger"
DEFAULT_INSTANCE = 40  # Victron's EVCS preference
CALL_TIMEOUT_S = 5.0


def unique_id(serial: str, fallback: str) -> str:
    """``alfen_<serial>`` with only the characters a settings path allows."""
    clean = re.sub(r"[^A-Za-z0-9]", "_", serial).strip("_")
    return f"alfen_{clean or fallback}"


def setting_path(uid: str) -> str:
    return f"/Settings/Devices/{uid}/ClassAndVrmInstance"


def parse_instance(value: Any) -> Optional[int]:
    """``"evcharger:41"`` -> 41 (None if the text is not of that form)."""
    text = str(value) if value is not None else ""
    cls, _, inst = text.partition(":")
    return int(inst) if cls and inst.isdigit() else None


def settings_available(bus: Any) -> bool:
    try:
        return bool(bus.name_has_owner(SETTINGS_SERVICE))
    except dbus.DBusException:
        return False


def claim_instance(bus: Any, uid: str, preferred: int = DEFAULT_INSTANCE) -> Optional[int]:
    """The instance localsettings grants, or None when it is absent or refuses."""
    if not settings_available(bus):
        return None
    try:
        group = bus.get_object(SETTINGS_SERVICE, "/Settings", introspect=False)
        rc = group.AddSetting(
            f"Devices/{uid}",
            "ClassAndVrmInstance",
            f"{DEVICE_CLASS}:{preferred}",
            "s",
            0,
            0,
            dbus_interface=SETTINGS_IFACE,
            timeout=CALL_TIMEOUT_S,
        )
        if int(rc) != 0:
            log.error("localsettings refused %s (AddSetting returned %s)", setting_path(uid), rc)
            return None
        item = bus.get_object(SETTINGS_SERVICE, setting_path(uid), introspect=False)
        value = item.GetValue(dbus_interface=BUSITEM_IFACE, timeout=CALL_TIMEOUT_S)
    except dbus.DBusException as exc:
        log.error("cannot claim a device instance from localsettings: %s", exc)
        return None
    instance = parse_instance(value)
    if instance is None:
        log.error("localsettings gave %r for %s; expected evcharger:<n>", value, setting_path(uid))
    else:
        log.info("device instance %s granted by localsettings (%s)", instance, setting_path(uid))
    return instance


def watch_instance(bus: Any, uid: str, on_change: Callable[[int], None]) -> Any:
    """Call ``on_change(instance)`` when the GUI rewrites the setting; returns the match."""

    def handler(changes: Any) -> None:
        instance = parse_instance(changes.get("Value")) if hasattr(changes, "get") else None
        if instance is not None:
            on_change(instance)

    return bus.add_signal_receiver(
        handler,
        signal_name="PropertiesChanged",
        dbus_interface=BUSITEM_IFACE,
        bus_name=SETTINGS_SERVICE,
        path=setting_path(uid),
    )
