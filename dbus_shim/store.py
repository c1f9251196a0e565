"""What the shim remembers across restarts: the GX-side settings and the energy counter's floor.

One JSON file in ``state_dir``, written atomically. The lifetime energy on D-Bus must never go
down (VRM rejects a falling counter), also across a charger reset or replacement: an offset
carries the published total over a drop of the charger's own counter.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Optional, Tuple

from common.atomic import read_json_or_quarantine, write_json_atomic

log = logging.getLogger(__name__)
ENERGY_EPSILON_KWH = 0.001  # float noise in the register is not a reset


@dataclass
class ShimMemory:
    custom_name: Optional[str] = None  # None: the config's dbus.custom_name
    position: Optional[int] = None  # None: the config's dbus.position
    serial: str = ""  # the charger's serial, known before the bridge is up
    energy_offset_kwh: float = 0.0
    energy_last_kwh: Optional[float] = None


def monotonic_energy(
    raw_kwh: float, offset_kwh: float, last_kwh: Optional[float]
) -> Tuple[float, float]:
    """(published total, new offset): a drop of the raw counter raises the offset instead."""
    total = raw_kwh + offset_kwh
    if last_kwh is not None and total < last_kwh - ENERGY_EPSILON_KWH:
        offset_kwh = last_kwh - raw_kwh
        total = last_kwh
    return max(total, last_kwh or total), offset_kwh


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> ShimMemory:
        raw = read_json_or_quarantine(self.path)
        if not isinstance(raw, dict):
            return ShimMemory()
        known = {f.name for f in fields(ShimMemory)}
        mem = ShimMemory(**{k: v for k, v in raw.items() if k in known})
        if mem.position not in (None, 0, 1):
            mem.position = None
        if not isinstance(mem.energy_offset_kwh, (int, float)):
            mem.energy_offset_kwh = 0.0
        if not isinstance(mem.energy_last_kwh, (int, float, type(None))):
            mem.energy_last_kwh = None
        return mem

    def save(self, mem: ShimMemory) -> None:
        try:
            write_json_atomic(self.path, asdict(mem))
        except OSError as exc:
            log.error("cannot save %s: %s", self.path, exc)
