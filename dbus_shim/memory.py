"""An in-memory service with the vedbus shape, for tests of the shim's logic without D-Bus.

``simulate_write`` follows velib's SetValue rules (reference §3.6): 1 not writable, 0 unchanged
or accepted, 2 rejected by the callback. ``signals`` records what would go on the bus:
("PropertiesChanged", {path: value}) or ("ItemsChanged", {path: value, ...}).
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
