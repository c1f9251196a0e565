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
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest

from control.session import Session
from control.store import Store
from tests.helpers import (
    ROOT,
    Probe,
    Proc,
    SimProc,
    base_config,
    free_port,
    wait_until,
    write_config,
)
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


PORTAL = "uibrowser"


class System:
    def __init__(self, broker: Any, tmp: Path) -> None:
        self.tmp = tmp
        self.procs: list = []
        self.web_port = free_port()
        # the simulated site: a sunny noon, a car plugged in after half a second
        world = SimProc(
            "world",
            *("--mqtt-port", str(broker.port), "--portal", PORTAL, "--start-hour", "12"),
            *("--plug-at", "0.5", "--publish-interval-s", "0.5"),
            log_dir=tmp,
        )
        modbus_port = world.modbus
        cfg = base_config(
            tmp,
            modbus_port,
            broker.port,
            web={"port": self.web_port},
            # a keepalive the simulated site missed while it started is repeated within 5 s
            victron={"portal_id": PORTAL, "keepalive_s": 5},
            pricing={"feed_in_eur_per_kwh": 0.07},
        )
        self.config = write_config(tmp / "config.yaml", cfg)
        self.probe = Probe(broker.port)
        self.url = f"http://127.0.0.1:{self.web_port}/ui/"
        if FULL_CHAIN:
            # the battery capacity the controller learned on earlier days (control/state shows it)
            (tmp / "state").mkdir(parents=True, exist_ok=True)
            Store(str(tmp / "state")).save_battery({"estimates_kwh": [10.2]})
            self.procs.append(world.start())
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


def _api(system: System, path: str) -> Any:
    with urllib.request.urlopen(f"http://127.0.0.1:{system.web_port}{path}", timeout=5) as r:
        return json.loads(r.read())


FLOW_DOM = """() => Object.fromEntries(['pv', 'grid', 'battery', 'house', 'ev'].map((k) => {
  const n = document.getElementById('flow-' + k);
  return [k, {w: n.dataset.w, val: n.querySelector('.n-val').textContent,
              sub: n.querySelector('.n-sub').textContent, flow: n.dataset.flow}];
}))"""


def _flow_matches_api(system: System, page: Any) -> Dict[str, Any]:
    """The power-flow figures on the page are the API's (retried: both move every second),
    once the car draws power."""

    seen: list = []

    def same() -> Optional[Dict[str, Any]]:
        site = _api(system, "/api/status")["site"]
        dom = page.evaluate(FLOW_DOM)
        seen[:] = [site, dom]
        if not site or not site["fresh"] or not (site["ev_w"] or 0) > 100:
            return None
        for k, cell in dom.items():
            w = site[f"{k}_w"]
            if w is None or cell["w"] == "" or float(cell["w"]) != w:
                return None
            assert cell["val"] == f"{abs(w) / 1000:.2f} kW", (k, cell, w)
        return {"site": site, "dom": dom}

    try:
        return wait_until(same, 20)  # type: ignore[no-any-return]
    except AssertionError:
        raise AssertionError(f"the page's power flow never matched the API: last {seen}") from None


SESSION_DOM = """() => ['s-energy', 's-energy-split', 's-cost', 's-cost-split', 's-solar']
  .map((id) => document.getElementById(id).textContent)"""


def _session_matches_api(system: System, page: Any) -> Dict[str, Any]:
    """The session tiles show the API's figures, the cost in its solar and grid parts."""

    def same() -> Optional[Dict[str, Any]]:
        se = _api(system, "/api/status")["control"]["session"]
        energy, split, cost, cost_split, solar = page.evaluate(SESSION_DOM)
        own = se["solar_kwh"] + se["battery_kwh"]
        want = (
            f"{se['energy_kwh']:.2f} kWh",
            f"€ {se['cost']:.2f}",
            f"solar € {se['solar_cost']:.2f} · grid € {se['grid_cost']:.2f}",
            f"{round(se['solar_share'] * 100)} %" if se["solar_share"] is not None else "—",
        )
        if (energy, cost, cost_split, solar) != want:
            return None
        assert split.startswith(f"solar {own:.2f}") and f"grid {se['grid_kwh']:.2f} kWh" in split
        return se  # type: ignore[no-any-return]

    return wait_until(same, 15)  # type: ignore[no-any-return]


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
    if FULL_CHAIN:  # the simulated sunny site, as the controller sees it, in kW
        seen = _flow_matches_api(system, page)
        assert seen["site"]["pv_w"] > 0 and seen["dom"]["pv"]["sub"] == "producing"
        assert seen["dom"]["ev"]["sub"] == "charging" and seen["dom"]["ev"]["flow"] == "out"
        soc = round(seen["site"]["battery_soc"])
        assert seen["dom"]["battery"]["sub"].startswith(f"{soc} %")

    # mode: click Auto, then back to Manual (keyboard: arrow keys move within the radio group)
    mark = probe.mark()
    page.click("label[for=mode-1]")
    _wait_command(probe, mark, "mode", {"mode": 1})
    if FULL_CHAIN:
        probe.wait_json("alfen/0/control/state", lambda s: s["mode"] == 1, 8)
    page.wait_for_function("document.getElementById('mode-1').checked", timeout=8000)
    # AUTO sets the current: the slider is disabled and says what AUTO does
    page.wait_for_function("document.getElementById('current').disabled", timeout=8000)
    assert page.locator("#current-hint").text_content().startswith("AUTO sets the current")
    mark = probe.mark()
    page.focus("#mode-1")
    page.keyboard.press("ArrowLeft")
    _wait_command(probe, mark, "mode", {"mode": 0})
    if FULL_CHAIN:
        probe.wait_json("alfen/0/control/state", lambda s: s["mode"] == 0, 8)

    # slider: a drag across many steps sends one command, on release (enabled again in Manual)
    page.wait_for_function("!document.getElementById('current').disabled", timeout=8000)
    assert page.locator("#current-hint").text_content().startswith("6 A to 32 A")
    box = page.locator("#current").bounding_box()
    mark = probe.mark()
    mid_y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + 2, mid_y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, mid_y, steps=25)
    page.mouse.up()
    dragged = float(page.eval_on_selector("#current", "e => e.value"))
    assert dragged > 10
    _wait_command(probe, mark, "current", {"amps": dragged})
    time.sleep(1.0)  # longer than the slider's settle time: nothing else follows
    sent = [json.loads(p) for p in probe.since(mark, "alfen/0/control/set/current")]
    assert sent == [{"amps": dragged}], sent

    # and by keyboard to 10 A
    mark = probe.mark()
    page.focus("#current")
    page.keyboard.press("Home")
    for _ in range(4):
        page.keyboard.press("ArrowRight")
    _wait_command(probe, mark, "current", {"amps": 10.0})
    time.sleep(1.0)
    sent = [json.loads(p) for p in probe.since(mark, "alfen/0/control/set/current")]
    assert sent == [{"amps": 10.0}], sent  # five steps in quick succession, one command
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

    if FULL_CHAIN:
        se = _session_matches_api(system, page)
        assert se["energy_kwh"] > 0 and se["solar_kwh"] > 0
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
    if FULL_CHAIN:
        _flow_matches_api(system, desk)
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-dashboard.png"), full_page=True)
    desk.emulate_media(color_scheme="dark")
    time.sleep(0.3)  # the canvas charts redraw on the scheme change
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-dashboard-dark.png"), full_page=True)
    desk.emulate_media(color_scheme="light")
    _add_history(system)
    desk.goto(system.url + "#history")
    desk.wait_for_selector("#sessions-body td.num")
    _history_matches_api(system, desk)
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-history.png"))
    desk.goto(system.url + "#settings")
    desk.wait_for_selector("#cfg-modbus-ip")
    desk.screenshot(path=str(ARTIFACTS / "ui-desktop-settings.png"))
    assert not desk.errors, desk.errors
    desk.close()


def test_a_storage_failure_is_said_on_the_page_until_the_disk_is_back(
    system: System, browser: Any
) -> None:
    """settings.json becomes a directory: every atomic replace onto it fails, as on a full or
    read-only disk. The page says so, and the banner goes once the controller's retry saves."""
    if not FULL_CHAIN:
        pytest.skip("needs the real controller")
    settings_file = system.tmp / "state" / "settings.json"
    if settings_file.exists():
        settings_file.unlink()
    settings_file.mkdir()
    page = _page(browser, 1366, 900)
    try:
        page.goto(system.url)
        for enabled in (False, True):  # a change the controller must save; back as it was
            system.probe.publish("alfen/0/control/set/autostart", {"enabled": enabled})
        page.wait_for_function("!document.getElementById('storage-banner').hidden", timeout=10000)
        text = page.locator("#storage-banner").text_content()
        assert text.startswith("Storage not writable: state not saved"), text
        assert _api(system, "/api/status")["control"]["storage"]["failing"] == ["settings"]
        page.screenshot(path=str(ARTIFACTS / "ui-desktop-storage.png"))
    finally:
        settings_file.rmdir()
    page.wait_for_function("document.getElementById('storage-banner').hidden", timeout=25000)
    assert json.loads(settings_file.read_text())["auto_start"] is True
    assert not page.errors, page.errors
    page.close()


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


def _add_history(system: System) -> None:
    """Two ended sessions as the controller records them: one with the cost split, one from
    before the split (its parts unknown)."""
    store = Store(str(system.tmp / "state"))
    store.open()
    base = {"start_energy_wh": 0.0, "charging_time_s": 3000.0}
    store.add_history(
        Session(
            start=1764558000.0,
            last_energy_wh=7500.0,
            last_update=1764561600.0,
            end=1764561600.0,
            solar_wh=5000.0,
            battery_wh=500.0,
            grid_wh=2000.0,
            solar_cost=0.39,
            grid_cost=0.6,
            cost=0.99,
            **base,
        )
    )
    store.add_history(
        Session(
            start=1764471600.0,
            last_energy_wh=4000.0,
            last_update=1764475200.0,
            end=1764475200.0,
            grid_wh=4000.0,
            cost=1.0,
            **base,
        )
    )
    store.close()


def _history_matches_api(system: System, page: Any) -> None:
    rows = page.evaluate(
        "() => [...document.querySelectorAll('#sessions-body tr')]"
        ".map((tr) => [...tr.children].map((td) => td.textContent))"
    )
    api = _api(system, "/api/sessions")["sessions"]
    assert len(rows) == len(api) >= 2
    for row, se in zip(rows, api):
        money = ["—" if v is None else f"€ {v:.2f}" for v in (se["solar_cost"], se["grid_cost"])]
        assert row[2] == f"{se['energy_kwh']:.2f} kWh"
        assert row[3].startswith(f"{se['solar_kwh']:.2f} kWh")
        assert row[4] == f"{se['grid_kwh']:.2f} kWh"
        assert row[5:] == [*money, f"€ {se['cost']:.2f}"], (row, se)
    split, old = rows[-2], rows[-1]  # oldest last
    assert (
        split[5:] == ["€ 0.39", "€ 0.60", "€ 0.99"] and split[3] == "5.00 kWh (67 %) + battery 0.50"
    )
    assert old[5:] == ["—", "—", "€ 1.00"]


def _quarter_hours(start: float, n: int) -> list:
    return [
        {"start": start + 900 * i, "end": start + 900 * (i + 1), "price": 0.30 - 0.01 * (i % 20)}
        for i in range(n)
    ]


def _stop_controller(system: System) -> None:
    for proc in system.procs:
        if proc.module == "control":
            proc.stop()


def test_scheduled_shows_its_plan_deadline_and_expected_finish(
    system: System, browser: Any
) -> None:
    """What the controller publishes in SCHEDULED with a deadline plan: the price chart of the
    15-minute slots, the slots it charges in, the deadline and the expected finish."""
    _stop_controller(system)
    now = time.time()
    first = now - now % 900
    slots = _quarter_hours(first - 3600, 40)
    plan = [{**q, "charge": True} for q in slots[8:12]]  # 4 quarter hours, an hour from now
    deadline, finish = first + 6 * 3600, plan[-1]["end"] - 300
    by = time.strftime("%H:%M", time.localtime(deadline))
    ctl = {
        **example("control_state"),
        "mode": 2,
        "mode_name": "scheduled",
        "status": 6,
        "reason": "cheapest slots start at 10:00 (9.2 kWh by 15:00)",
        "plan": plan,
        "price_now": 0.29,
        "schedule": {
            "by": deadline,
            "by_hhmm": by,
            "energy_kwh": 20.0,
            "left_kwh": 9.2,
            "finish": finish,
            "on_time": True,
        },
    }
    prices = {**example("control_prices"), "slots": slots}
    system.probe.publish("alfen/0/control/prices", prices, retain=True)
    system.probe.publish("alfen/0/control/state", ctl, retain=True)
    system.probe.publish("alfen/0/control/availability", "online", retain=True)
    shown = [q for q in slots if q["end"] > now - 3600]
    for name, width, height in (("desktop", 1366, 900), ("phone", 390, 844)):
        page = _page(browser, width, height)
        page.goto(system.url)
        page.wait_for_function(
            f"document.querySelectorAll('#prices rect.slot').length === {len(shown)}",
            timeout=10000,
        )
        assert page.locator("#prices rect.slot-charge").count() == len(plan)
        assert page.locator("#prices-deadline").count() == 1
        assert page.locator("#prices-finish").count() == 1
        hhmm = page.evaluate(f"window.Charts.hhmm({finish})")
        line = page.locator("#plan-deadline").text_content()
        assert line == f"20 kWh by {by} · 9.2 kWh to go · expected finish {hhmm}", line
        assert page.locator("#plan-nowindow").is_hidden()
        assert page.locator("#price-now").text_content() == "€ 0.290/kWh"
        assert page.locator("#current").is_disabled()  # SCHEDULED sets the current
        page.locator("#prices-card").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / f"ui-{name}-scheduled.png"), full_page=True)
        assert not page.errors, page.errors
        page.close()


def test_no_time_window_links_to_the_setting(system: System, browser: Any) -> None:
    _stop_controller(system)
    ctl = {
        **example("control_state"),
        "mode": 2,
        "status": 6,
        "reason": "no time window configured",
        "plan": [],
    }
    system.probe.publish("alfen/0/control/prices", {**example("control_prices"), "slots": []})
    system.probe.publish("alfen/0/control/state", ctl, retain=True)
    system.probe.publish("alfen/0/control/availability", "online", retain=True)
    page = _page(browser, 390, 844)
    page.goto(system.url)
    link = page.locator("#plan-nowindow-link")
    link.wait_for(state="visible", timeout=10000)
    page.screenshot(path=str(ARTIFACTS / "ui-phone-no-window.png"), full_page=True)
    link.click()
    page.wait_for_function(
        "(document.getElementById('section-schedule') || {}).open === true", timeout=10000
    )
    assert page.locator("#view-settings").is_visible()
    page.screenshot(path=str(ARTIFACTS / "ui-phone-schedule-setting.png"))
    _add_history(system)  # the same rows as above (recorded once: their start is the key)
    page.goto(system.url + "#history")  # the table scrolls sideways on a phone
    page.wait_for_selector("#sessions-body td.num")
    page.screenshot(path=str(ARTIFACTS / "ui-phone-history.png"))
    assert not page.errors, page.errors
    page.close()


def test_charger_not_answering_is_not_called_bridge_offline(system: System, browser: Any) -> None:
    """The bridge runs but the charger does not answer it: the bridge says offline yet keeps
    publishing its state (connected false). Last in this file: it stops the bridge."""
    for proc in system.procs:
        if proc.module == "bridge":
            proc.stop()
    state = {**example("state"), "ts": time.time(), "connected": False, "power_w": None}
    system.probe.publish("alfen/0/state", state, retain=True)
    system.probe.publish("alfen/0/availability", "offline", retain=True)
    page = _page(browser, 390, 844)
    page.goto(system.url)
    page.wait_for_function(
        "document.getElementById('pill-charger').dataset.state === 'offline'", timeout=10000
    )
    banner = page.locator("#offline-banner").text_content()
    assert banner.startswith("Charger not answering") and "bridge offline" not in banner, banner
    page.screenshot(path=str(ARTIFACTS / "ui-phone-charger-not-answering.png"))
    # and when the bridge itself is gone, its state grows old: then it is the bridge
    old = {**state, "ts": time.time() - 600}
    system.probe.publish("alfen/0/state", old, retain=True)
    page.wait_for_function(
        "document.getElementById('offline-banner').textContent.startsWith('Bridge offline')",
        timeout=10000,
    )
    assert not page.errors, page.errors
    page.close()
