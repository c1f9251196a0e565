"""The page in headless Chromium against a real waitress server (``python -m ui``).

With bridge/ and control/ present the whole chain runs: sim charger ← bridge ← control ← ui, and
each click must reach the simulated charger. Without them, synthetic retained state is fed
through the Probe and each click must publish the right command. Screenshots at phone and
desktop widths land in test-artifacts/.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, Iterator

import pytest

from control.store import Store
from tests.helpers import ROOT, Probe, Proc, base_config, free_port, wait_until, write_config
from tests.ui_support import example

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts"
FULL_CHAIN = (ROOT / "bridge" / "__main__.py").exists() and (
    ROOT / "control" / "__main__.py"
).exists()


class System:
    def __init__(self, broker: Any, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list = []
        self.web_port = free_port()
        modbus_port = free_port()
        cfg = base_config(tmp, modbus_port, broker.port, web={"port": self.web_port})
        self.config = write_config(tmp / "config.yaml", cfg)
        self.probe = Probe(broker.port)
        self.url = f"http://127.0.0.1:{self.web_port}/ui/"
        if FULL_CHAIN:
            # the battery capacity the controller learned on earlier days (control/state shows it)
            (tmp / "state").mkdir(parents=True, exist_ok=True)
            Store(str(tmp / "state")).save_battery({"estimates_kwh": [10.2]})
            self._start("sim", "charger", "--port", str(modbus_port), "--plug-at", "0.5")
            self._start("bridge", "--config", str(self.config))
            self._start("control", "--config", str(self.config))
        else:
            self.feed_synthetic()
        self.ui = self._start("ui", "--config", str(self.config))

    def _start(self, module: str, *args: str) -> Proc:
        proc = Proc(module, *args, log_dir=self.tmp).start()
        self.procs.append(proc)
        return proc

    def feed_synthetic(self) -> None:
        p = self.probe
        state = {**example("state"), "ts": time.time()}
        p.publish("alfen/0/availability", "online", retain=True)
        p.publish("alfen/0/control/availability", "online", retain=True)
        p.publish("alfen/0/state", state, retain=True)
        p.publish("alfen/0/info", example("info"), retain=True)
        ctl = example("control_state")
        now = time.time()
        ctl["plan"] = [
            {
                "start": now - 7200 + 3600 * i,
                "end": now - 3600 + 3600 * i,
                "price": 0.18 + 0.02 * (i % 5),
                "charge": i % 4 == 0,
            }
            for i in range(24)
        ]
        p.publish("alfen/0/control/state", ctl, retain=True)

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.stop()
        for topic in (
            "availability",
            "control/availability",
            "state",
            "info",
            "control/state",
            "config/changed",
        ):
            self.probe.publish(f"alfen/0/{topic}", b"", retain=True)
        self.probe.close()


@pytest.fixture(scope="module")
def system(broker: Any) -> Iterator[System]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (make test installs it)")
    sysm = System(broker, Path(tempfile.mkdtemp(prefix="ui-browser-")))
    try:
        yield sysm
    finally:
        sysm.stop()


@pytest.fixture(scope="module")
def browser(system: System) -> Iterator[Any]:
    with sync_api.sync_playwright() as pw:
        profile = tempfile.mkdtemp(prefix="chromium-profile-")
        # bypass_csp: Playwright evaluates wait_for_function strings, which our CSP forbids.
        ctx = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True, bypass_csp=True
        )
        yield ctx
        ctx.close()


def _page(browser: Any, width: int, height: int) -> Any:
    page = browser.new_page()
    page.set_viewport_size({"width": width, "height": height})
    errors: list = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.errors = errors
    return page


def _wait_command(probe: Probe, mark: int, what: str, expected: Dict[str, Any]) -> None:
    topic = f"alfen/0/control/set/{what}"
    wait_until(lambda: expected in [json.loads(p) for p in probe.since(mark, topic)], 8)


def test_page_live_controls_and_screenshots(system: System, browser: Any) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page = _page(browser, 390, 844)
    page.goto(system.url)
    page.wait_for_function(  # live numbers: the car draws power
        "parseFloat(document.getElementById('power').textContent) > 0", timeout=20000
    )
    page.wait_for_function(
        "document.getElementById('pill-controller').dataset.state === 'online'", timeout=15000
    )
    assert page.locator("#offline-banner").is_hidden()
    page.wait_for_function(  # the battery check's capacity, from control/state
        "document.getElementById('meta').textContent.includes('battery 10.2 kWh (learned)')",
        timeout=10000,
    )
    probe = system.probe

    # mode: click Auto, then back to Manual (keyboard: arrow keys move within the radio group)
    mark = probe.mark()
    page.click("label[for=mode-1]")
    _wait_command(probe, mark, "mode", {"mode": 1})
    if FULL_CHAIN:
        probe.wait_json("alfen/0/control/state", lambda s: s["mode"] == 1, 8)
    page.wait_for_function("document.getElementById('mode-1').checked", timeout=8000)
    mark = probe.mark()
    page.focus("#mode-1")
    page.keyboard.press("ArrowLeft")
    _wait_command(probe, mark, "mode", {"mode": 0})
    if FULL_CHAIN:
        probe.wait_json("alfen/0/control/state", lambda s: s["mode"] == 0, 8)

    # slider: keyboard to 10 A
    mark = probe.mark()
    page.focus("#current")
    page.keyboard.press("Home")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    _wait_command(probe, mark, "current", {"amps": 10.0})
    if FULL_CHAIN:  # reached the charger: register 1210 reads back 10 A
        probe.wait_json("alfen/0/state", lambda s: s["setpoint_a"] == 10.0, 15)

    # Start/Stop
    mark = probe.mark()
    assert page.locator("#startstop").text_content() == "Stop charging"
    page.click("#startstop")
    _wait_command(probe, mark, "startstop", {"enabled": False})
    if FULL_CHAIN:
        probe.wait_json("alfen/0/state", lambda s: s["setpoint_a"] == 0.0, 15)
        page.wait_for_function(
            "document.getElementById('startstop').textContent === 'Start charging'", timeout=8000
        )
        mark = probe.mark()
        page.click("#startstop")
        _wait_command(probe, mark, "startstop", {"enabled": True})
        probe.wait_json("alfen/0/state", lambda s: s["setpoint_a"] == 10.0, 15)

    time.sleep(1.5)  # a few graph points
    page.screenshot(path=str(ARTIFACTS / "ui-phone-dashboard.png"), full_page=True)

    # survives a reload: the graph comes back from the server's ring buffer
    page.reload()
    page.wait_for_function("document.getElementById('power').textContent !== '—'", timeout=10000)
    assert page.evaluate("fetch('/api/graph').then(r => r.json()).then(g => g.t.length)") >= 3

    # a bad config value shows its error next to the field
    before = system.config.read_bytes()
    page.goto(system.url + "#settings")
    page.wait_for_selector("#cfg-controls-max_retries", state="attached")
    page.click("#section-controls > summary")
    page.fill("#cfg-controls-max_retries", "99")
    page.click("#config-save")
    err = page.locator("#cfg-controls-max_retries-err")
    err.wait_for(state="visible", timeout=5000)
    assert "99" in err.text_content() and "10" in err.text_content()
    assert page.locator("#config-msg").text_content().startswith("Not saved")
    assert system.config.read_bytes() == before
    page.locator("#cfg-controls-max_retries").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "ui-phone-settings-error.png"))
    assert not page.errors, page.errors
    page.close()

    desk = _page(browser, 1366, 900)
    desk.goto(system.url)
    desk.wait_for_function("document.getElementById('power').textContent !== '—'", timeout=10000)
    time.sleep(0.5)
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-dashboard.png"), full_page=True)
    desk.goto(system.url + "#history")
    desk.wait_for_selector("#sessions-body td")
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-history.png"))
    desk.goto(system.url + "#settings")
    desk.wait_for_selector("#cfg-modbus-ip")
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-settings.png"))
    assert not desk.errors, desk.errors
    desk.close()


def test_offline_is_shown_and_controls_disabled(system: System, browser: Any) -> None:
    page = _page(browser, 1366, 900)
    page.goto(system.url)
    page.wait_for_function("document.getElementById('power').textContent !== '—'", timeout=10000)
    if FULL_CHAIN:
        next(p for p in system.procs if p.module == "control").stop()
    else:
        system.probe.publish("alfen/0/control/availability", "offline", retain=True)
    page.wait_for_function(
        "document.getElementById('pill-controller').dataset.state === 'offline'", timeout=10000
    )
    banner = page.locator("#offline-banner")
    assert banner.is_visible() and "controller offline" in banner.text_content().lower()
    assert page.locator("#startstop").is_disabled() and page.locator("#current").is_disabled()
    page.screenshot(path=str(ARTIFACTS / "ui-desktop-offline.png"))
    assert not page.errors, page.errors
    page.close()


def test_a_battery_keeping_its_charge_is_said_on_the_dashboard(
    system: System, browser: Any
) -> None:
    # the controller stopped in the test above; this control/state is what it publishes in AUTO
    # when the forecast sun left today would not fill the battery
    ctl = {
        **example("control_state"),
        "battery_check": {"capacity_kwh": 10.2, "learned": True, "fills": False},
    }
    system.probe.publish("alfen/0/control/state", ctl, retain=True)
    system.probe.publish("alfen/0/control/availability", "online", retain=True)
    page = _page(browser, 1366, 900)
    page.goto(system.url)
    page.wait_for_function(
        "document.getElementById('meta').textContent"
        ".includes('battery 10.2 kWh (learned), keeps its charge today')",
        timeout=10000,
    )
    assert not page.errors, page.errors
    page.close()
