"""The controller process around the pure core: MQTT in, ``decide`` at ~1 Hz, MQTT out.

The runner owns every side effect of control (style §2): it caches the bridge's ``{base}/state``
and the Venus system values, builds a ``Snapshot``, calls ``decide(snap, mem, settings)``,
publishes ``{base}/cmd/current`` (and ``cmd/phases`` when the decision changes phases), tracks
the session, persists user settings and the open session, and publishes ``{base}/control/state``
retained. The setpoint is re-sent at least every ``command_lease_seconds / 3``: the bridge keeps
refreshing the charger only while commands keep arriving, so when this process dies the charger
falls back to its safe current once lease and validity run out (design §6).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Protocol, Tuple, Union

from common.config import reload_on_notice, topics_for
from common.mqtt_link import Connected, Disconnected, Event, Message
from common.schemas import PayloadError, parse_and_validate, parse_json
from common.topics import COMMAND_SCHEMAS, Topics
from control import session as sess
from control.battery_capacity import CapacityLearner
from control.forecast import PvForecaster, site_surplus_w
from control.model import (
    STATUS_TEXT,
    ChargerView,
    Decision,
    ForecastSlot,
    Memory,
    Prices,
    Snapshot,
    UserSettings,
)
from control.settings import CoreSettings
from control.settings_cmd import apply_setting
from control.status import mode3_info
from control.store import Store
from control.tibber import TibberClient, price_at
from control.venus import VenusInput

log = logging.getLogger(__name__)

TICK_S = 1.0
STATE_HEARTBEAT_S = 30.0  # republish control/state at least this often
MEMORY_SAVE_S = 10.0  # timers survive a quick restart (a resumed session keeps charging)
MEMORY_MAX_AGE_S = 300.0
PV_SAVE_S = 900.0
SESSION_SAVE_S = 60.0  # energy is derived from the register, so a late save loses nothing
AMPS_EPSILON = 0.05
REFRESH_SLACK_S = 0.1  # tick jitter must not push a refresh a whole tick late
MIN_CURRENT_A = 6.0

DecideFn = Callable[[Snapshot, Memory, Any], Tuple[Decision, Memory]]


class Link(Protocol):
    """What the runner needs of common.mqtt_link.MqttLink (tests use a fake)."""

    def start(self) -> None: ...
    def stop(self, final: Optional[Tuple[str, str]] = None) -> None: ...
    def subscribe(self, topic: str) -> None: ...
    def publish(
        self, topic: str, payload: Union[str, bytes], retain: bool = False, qos: int = 0
    ) -> bool: ...
    def next_event(self, timeout_s: float) -> Optional[Event]: ...


def _elapsed(now: float, then: float) -> float:
    """Seconds since ``then``; after a backward wall-clock step (NTP) the gap is unknown and
    counts as overdue, so re-sends and saves happen at once instead of an hour later."""
    gap = now - then
    return gap if gap >= 0 else float("inf")


def subscriptions(topics: Topics, venus: VenusInput) -> List[str]:
    return [
        topics.state,
        topics.availability,
        topics.sub("control/set/+"),
        topics.config_changed,
        *venus.subscriptions(),
    ]


def _num(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    f = float(value)
    return f if f == f and abs(f) != float("inf") else None


def charger_view(
    state: Optional[Dict[str, Any]], bridge_online: Optional[bool], age_s: float, stale_s: float
) -> ChargerView:
    """``{base}/state`` as the core sees it; unknown stays None, stale means offline."""
    if state is None:
        return ChargerView(online=False, age_s=age_s)
    lines: List[Dict[str, Any]] = []
    for key in ("l1", "l2", "l3"):
        line = state.get(key)
        lines.append(line if isinstance(line, dict) else {})
    cur = tuple(_num(x.get("current_a")) for x in lines)
    volt = tuple(_num(x.get("voltage_v")) for x in lines)
    info = mode3_info(state.get("mode3") if isinstance(state.get("mode3"), str) else None)
    connected = state.get("vehicle_connected")
    charging = state.get("charging")
    fault = state.get("fault")
    phases = state.get("phases_measured")
    configured = state.get("phases_configured")
    return ChargerView(
        online=bridge_online is not False and state.get("connected") is True and age_s <= stale_s,
        mode3=state.get("mode3") if isinstance(state.get("mode3"), str) else None,
        vehicle_connected=connected if isinstance(connected, bool) else info.connected,
        charging=charging if isinstance(charging, bool) else info.charging,
        fault=fault if isinstance(fault, bool) else info.fault,
        power_w=_num(state.get("power_w")),
        phase_current_a=(cur[0], cur[1], cur[2]),
        phase_voltage_v=(volt[0], volt[1], volt[2]),
        energy_wh=_num(state.get("energy_wh")),
        phases_measured=phases
        if isinstance(phases, int) and not isinstance(phases, bool)
        else None,
        phases_configured=configured if type(configured) is int and configured in (1, 3) else None,
        station_max_current_a=_num(state.get("station_max_current_a")),
        # the bridge says false once the charger refused 1215 (or config disables switching)
        phase_switching_available=state.get("phase_switching") is not False,
        age_s=age_s,
    )


class Runner:
    """One controller for one charger. Constructing it does no I/O; ``run`` does."""

    def __init__(
        self,
        cfg: Dict[str, Any],
        link: Link,
        decide: DecideFn,
        core_settings: Any,
        store: Store,
        venus: VenusInput,
        defaults: UserSettings,
        tibber: Optional[TibberClient] = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.topics = topics_for(cfg)
        self.link = link
        self.decide = decide
        self.core_settings = core_settings
        self.store = store
        self.venus = venus
        self.tibber = tibber
        self.clock = clock
        self._apply_own_settings(cfg)
        self.user = defaults
        self.mem = Memory()
        self.session: Optional[sess.Session] = None
        self._state: Optional[Dict[str, Any]] = None
        self._state_at = 0.0
        self._bridge_online: Optional[bool] = None
        self._sent_amps: Optional[float] = None
        self._sent_at = float("-inf")
        self._sent_phases: Optional[int] = None
        self._last_decision: Optional[Decision] = None
        self._announce_pending = False  # control/availability "online" waits for a state
        self._last_snap: Optional[Snapshot] = None
        self._published: Optional[Dict[str, Any]] = None
        self._published_at = float("-inf")
        self._session_saved_at = float("-inf")
        self._memory_saved: Optional[Memory] = None
        self._memory_saved_at = float("-inf")
        self._decide_failing = False
        self.config_path: Optional[str] = None  # set by __main__: reloaded on config/changed
        self.forecaster = PvForecaster(str(cfg.get("timezone", "Europe/Amsterdam")))
        self.capacity = CapacityLearner()
        self._pv_saved_at = clock()
        self._idle_wh: Optional[float] = None  # meter with no car plugged in (control/session.py)
        self._started_at = clock()

    # --- life cycle ----------------------------------------------------------------------
    def load(self) -> None:
        """Open the store and restore user settings and the open session."""
        self.store.open()
        self.user = self.store.load_settings(self.user)
        self.session = self.store.load_session()
        self.forecaster.load_json(self.store.load_pv_history())
        self.capacity.load_json(self.store.load_battery())
        self._idle_wh = self.store.load_idle_meter()
        mem = self.store.load_memory(self.clock(), MEMORY_MAX_AGE_S)
        if mem is not None:
            self.mem = mem
        if self.session is not None:
            log.info(
                "resuming session started %s (%.3f kWh so far)",
                time.strftime("%Y-%m-%d %H:%M", time.localtime(self.session.start)),
                self.session.energy_wh / 1000.0,
            )
        if self.tibber is not None:
            self.tibber.load_cache()

    def run(self, stop: threading.Event) -> None:
        self.load()
        self.link.start()
        next_tick = time.monotonic()
        while not stop.is_set():
            wait = min(0.5, max(0.0, next_tick - time.monotonic()))
            event = self.link.next_event(wait)
            if event is not None:
                self.handle(event, self.clock())
            if time.monotonic() >= next_tick:
                self.tick(self.clock())
                next_tick = max(next_tick + TICK_S, time.monotonic() - TICK_S)
        self.shutdown()

    def shutdown(self) -> None:
        """Persist and say goodbye; the charger is left to lease + validity (no command)."""
        try:
            self.store.save_session(self.session)
            self.store.save_memory(self.mem, self.clock())
        except OSError as exc:
            log.error("cannot save the open session: %s", exc)
        self.store.close()
        self.link.stop(final=(self.topics.control_availability, "offline"))
        log.info("controller stopped")

    # --- events --------------------------------------------------------------------------
    def handle(self, event: Event, now: float) -> None:
        if isinstance(event, Connected):
            self._on_connected(now)
        elif isinstance(event, Disconnected):
            pass  # MqttLink logs the transition and reconnects by itself
        elif isinstance(event, Message):
            self._on_message(event, now)

    def _on_connected(self, now: float) -> None:
        self.venus.on_connected()
        self._sent_at = float("-inf")  # re-send the setpoint and phases now
        self._sent_phases = None
        self._published = None
        self._keepalive(now)
        # "online" goes out after the next tick's control/state (within a second), as the bridge
        # does with its state: whoever reacts to it must not read the state of a previous run
        self._announce_pending = True

    def _announce(self) -> None:
        if self._announce_pending:
            self._announce_pending = False
            self.link.publish(self.topics.control_availability, "online", retain=True, qos=1)

    def _on_message(self, msg: Message, now: float) -> None:
        t = self.topics
        if msg.topic == t.state:
            self._on_state(msg.payload, now)
        elif msg.topic == t.availability:
            text = msg.payload.decode("utf-8", "replace").strip()
            self._bridge_online = text == "online" if text else None
        elif t.suffix_of(msg.topic).startswith("control/set/"):
            self._on_set(msg.topic, msg.payload, now)
        elif msg.topic == t.config_changed:
            self._on_config_changed(msg.payload)
        elif msg.topic.startswith("N/"):
            for topic in self.venus.on_message(msg.topic, msg.payload, now):
                self.link.subscribe(topic)
            self._keepalive(now)

    def _on_config_changed(self, payload: bytes) -> None:
        """The UI saved the config: re-read it and apply what the controller owns, live."""
        cfg = reload_on_notice(payload, self.config_path, self._started_at)
        if cfg is not None:
            self.apply_config(cfg)

    def apply_config(self, cfg: Dict[str, Any]) -> None:
        """Take over every setting the controller can change without a restart."""
        self.core_settings = CoreSettings.from_config(cfg)
        self._apply_own_settings(cfg)

    def _apply_own_settings(self, cfg: Dict[str, Any]) -> None:
        """The runner's own settings (the core's come in as ``core_settings``)."""
        controls = cfg.get("controls", {})
        self.lease_s = float(controls.get("command_lease_seconds", 90))
        self.ceiling_a = float(controls.get("max_set_current", 64.0))
        self.charger_stale_s = max(10.0, 5 * float(cfg.get("poll_interval_ms", 1000)) / 1000.0)
        pricing = cfg.get("pricing", {})
        self.price_source = str(pricing.get("source", "static"))
        if self.price_source == "victron":  # accepted from the old driver's files
            log.warning(
                "pricing.source 'victron' reads no price from the GX yet: session cost "
                "uses pricing.static_rate_eur_per_kwh"
            )
        self.static_rate = float(pricing.get("static_rate_eur_per_kwh", 0.25))
        self.currency = str(pricing.get("currency", "EUR"))
        self.min_power_w = float(cfg.get("session", {}).get("min_power_w", 100))

    def _on_state(self, payload: bytes, now: float) -> None:
        if not payload:
            self._state = None
            return
        try:
            value = parse_json(payload)
        except PayloadError as exc:
            log.debug("ignoring unreadable charger state: %s", exc)
            return
        if isinstance(value, dict):
            self._state, self._state_at = value, now

    def _on_set(self, topic: str, payload: bytes, now: float) -> None:
        suffix = self.topics.suffix_of(topic)
        what = suffix[len("control/set/") :]
        schema = COMMAND_SCHEMAS.get(suffix)
        try:
            if schema is None:
                raise PayloadError(f"unknown setting {what!r}")
            user = apply_setting(
                self.user, what, parse_and_validate(schema, payload), self.ceiling_a
            )
        except (PayloadError, ValueError, KeyError) as exc:
            self._reject(topic, payload, str(exc), now)
            return
        if user != self.user:
            log.info("user setting %s: %s", what, payload.decode("utf-8", "replace"))
            self.user = user
            try:
                self.store.save_settings(user)
            except OSError as exc:
                log.error("cannot save settings: %s", exc)
        self.tick(now)  # answer at once: new decision and control/state

    def _reject(self, topic: str, payload: bytes, error: str, now: float) -> None:
        log.warning("rejected %s: %s", topic, error)
        body = {
            "topic": topic,
            "payload": payload.decode("utf-8", "replace")[:1000],
            "error": error,
            "source": "control",
            "ts": now,
        }
        self.link.publish(self.topics.error, json.dumps(body))

    # --- the 1 Hz step -------------------------------------------------------------------
    def snapshot(self, now: float) -> Snapshot:
        # a backward clock step makes the age negative: a state arrives every poll, so call it new
        age = max(0.0, now - self._state_at) if self._state is not None else float("inf")
        view = charger_view(self._state, self._bridge_online, age, self.charger_stale_s)
        capacity_kwh = self.capacity.kwh
        forecast = self._forecast(now, capacity_kwh)
        return Snapshot(
            now,
            view,
            self.venus.site(now),
            self.prices(now),
            self.user,
            pv_forecast=forecast,
            battery_capacity_kwh=capacity_kwh,
        )

    def _forecast(self, now: float, learned_kwh: Optional[float]) -> Tuple[ForecastSlot, ...]:
        """The PV forecast when SCHEDULED or AUTO's battery check wants it."""
        s = self.core_settings
        if not isinstance(s, CoreSettings):  # tests pass fakes
            return ()
        wants = s.pv_forecast or s.check_capacity_kwh(learned_kwh) is not None
        return self.forecaster.quarter_hour_forecast(now) if wants else ()

    def prices(self, now: float) -> Prices:
        if self.tibber is not None:
            return self.tibber.prices(now)
        return Prices(source="static")

    def tick(self, now: float) -> None:
        self._keepalive(now)
        if self.tibber is not None:
            self.tibber.poll(now)
        snap = self.snapshot(now)
        try:
            decision, mem = self.decide(snap, self.mem, self.core_settings)
        except Exception:  # the core is pure: a bug there must not take the process down
            if not self._decide_failing:
                log.exception("the core failed; not commanding (the charger falls back to safe)")
            self._decide_failing = True
            self._announce()  # alive, though without a state to go with it
            return
        if self._decide_failing:
            log.info("the core decides again")
        self._decide_failing = False
        self.mem = mem
        self._last_decision, self._last_snap = decision, snap
        self._command(decision, now)
        self._track_session(snap, now)
        self._publish_state(decision, snap, now)
        self._save_memory(now)
        self._learn_pv(snap, now)

    def _learn_pv(self, snap: Snapshot, now: float) -> None:
        """Feed the PV forecast and the battery's capacity (AUTO's battery check, SCHEDULED) with
        what the site did; saved every 15 minutes."""
        if not snap.site.fresh:
            self.capacity.record(now, None, None)
            return
        self.capacity.record(now, snap.site.battery_soc, snap.site.battery_power_w)
        ev_w = snap.charger.power_w if snap.charger.online else 0.0
        self.forecaster.record(
            now, site_surplus_w(snap.site.pv_power_w, snap.site.consumption_w, ev_w)
        )
        if _elapsed(now, self._pv_saved_at) >= PV_SAVE_S:
            try:
                self.store.save_pv_history(self.forecaster.to_json())
                self.store.save_battery(self.capacity.to_json())
            except OSError as exc:
                log.error("cannot save the PV history and battery capacity: %s", exc)
            self._pv_saved_at = now

    def _save_memory(self, now: float) -> None:
        if self.mem == self._memory_saved or _elapsed(now, self._memory_saved_at) < MEMORY_SAVE_S:
            return
        try:
            self.store.save_memory(self.mem, now)
        except (OSError, TypeError, ValueError) as exc:
            log.error("cannot save the controller memory: %s", exc)
        self._memory_saved, self._memory_saved_at = self.mem, now

    def _keepalive(self, now: float) -> None:
        due = self.venus.keepalive_due(now)
        if due is not None and self.link.publish(due[0], due[1]):
            self.venus.keepalive_sent(now)

    def _command(self, d: Decision, now: float) -> None:
        t = self.topics
        amps = round(max(0.0, min(float(d.amps), self.user.max_current_a, self.ceiling_a)), 2)
        changed = self._sent_amps is None or abs(amps - self._sent_amps) >= AMPS_EPSILON
        # lease/3: two refreshes may get lost before the bridge lets the setpoint lapse
        if (
            changed or _elapsed(now, self._sent_at) >= self.lease_s / 3.0 - REFRESH_SLACK_S
        ) and self.link.publish(t.cmd_current, json.dumps({"amps": amps})):
            if changed:
                log.info("setpoint %.2f A (%s)", amps, d.reason)
            self._sent_amps, self._sent_at = amps, now
        if d.phases in (1, 3) and d.phases != self._sent_phases:
            if self.link.publish(t.cmd_phases, json.dumps({"phases": d.phases})):
                log.info("phases %d (%s)", d.phases, d.reason)
                self._sent_phases = d.phases

    def _track_session(self, snap: Snapshot, now: float) -> None:
        c = snap.charger
        if not c.online:
            return  # unknown is not "unplugged": keep the session open
        price = self.session_price(snap.prices, now)
        reading = sess.Reading(now, c.vehicle_connected, c.energy_wh, c.power_w, price, snap.site)
        before = self.session
        self.session, ended = sess.update(
            self.session, reading, self.min_power_w, idle_energy_wh=self._idle_wh
        )
        self._note_idle_meter(c)
        try:
            if ended is not None:
                log.info("session ended: %.3f kWh", ended.energy_wh / 1000.0)
                self.store.add_history(ended)
            if before is None and self.session is not None:
                log.info("session started (vehicle plugged in)")
            if (before is None) != (self.session is None) or (
                _elapsed(now, self._session_saved_at) >= SESSION_SAVE_S
            ):
                self.store.save_session(self.session)
                self._session_saved_at = now
        except Exception as exc:  # OSError or sqlite3.Error: log, keep controlling
            log.error("cannot persist the session: %s", exc)

    def _note_idle_meter(self, c: ChargerView) -> None:
        """Remember (and persist, on change) the meter while no car is plugged in."""
        if c.vehicle_connected or c.energy_wh is None:
            return
        if self._idle_wh is not None and abs(c.energy_wh - self._idle_wh) < 1.0:
            return
        self._idle_wh = c.energy_wh
        try:
            self.store.save_idle_meter(c.energy_wh)
        except OSError as exc:
            log.error("cannot save the idle meter reading: %s", exc)

    def session_price(self, prices: Prices, now: float) -> Optional[float]:
        if self.price_source == "tibber":
            slot_price = price_at(prices, now)
            if slot_price is not None:
                return slot_price
        return self.static_rate

    def control_state(self, d: Decision, snap: Snapshot, now: float) -> Dict[str, Any]:
        u = self.user
        phases = self._sent_phases or d.phases or self.mem.phases
        return {
            "ts": round(now, 3),
            "mode": int(u.mode),
            "mode_name": u.mode.name.lower(),
            "enabled": u.enabled,
            "auto_start": u.auto_start,
            "set_current_a": u.set_current_a,
            "max_current_a": u.max_current_a,
            "min_current_a": MIN_CURRENT_A,
            "commanded_current_a": self._sent_amps if self._sent_amps is not None else 0.0,
            "commanded_phases": phases,
            "status": int(d.status),
            "status_text": STATUS_TEXT.get(int(d.status), str(int(d.status))),
            "reason": d.reason,
            "session": sess.summary(self.session, now, self.currency),
            "price_now": self.session_price(snap.prices, now),
            "plan": [
                {"start": s.start, "end": s.end, "price": s.price, "charge": True} for s in d.plan
            ],
            "deadline": None
            if u.deadline is None
            else {"energy_kwh": u.deadline[0], "by": u.deadline[1]},
            "inputs_ok": snap.site.fresh and snap.charger.online,
            "battery_check": self._battery_check(d, snap),
        }

    def _battery_check(self, d: Decision, snap: Snapshot) -> Optional[Dict[str, Any]]:
        """What AUTO's battery check works with, so a user can see the capacity it learned."""
        s = self.core_settings
        if not isinstance(s, CoreSettings):  # tests pass fakes
            return None
        capacity = s.check_capacity_kwh(snap.battery_capacity_kwh)
        if capacity is None:
            return None
        fills = d.details.get("battery_fills")
        return {
            "capacity_kwh": round(capacity, 2),
            "learned": s.battery_capacity_kwh is None,
            "fills": fills if isinstance(fills, bool) else None,
        }

    def _publish_state(self, d: Decision, snap: Snapshot, now: float) -> None:
        body = self.control_state(d, snap, now)
        same = self._published is not None and {**body, "ts": 0} == {**self._published, "ts": 0}
        if same and _elapsed(now, self._published_at) < STATE_HEARTBEAT_S:
            return
        if self.link.publish(self.topics.control_state, json.dumps(body), retain=True, qos=1):
            self._published, self._published_at = body, now
        self._announce()
