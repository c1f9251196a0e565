"""What keeps the processes small must not change what they do.

* ``common.deferred_import``: after ``import common.mqtt_link`` none of ``ssl``,
  ``urllib.request`` and ``hashlib`` (OpenSSL's libcrypto) is loaded, and the first real use of either gets the real module (paho's
  own ``except ssl.SSLWantReadError`` clauses included).
* ``control.tibber`` imports ``urllib.request`` only for a fetch: a controller with Tibber off
  loads neither ``http.client`` nor ``email``.
* ``common.logsetup``: one log file per process.
* ``dbus_shim.glib_loop``: the ctypes GLib loop runs idle (from any thread), timeout and
  Unix-signal sources with GLib's return-value contract.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from typing import List

import pytest

from common.logsetup import log_file_for
from tests.helpers import ROOT


def run_fresh(code: str) -> str:
    """Run ``code`` in a fresh interpreter (imports are process-wide) and return its stdout."""
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=str(ROOT),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_mqtt_link_loads_neither_ssl_nor_urllib_request_until_used() -> None:
    out = run_fresh(
        """
        import sys
        import common.mqtt_link
        print("loaded", "_ssl" in sys.modules, "http.client" in sys.modules)
        import paho.mqtt.client as paho
        try:  # paho's recv path: an error evaluates `except ssl.SSLWantReadError` first
            raise ConnectionResetError("peer reset")
        except paho.ssl.SSLWantReadError:
            print("wrong clause")
        except ConnectionResetError:
            print("caught", "_ssl" in sys.modules)
        import ssl
        ctx = ssl.create_default_context()
        print("ctx", isinstance(ctx, sys.modules["ssl"].SSLContext), ctx.verify_mode == ssl.CERT_REQUIRED)
        from urllib.request import Request
        import urllib.request, urllib
        print("urllib", Request("http://x/").host, urllib.request.Request is Request)
        """
    )
    assert out.split("\n")[:4] == [
        "loaded False False",
        "caught True",
        "ctx True True",
        "urllib x True",
    ], out


def test_hashlib_loads_on_first_use_and_then_is_the_real_one() -> None:
    out = run_fresh(
        """
        import sys
        import common.mqtt_link
        maps = open("/proc/self/maps").read()
        print("loaded", "_hashlib" in sys.modules, "libcrypto" in maps)
        import paho.mqtt.client as paho
        print("ws", paho.hashlib.sha1(b"abc").hexdigest()[:8])  # paho's websocket handshake
        from hashlib import sha256
        import hashlib, hmac
        print("hmac", hmac.new(b"k", b"m", "sha256").hexdigest()[:8], hashlib.sha256 is sha256)
        """
    )
    assert out.split("\n")[:3] == ["loaded False False", "ws a9993e36", "hmac b60090e3 True"], out


def test_controller_with_tibber_off_loads_no_http_client() -> None:
    out = run_fresh(
        """
        import sys
        import control.__main__, control.core  # every module the controller imports at start
        from control.tibber import TibberClient, TibberSettings
        TibberClient(TibberSettings.from_config({}), "/nonexistent")  # built, never fetching
        real = [m for m in ("urllib.request", "http.client", "email")
                if m in sys.modules and "loaded on first use" not in (sys.modules[m].__doc__ or "")]
        print("loaded", real)
        """
    )
    assert out.strip() == "loaded []", out


def test_an_already_loaded_module_is_left_alone() -> None:
    out = run_fresh(
        """
        import ssl, sys
        from common.deferred_import import defer
        defer("ssl")
        print(sys.modules["ssl"] is ssl)
        """
    )
    assert out.strip() == "True"


@pytest.mark.parametrize(
    ("path", "process", "expected"),
    [
        ("/var/log/alfen_driver.log", "bridge", "/var/log/alfen_driver.bridge.log"),
        ("/var/log/alfen_driver.log", "dbus-shim", "/var/log/alfen_driver.dbus-shim.log"),
        ("/tmp/logs.d/alfen", "ui", "/tmp/logs.d/alfen.ui"),
        ("relative.txt", "control", "relative.control.txt"),
    ],
)
def test_each_process_logs_to_its_own_file(path: str, process: str, expected: str) -> None:
    assert log_file_for(path, process) == expected


# ---- the ctypes GLib loop ----------------------------------------------------------------------
def _loop():  # type: ignore[no-untyped-def]
    try:
        from dbus_shim.glib_loop import GLibLoop

        return GLibLoop()
    except OSError as exc:
        pytest.skip(f"libglib-2.0 is not loadable here: {exc}")


def test_glib_loop_runs_idle_from_a_thread_timeouts_and_quits() -> None:
    loop = _loop()
    seen: List[str] = []
    ticks = {"n": 0}

    def tick() -> bool:
        ticks["n"] += 1
        if ticks["n"] == 3:
            loop.quit()
            return False
        return True

    def record() -> bool:
        seen.append(threading.current_thread().name)
        return False

    def from_thread() -> None:
        loop.idle_add(record)

    threading.Thread(target=from_thread, name="paho-like").start()
    loop.timeout_add(20, tick)
    started = time.monotonic()
    loop.run()
    assert ticks["n"] == 3  # True kept the timeout, False removed it
    assert seen == ["MainThread"]  # a thread's idle_add runs on the loop's thread
    assert time.monotonic() - started < 5
    assert loop.pending() == 0  # every one-shot source was released


def test_glib_loop_handles_a_unix_signal_and_survives_a_raising_callback() -> None:
    loop = _loop()
    got: List[str] = []

    def boom() -> bool:
        raise RuntimeError("callback failure")

    def on_signal() -> bool:
        got.append("SIGUSR1")
        loop.quit()
        return False

    def send() -> bool:
        os.kill(os.getpid(), signal.SIGUSR1)
        return False

    loop.idle_add(boom)  # removed after raising, as PyGObject does; the loop goes on
    loop.unix_signal_add(signal.SIGUSR1, on_signal)
    loop.timeout_add(50, send)
    loop.run()
    assert got == ["SIGUSR1"]
    assert loop.pending() == 0
