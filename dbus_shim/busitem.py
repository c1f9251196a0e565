"""Our ``com.victronenergy.BusItem`` service on plain dbus-python, shaped like velib's ``vedbus``.

Used when velib_python is not importable (tests, other Linux). Behaviour follows velib's
vedbus.py: a leaf object per path with GetValue/GetText/SetValue and a
PropertiesChanged signal; a tree object per path prefix whose GetValue/GetText return the subtree;
the root adds GetItems and ItemsChanged. Values are plain Python (None = invalid) and are wrapped
on the way out. ``with service as s: s[path] = v`` batches changes into one ItemsChanged.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Dict, List, Optional

import dbus
import dbus.service

log = logging.getLogger(__name__)

IFACE = "com.victronenergy.BusItem"
# The Victron-wide invalid marker: an empty int32 array inside the variant.
VEDBUS_INVALID = dbus.Array([], signature=dbus.Signature("i"), variant_level=1)

ChangeCallback = Callable[[str, Any], bool]
TextCallback = Callable[[str, Any], str]
_INT_TYPES = (
    dbus.Int16,
    dbus.UInt16,
    dbus.Int32,
    dbus.UInt32,
    dbus.Int64,
    dbus.UInt64,
    dbus.Byte,
)


def wrap_dbus_value(value: Any) -> Any:
    """Python value -> D-Bus variant, as velib's ``ve_utils.wrap_dbus_value``."""
    if value is None:
        return VEDBUS_INVALID
    if isinstance(value, float):
        return dbus.Double(value, variant_level=1)
    if isinstance(value, bool):
        return dbus.Boolean(value, variant_level=1)
    if isinstance(value, int):
        try:
            return dbus.Int32(value, variant_level=1)
        except OverflowError:
            return dbus.Int64(value, variant_level=1)
    if isinstance(value, str):
        return dbus.String(value, variant_level=1)
    if isinstance(value, list):
        if not value:  # an empty *int* array would read as invalid
            return dbus.Array([], signature=dbus.Signature("u"), variant_level=1)
        return dbus.Array([wrap_dbus_value(x) for x in value], variant_level=1)
    if isinstance(value, dict):
        return dbus.Dictionary(
            {k: wrap_dbus_value(v) for k, v in value.items()},
            signature=dbus.Signature("sv"),
            variant_level=1,
        )
    return value


def unwrap_dbus_value(val: Any) -> Any:
    """D-Bus value -> Python (an empty array is invalid: None), as velib's ``unwrap_dbus_value``."""
    if isinstance(val, dbus.Boolean):
        return bool(val)
    if isinstance(val, _INT_TYPES):
        return int(val)
    if isinstance(val, dbus.Double):
        return float(val)
    if isinstance(val, dbus.Array):
        items = [unwrap_dbus_value(x) for x in val]
        return items if items else None
    if isinstance(val, (dbus.Signature, dbus.String)):
        return str(val)
    if isinstance(val, (list, tuple)):
        return [unwrap_dbus_value(x) for x in val]
    if isinstance(val, dict):
        return {k: unwrap_dbus_value(v) for k, v in val.items()}
    return val


class VeDbusService:
    """Add every path, then ``register()`` (claims the name, do-not-queue)."""

    def __init__(self, servicename: str, bus: Any, register: bool = False) -> None:
        self.name = servicename
        self._dbusconn = bus
        self._dbusname: Optional[dbus.service.BusName] = None
        self._dbusobjects: Dict[str, _ItemExport] = {}
        self._dbusnodes: Dict[str, _TreeExport] = {}
        self._contexts: List[ServiceContext] = []
        self._dbusnodes["/"] = _RootExport(bus, "/", self)
        if register:
            self.register()

    def register(self) -> None:
        self._dbusname = dbus.service.BusName(self.name, self._dbusconn, do_not_queue=True)
        log.info("registered %s on D-Bus", self.name)

    def add_path(
        self,
        path: str,
        value: Any,
        description: str = "",
        writeable: bool = False,
        onchangecallback: Optional[ChangeCallback] = None,
        gettextcallback: Optional[TextCallback] = None,
    ) -> None:
        if path in self._dbusobjects:
            raise ValueError(f"{path} is already on the bus")
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts)):
            node = "/" + "/".join(parts[:depth])
            if node not in self._dbusnodes and node not in self._dbusobjects:
                self._dbusnodes[node] = _TreeExport(self._dbusconn, node, self)
        item = _ItemExport(
            self._dbusconn, path, value, description, writeable, onchangecallback, gettextcallback
        )
        self._dbusobjects[path] = item
        if self._dbusname is not None:  # a late path announces itself, as velib does
            self._root.ItemsChanged({path: item.changes()})

    @property
    def _root(self) -> _RootExport:
        return self._dbusnodes["/"]  # type: ignore[return-value]

    def __contains__(self, path: str) -> bool:
        return path in self._dbusobjects

    def __getitem__(self, path: str) -> Any:
        return self._dbusobjects[path].local_get_value()

    def __setitem__(self, path: str, value: Any) -> None:
        self._dbusobjects[path].local_set_value(value)

    def __enter__(self) -> ServiceContext:
        ctx = ServiceContext(self)
        self._contexts.append(ctx)
        return ctx

    def __exit__(self, *exc: Any) -> None:
        self._contexts.pop().flush()

    def close(self) -> None:
        """Release the name and unexport every object (a clean exit)."""
        for obj in self._dbusobjects.values():
            obj.remove_from_connection()
        for node in self._dbusnodes.values():
            node.remove_from_connection()
        if self._dbusname is not None:
            self._dbusconn.release_name(self.name)
            self._dbusname = None


class ServiceContext:
    """Collects changes; ``flush`` sends them as one ItemsChanged (no PropertiesChanged)."""

    def __init__(self, parent: VeDbusService) -> None:
        self.parent = parent
        self.changes: Dict[str, Dict[str, Any]] = {}

    def __contains__(self, path: str) -> bool:
        return path in self.parent

    def __getitem__(self, path: str) -> Any:
        return self.parent[path]

    def __setitem__(self, path: str, value: Any) -> None:
        change = self.parent._dbusobjects[path]._local_set_value(value)
        if change is not None:
            self.changes[path] = change

    def flush(self) -> None:
        if self.changes:
            self.parent._root.ItemsChanged(self.changes)
            self.changes = {}


class _ItemExport(dbus.service.Object):
    def __init__(
        self,
        bus: Any,
        path: str,
        value: Any,
        description: str,
        writeable: bool,
        onchange: Optional[ChangeCallback],
        gettext: Optional[TextCallback],
    ) -> None:
        super().__init__(bus, path)
        self._path = path
        self._value = value
        self._description = description
        self._writeable = writeable
        self._onchange = onchange
        self._gettext = gettext

    def local_get_value(self) -> Any:
        return self._value

    def local_set_value(self, value: Any) -> None:
        change = self._local_set_value(value)
        if change is not None:
            self.PropertiesChanged(change)

    def _local_set_value(self, value: Any) -> Optional[Dict[str, Any]]:
        if self._value == value:  # velib compares with ==, so 12 -> 12.0 is no change
            return None
        self._value = value
        return self.changes()

    def changes(self) -> Dict[str, Any]:
        return {"Value": wrap_dbus_value(self._value), "Text": self.GetText()}

    @dbus.service.method(IFACE, in_signature="v", out_signature="i")
    def SetValue(self, newvalue: Any) -> int:
        if not self._writeable:
            return 1
        value = unwrap_dbus_value(newvalue)
        if value == self._value:
            return 0
        if self._onchange is None or self._onchange(self._path, value):
            self.local_set_value(value)
            return 0
        return 2

    @dbus.service.method(IFACE, in_signature="si", out_signature="s")
    def GetDescription(self, language: str, length: int) -> str:
        return self._description or "No description given"

    @dbus.service.method(IFACE, out_signature="v")
    def GetValue(self) -> Any:
        return wrap_dbus_value(self._value)

    @dbus.service.method(IFACE, out_signature="s")
    def GetText(self) -> str:
        value = self._value
        if value is None:
            return "---"
        if self._gettext is not None:
            return str(self._gettext(self._path, value))
        if self._path == "/ProductId" and isinstance(value, int):
            return f"0x{value:X}"
        return str(value)

    @dbus.service.signal(IFACE, signature="a{sv}")
    def PropertiesChanged(self, changes: Dict[str, Any]) -> None:
        pass


class _TreeExport(dbus.service.Object):
    def __init__(self, bus: Any, path: str, service: VeDbusService) -> None:
        super().__init__(bus, path)
        self._path = path
        self._service = service

    def _subtree(self, text: bool) -> Dict[str, Any]:
        prefix = self._path if self._path.endswith("/") else self._path + "/"
        out: Dict[str, Any] = {}
        for path, item in self._service._dbusobjects.items():
            if path.startswith(prefix):
                out[path[len(prefix) :]] = item.GetText() if text else item.GetValue()
        return out

    @dbus.service.method(IFACE, out_signature="v")
    def GetValue(self) -> Any:
        return dbus.Dictionary(self._subtree(False), signature="sv", variant_level=1)

    @dbus.service.method(IFACE, out_signature="v")
    def GetText(self) -> Any:
        return dbus.Dictionary(self._subtree(True), signature="ss", variant_level=1)


class _RootExport(_TreeExport):
    @dbus.service.method(IFACE, out_signature="a{sa{sv}}")
    def GetItems(self) -> Dict[str, Dict[str, Any]]:
        return {path: item.changes() for path, item in self._service._dbusobjects.items()}

    @dbus.service.signal(IFACE, signature="a{sa{sv}}")
    def ItemsChanged(self, changes: Dict[str, Dict[str, Any]]) -> None:
        pass
