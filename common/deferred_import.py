"""Defer a standard-library module that a dependency imports but our processes never use.

paho-mqtt imports ``urllib.request`` at the top of its client module, which pulls in
``http.client`` and ``email`` (3.3 MB of each process's RSS), yet touches it only to look up
SOCKS proxies when PySocks is installed. ``defer`` puts a stand-in in ``sys.modules`` that loads
the real module on the first attribute anyone reads, so a process that never uses it never pays,
and one that does (the Tibber client, Flask) gets the real module, unchanged.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import Any


def defer(name: str) -> None:
    """Make ``import name`` cheap until an attribute of the module is first read."""
    if name in sys.modules:
        return
    parent_name, _, child = name.rpartition(".")
    stand_in = types.ModuleType(name, f"{name}, loaded on first use")

    def load(attr: str) -> Any:
        if sys.modules.get(name) is stand_in:
            del sys.modules[name]
        real = importlib.import_module(name)  # binds the real module on the parent again
        stand_in.__dict__.update(
            {k: v for k, v in vars(real).items() if k not in ("__getattr__", "__name__")}
        )
        return getattr(real, attr)

    stand_in.__getattr__ = load  # type: ignore[method-assign]
    sys.modules[name] = stand_in
    if parent_name:
        setattr(importlib.import_module(parent_name), child, stand_in)
