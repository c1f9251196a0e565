"""User settings from config defaults and from ``{base}/control/set/*`` commands (pure).

The payload has already passed its JSON Schema (common.schemas); here come the checks a schema
cannot express, which name the limit that was broken: a set current above the max current, a max
current above ``controls.max_set_current``. Lowering the max current below the set current
lowers the set current with it, as the GX does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Dict

from common.config_fields import config_value
from control.model import Mode, UserSettings

MODE_NAMES = {"manual": Mode.MANUAL, "auto": Mode.AUTO, "scheduled": Mode.SCHEDULED}
SETTING_NAMES = ("mode", "startstop", "current", "max_current", "autostart", "deadline")


def defaults_from_config(cfg: Dict[str, Any]) -> UserSettings:
    """The settings a fresh controller starts with; a key the config lacks takes the schema's
    default."""
    ceiling = float(config_value(cfg, "controls.max_set_current"))
    max_a = min(float(config_value(cfg, "defaults.station_max_current")), ceiling)
    set_a = min(float(config_value(cfg, "defaults.intended_set_current")), max_a)
    energy = float(config_value(cfg, "scheduled.deadline_energy_kwh") or 0)
    by = str(config_value(cfg, "scheduled.deadline_time"))
    deadline = (energy, by) if energy > 0 else None
    return UserSettings(
        mode=Mode.MANUAL,
        enabled=True,
        auto_start=True,
        set_current_a=set_a,
        max_current_a=max_a,
        deadline=deadline,
    )


def apply_setting(user: UserSettings, what: str, value: Any, ceiling_a: float) -> UserSettings:
    """The settings after one validated command; ValueError (with the reason) to reject it."""
    if what == "mode":
        raw = value["mode"]
        mode = MODE_NAMES[raw.lower()] if isinstance(raw, str) else Mode(int(raw))
        return replace(user, mode=mode)
    if what == "startstop":
        return replace(user, enabled=bool(value["enabled"]))
    if what == "autostart":
        return replace(user, auto_start=bool(value["enabled"]))
    if what == "current":
        amps = float(value["amps"])
        if amps > user.max_current_a:
            raise ValueError(
                f"amps: {amps:g} is above the max current ({user.max_current_a:g} A); "
                "raise control/set/max_current first"
            )
        return replace(user, set_current_a=amps)
    if what == "max_current":
        amps = float(value["amps"])
        if amps > ceiling_a:
            raise ValueError(f"amps: {amps:g} is above controls.max_set_current ({ceiling_a:g} A)")
        return replace(user, max_current_a=amps, set_current_a=min(user.set_current_a, amps))
    if what == "deadline":
        if value is None:
            return replace(user, deadline=None)
        return replace(user, deadline=(float(value["energy_kwh"]), str(value["by"])))
    raise ValueError(f"unknown setting {what!r}; expected one of {', '.join(SETTING_NAMES)}")
