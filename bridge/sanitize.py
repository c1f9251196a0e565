"""Turn implausible register values into "unknown" so nothing downstream acts on them.

A charger in trouble can answer NaN (already None from the codec) or nonsense: 10 kV, negative
energy, a lifetime counter that jumps back. Such values are logged once and published as null.
"""

from __future__ import annotations

import logging
from typing import Dict, Optional, Tuple

from bridge import codec

log = logging.getLogger(__name__)

# register name prefix -> (lowest, highest) plausible value
RANGES: Dict[str, Tuple[float, float]] = {
    "voltage_": (0.0, 300.0),
    "current_": (-1.0, 100.0),
    "power_": (-2000.0, 80000.0),
    "energy_": (0.0, 1e10),
    "frequency": (40.0, 70.0),
    "temperature": (-50.0, 150.0),
    "station_max_current": (0.0, 100.0),
    "applied_max_current": (0.0, 100.0),
    "setpoint": (0.0, 100.0),
    "safe_current": (0.0, 100.0),
}


class Sanitizer:
    def __init__(self) -> None:
        self.last_energy_wh: Optional[float] = None
        self.complained: set = set()

    def clean(self, values: Dict[str, codec.Value]) -> Dict[str, codec.Value]:
        out = self.clean_partial(values)
        energy = out.get("energy_sum")
        if isinstance(energy, float):
            if self.last_energy_wh is not None and energy < self.last_energy_wh - 1.0:
                self._once(
                    "energy_back",
                    "lifetime energy went back from %.1f to %.1f Wh: ignored",
                    self.last_energy_wh,
                    energy,
                )
                out["energy_sum"] = None
            else:
                self.last_energy_wh = energy
        return out

    def clean_partial(self, values: Dict[str, codec.Value]) -> Dict[str, codec.Value]:
        out = dict(values)
        for name, value in values.items():
            if not isinstance(value, float):
                continue
            for prefix, (lo, hi) in RANGES.items():
                if name.startswith(prefix):
                    if not lo <= value <= hi:
                        self._once(
                            name,
                            "implausible %s = %r (expected %g..%g): treated as unknown",
                            name,
                            value,
                            lo,
                            hi,
                        )
                        out[name] = None
                    else:
                        self.complained.discard(name)
                    break
        return out

    def _once(self, key: str, msg: str, *args: object) -> None:
        if key not in self.complained:
            self.complained.add(key)
            log.warning(msg, *args)
