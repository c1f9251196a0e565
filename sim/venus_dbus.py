"""The Venus side of D-Bus, simulated: a dbus-daemon, a Venus-like client, fake localsettings.

The client talks to services the way Venus consumers do (GetItems on ``/``, per-path GetValue,
GetText, SetValue, ItemsChanged/PropertiesChanged signals) from its own connection. Calls are
made asynchronously and the GLib main context is pumped until the reply arrives, so a service
living in this same process (the BusItem tests) can answer too.

``python -m sim.venus_dbus settings ADDRESS [taken ...]`` runs a minimal
``com.victronenergy.settings`` that implements AddSetting/GetValue for ClassAndVrmInstance
the way localsettings does: unique class:instance pairs, existing records kept.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

BUSITEM = "com.victronenergy.BusItem"


def dbus_missing() -> Optional[str]:
    """Why D-Bus tests cannot run here, or None."""
    if not shutil.which("dbus-daemon"):
        return "dbus-daemon not installed (make system-deps installs it)"
    try:
        import dbus
        import dbus.mainloop.glib  # noqa: F401
        from gi.repository import GLib  # noqa: F401
    except ImportError as exc:
        return f"dbus-python/PyGObject not importable ({exc}); the venv needs system site-packages"
    return None


class DbusDaemon:
    """``dbus-daemon --session`` in a temp dir, its address printed on stdout."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="dbus-"))
        self.proc: Optional[subprocess.Popen[bytes]] = None
        self.address = ""

    def start(self) -> DbusDaemon:
        self.proc = subprocess.Popen(
            [
                "dbus-daemon",
                "--session",
                "--nofork",
                "--print-address",
                f"--address=unix:dir={self.dir}",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.proc.stdout is not None
        self.address = self.proc.stdout.readline().decode().strip()
        if not self.address:
            raise RuntimeError("dbus-daemon printed no address")
        return self

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


def glib_setup() -> None:
    from dbus.mainloop.glib import DBusGMainLoop

    DBusGMainLoop(set_as_default=True)


def pump(seconds: float = 0.0) -> None:
    """Run the default GLib context for ``seconds`` (at least one non-blocking pass)."""
    from gi.repository import GLib

    ctx = GLib.MainContext.default()
    deadline = time.monotonic() + seconds
    while True:
        while ctx.pending():
            ctx.iteration(False)
        if time.monotonic() >= deadline:
            return
        time.sleep(0.005)


class Client:
    """A Venus-like consumer on its own connection."""

    def __init__(self, address: str) -> None:
        import dbus.bus

        glib_setup()
        self.bus = dbus.bus.BusConnection(address)
        self.signals: List[Tuple[str, str, str, Any]] = []  # (sender, path, member, arg)
        self.bus.add_signal_receiver(
            self._on_signal,
            dbus_interface=BUSITEM,
            sender_keyword="sender",
            path_keyword="path",
            member_keyword="member",
        )

    def _on_signal(self, arg: Any, sender: str = "", path: str = "", member: str = "") -> None:
        self.signals.append((sender, path, member, arg))

    def call(
        self, service: str, path: str, method: str, *args: Any, timeout_s: float = 10.0
    ) -> Any:
        obj = self.bus.get_object(service, path, introspect=False)
        box: Dict[str, Any] = {}
        getattr(obj, method)(
            *args,
            dbus_interface=BUSITEM,
            reply_handler=lambda *r: box.setdefault("ok", r[0] if r else None),
            error_handler=lambda e: box.setdefault("err", e),
            timeout=timeout_s,
        )
        deadline = time.monotonic() + timeout_s
        while "ok" not in box and "err" not in box:
            if time.monotonic() > deadline:
                raise AssertionError(f"{method} {path}: no reply")
            pump(0.002)
        if "err" in box:
            raise box["err"]
        return box["ok"]

    def get_items(self, service: str) -> Dict[str, Dict[str, Any]]:
        return self.call(service, "/", "GetItems")

    def value(self, service: str, path: str) -> Any:
        return self.call(service, path, "GetValue")

    def text(self, service: str, path: str) -> str:
        return str(self.call(service, path, "GetText"))

    def set(self, service: str, path: str, value: Any) -> int:
        return int(self.call(service, path, "SetValue", value))

    def owner(self, name: str) -> Optional[str]:
        try:
            return str(self.bus.get_name_owner(name))
        except Exception:
            return None

    def wait(self, pred: Any, timeout_s: float = 10.0) -> Any:
        deadline = time.monotonic() + timeout_s
        while True:
            pump(0.01)
            result = pred()
            if result:
                return result
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout_s} s")

    def items_changed(self, since: int = 0) -> List[Dict[str, Any]]:
        return [a for _s, p, m, a in self.signals[since:] if m == "ItemsChanged" and p == "/"]

    def close(self) -> None:
        self.bus.close()


def is_invalid(value: Any) -> bool:
    """The Victron invalid marker: an empty int32 array."""
    import dbus

    return isinstance(value, dbus.Array) and len(value) == 0 and value.signature == "i"


# ---- a minimal com.victronenergy.settings -------------------------------------------------------
def serve_settings(address: str, taken: List[str]) -> None:
    import dbus
    import dbus.bus
    import dbus.service
    from gi.repository import GLib

    glib_setup()
    bus = dbus.bus.BusConnection(address)
    values: Dict[str, str] = {
        f"/Settings/Devices/other{i}/ClassAndVrmInstance": t for i, t in enumerate(taken)
    }
    items: Dict[str, Any] = {}

    class Item(dbus.service.Object):  # type: ignore[misc]
        def __init__(self, path: str) -> None:
            super().__init__(bus, path)
            self.path = path

        @dbus.service.method(BUSITEM, out_signature="v")
        def GetValue(self) -> Any:
            return dbus.String(values[self.path], variant_level=1)

        @dbus.service.method(BUSITEM, out_signature="s")
        def GetText(self) -> str:
            return values[self.path]

        @dbus.service.method(BUSITEM, in_signature="v", out_signature="i")
        def SetValue(self, value: Any) -> int:
            values[self.path] = str(value)
            self.PropertiesChanged(
                {"Value": dbus.String(str(value), variant_level=1), "Text": str(value)}
            )
            return 0

        @dbus.service.signal(BUSITEM, signature="a{sv}")
        def PropertiesChanged(self, changes: Any) -> None:
            pass

    class Group(dbus.service.Object):  # type: ignore[misc]
        @dbus.service.method("com.victronenergy.Settings", in_signature="ssvsvv", out_signature="i")
        def AddSetting(
            self, group: str, name: str, default: Any, kind: str, lo: Any, hi: Any
        ) -> int:
            path = f"/Settings/{group.strip('/')}/{name}"
            if path not in values:
                cls, _, inst = str(default).partition(":")
                used = {v for v in values.values()}
                n = int(inst)
                while f"{cls}:{n}" in used:
                    n += 1
                values[path] = f"{cls}:{n}"
            if path not in items:
                items[path] = Item(path)
            return 0

    for path in values:
        items[path] = Item(path)
    Group(bus, "/Settings")
    bus.request_name("com.victronenergy.settings", dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
    print("ready", flush=True)
    GLib.MainLoop().run()


def start_settings(address: str, *taken: str) -> subprocess.Popen[bytes]:
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim.venus_dbus", "settings", address, *taken],
        cwd=str(root),
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != b"ready":
        raise RuntimeError("fake settings service did not start")
    return proc


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "settings":
        serve_settings(sys.argv[2], sys.argv[3:])
