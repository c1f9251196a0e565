"""Pick the BusItem implementation: Victron's velib ``vedbus`` where importable, else ours.

Both are used the same way (``VeDbusService(name, bus=..., register=False)``, ``add_path``,
``register``, item access, ``with service as s``), so the shim does not know which one it has.
"""

from __future__ import annotations

import inspect
import logging
import os
import sys
from typing import Any, Optional, Tuple

log = logging.getLogger(__name__)

VELIB_DIRS = (
    "/opt/victronenergy/velib_python",
    "/opt/victronenergy/dbus-systemcalc-py/ext/velib_python",
)


def velib_service_class(extra_dir: str = "") -> Optional[Any]:
    """velib's VeDbusService if importable and new enough (has ``register=``), else None."""
    dirs = [d for d in (extra_dir, os.environ.get("VELIB_PYTHON", ""), *VELIB_DIRS) if d]
    for d in dirs:
        if os.path.isfile(os.path.join(d, "vedbus.py")) and d not in sys.path:
            sys.path.append(d)
    try:
        from vedbus import VeDbusService  # type: ignore[import-not-found]
    except ImportError:
        return None
    if "register" not in inspect.signature(VeDbusService.__init__).parameters:
        log.warning("velib_python's vedbus is too old (no register=); using our own BusItem")
        return None
    return VeDbusService


def make_service(
    name: str, bus: Any, backend: str = "auto", velib_dir: str = ""
) -> Tuple[Any, str]:
    """An unregistered service and the backend's name ("velib" or "own")."""
    cls = velib_service_class(velib_dir) if backend in ("auto", "velib") else None
    if cls is None and backend == "velib":
        raise RuntimeError("velib_python's vedbus is not importable")
    if cls is not None:
        return cls(name, bus=bus, register=False), "velib"
    from dbus_shim.busitem import VeDbusService

    return VeDbusService(name, bus=bus, register=False), "own"


def close_service(service: Any, bus: Any) -> None:
    """Release the bus name (velib has no close; the process exit would do it too)."""
    close = getattr(service, "close", None)
    if callable(close):
        close()
        return
    try:
        bus.release_name(service.name)
    except Exception as exc:  # the bus may already be gone at shutdown
        log.debug("release_name failed: %s", exc)
