"""The one definition of the project's MQTT topics (``{prefix}/{id}/…``) and the Venus topics we
use (``N/<portal id>/system/0/…`` and the ESS settings).

State topics are retained; commands never are. Every process builds topic names through
``Topics`` so that a prefix or id change reaches all of them at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Final

# Command topic suffix -> schema file name (schemas/<name>.schema.json).
COMMAND_SCHEMAS: Final[Dict[str, str]] = {
    "cmd/current": "cmd_current",
    "cmd/phases": "cmd_phases",
    "control/set/mode": "set_mode",
    "control/set/startstop": "set_startstop",
    "control/set/current": "set_current",
    "control/set/max_current": "set_max_current",
    "control/set/autostart": "set_autostart",
    "control/set/deadline": "set_deadline",
}
# The user's commands to the controller: ``{base}/control/set/<what>``.
SET_PREFIX: Final = "control/set/"
# Retained state topic suffix -> schema name.
STATE_SCHEMAS: Final[Dict[str, str]] = {
    "state": "state",
    "info": "info",
    "control/state": "control_state",
    "control/site": "control_site",
    "control/prices": "control_prices",
}


@dataclass(frozen=True)
class Topics:
    """Topic names under ``{prefix}/{charger_id}`` (``common.config.topics_for`` reads both from
    the config)."""

    prefix: str
    charger_id: str

    @property
    def base(self) -> str:
        return f"{self.prefix}/{self.charger_id}"

    def sub(self, suffix: str) -> str:
        return f"{self.base}/{suffix}"

    @property
    def availability(self) -> str:
        return self.sub("availability")

    @property
    def info(self) -> str:
        return self.sub("info")

    @property
    def state(self) -> str:
        return self.sub("state")

    @property
    def cmd_current(self) -> str:
        return self.sub("cmd/current")

    @property
    def cmd_phases(self) -> str:
        return self.sub("cmd/phases")

    @property
    def control_state(self) -> str:
        return self.sub("control/state")

    @property
    def control_site(self) -> str:
        """The site's power flows as the controller sees them (for the page's power view)."""
        return self.sub("control/site")

    @property
    def control_prices(self) -> str:
        """The price slots the controller plans SCHEDULED with (retained, on change)."""
        return self.sub("control/prices")

    @property
    def control_availability(self) -> str:
        """The controller's own LWT (online/offline), so UI and shim can tell who is gone."""
        return self.sub("control/availability")

    def control_set(self, what: str) -> str:
        """``what`` is one of mode, startstop, current, max_current, autostart, deadline."""
        return self.sub(f"control/set/{what}")

    @property
    def config_changed(self) -> str:
        """Retained notice from the UI after it saved the config file: processes reload it."""
        return self.sub("config/changed")

    @property
    def error(self) -> str:
        return self.sub("error")

    def is_set(self, topic: str) -> bool:
        """A user command to the controller (``control/set/<what>``)."""
        return self.suffix_of(topic).startswith(SET_PREFIX)

    def suffix_of(self, topic: str) -> str:
        """The part after ``{base}/`` (empty string if the topic is not ours)."""
        head = self.base + "/"
        return topic[len(head) :] if topic.startswith(head) else ""


# ---- Venus OS (dbus-flashmq) conventions -------------------------------------------------
VENUS_SERIAL_WILDCARD: Final = "N/+/system/0/Serial"
VENUS_KEEPALIVE_S: Final = 30  # dbus-flashmq stops publishing ~60 s after the last keepalive


def venus_keepalive(portal: str) -> str:
    return f"R/{portal}/keepalive"


def venus_system(portal: str, path: str) -> str:
    """``N/<portal>/system/0/<path>`` (path without a leading slash)."""
    return f"N/{portal}/system/0/{path.lstrip('/')}"


def venus_settings(portal: str, path: str) -> str:
    return f"N/{portal}/settings/0/{path.lstrip('/')}"


ESS_MIN_SOC_PATH: Final = "Settings/CGwacs/BatteryLife/MinimumSocLimit"

# Paths of com.victronenergy.system the controller reads: grid, PV, consumption, battery.
VENUS_SYSTEM_PATHS: Final = (
    "Ac/Grid/L1/Power",
    "Ac/Grid/L2/Power",
    "Ac/Grid/L3/Power",
    "Dc/Pv/Power",
    "Ac/PvOnGrid/L1/Power",
    "Ac/PvOnGrid/L2/Power",
    "Ac/PvOnGrid/L3/Power",
    "Ac/PvOnOutput/L1/Power",
    "Ac/PvOnOutput/L2/Power",
    "Ac/PvOnOutput/L3/Power",
    "Ac/Consumption/L1/Power",
    "Ac/Consumption/L2/Power",
    "Ac/Consumption/L3/Power",
    "Dc/Battery/Soc",
    "Dc/Battery/Power",
)
