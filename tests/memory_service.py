"""A test double of velib's VeDbusService: the shim's paths in a dict, no D-Bus.

Only tests use it, to drive the shim's logic (dbus_shim/mirror.Shim) with plain calls; the
shim process exports its paths with dbus_shim/busitem.VeDbusService. ``simulate_write`` follows
velib's VeDbusItemExport.SetValue: 1 when the path is not writable, 0 when the value is
unchanged or the change callback accepts it, 2 when the callback rejects it. ``signals`` records
what would go on the bus: ("PropertiesChanged", {path: value}) or ("ItemsChanged", {path: value,
...}) for the changes made inside one ``with service:`` block.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Tuple


@dataclass
class _Item:
    value: Any
    writeable: bool
    onchange: Optional[Callable[[str, Any], bool]]
    gettext: Optional[Callable[[str, Any], str]]


class MemoryService:
    def __init__(self, name: str, bus: Any = None, register: bool = False) -> None:
        self.name = name
        self.items: Dict[str, _Item] = {}
        self.registered = False
        self.signals: List[Tuple[str, Dict[str, Any]]] = []
        self._batch: Optional[Dict[str, Any]] = None
        if register:
            self.register()

    def add_path(
        self,
        path: str,
        value: Any,
        description: str = "",
        writeable: bool = False,
        onchangecallback: Optional[Callable[[str, Any], bool]] = None,
        gettextcallback: Optional[Callable[[str, Any], str]] = None,
    ) -> None:
        self.items[path] = _Item(value, writeable, onchangecallback, gettextcallback)

    def register(self) -> None:
        self.registered = True

    def __contains__(self, path: str) -> bool:
        return path in self.items

    def __getitem__(self, path: str) -> Any:
        return self.items[path].value

    def __setitem__(self, path: str, value: Any) -> None:
        item = self.items[path]
        if item.value == value:
            return
        item.value = value
        if self._batch is not None:
            self._batch[path] = value
        else:
            self.signals.append(("PropertiesChanged", {path: value}))

    def __enter__(self) -> MemoryService:
        self._batch = {}
        return self

    def __exit__(self, *exc: Any) -> None:
        batch, self._batch = self._batch, None
        if batch:
            self.signals.append(("ItemsChanged", batch))

    def get_text(self, path: str) -> str:
        item = self.items[path]
        if item.value is None:
            return "---"
        if item.gettext is not None:
            return item.gettext(path, item.value)
        return f"0x{item.value:X}" if path == "/ProductId" else str(item.value)

    def simulate_write(self, path: str, value: Any) -> int:
        item = self.items[path]
        if not item.writeable:
            return 1
        if value == item.value:
            return 0
        if item.onchange is None or item.onchange(path, value):
            self[path] = value
            return 0
        return 2
