"""The bridge's loop: poll the charger, publish its state, apply setpoints from MQTT.

One thread does all the work; paho's network thread only enqueues (common/mqtt_link.py). Each
poll reads the blocks computed from the register table (3 requests), sanitises implausible
values to unknown, lets the SetpointKeeper decide what to write, and publishes ``{base}/state``
on change plus a heartbeat.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Dict, Optional

from bridge import codec
from bridge.ha_discovery import Announcer, HaSettings
from bridge.modbus_link import ChargerRejected, ChargerUnavailable, ModbusLink
from bridge.registers import IDENTITY_BLOCKS, PHASES, POLL_BLOCKS, SETPOINT, Device
from bridge.sanitize import Sanitizer
from bridge.setpoint import KeeperSettings, Readings, SetpointKeeper, WriteCurrent, WritePhases
from bridge.state import ChargerState, CommandStatus, info_payload, measured_phases, to_payload
from common.clock import SYSTEM_CLOCK, Clock
from common.config import reload_on_notice
from common.evcs import finite_number
from common.inbound import Inbox, LogLimiter, error_body
from common.mqtt_link import Connected, Message, MqttLink
from common.schemas import PayloadError, parse_command
from common.topics import Topics

log = logging.getLogger("bridge")

STATUS_BLOCK = next(
    b
    for b in POLL_BLOCKS
    if b.device is Device.SOCKET and b.start <= SETPOINT.address < b.start + b.count
)
HEARTBEAT_S = 30.0  # republish an unchanged state this often
RECONNECT_MAX_S = 5.0  # cap of the back-off after attempts that hung (timeouts)
QUICK_FAILURE_S = 0.5  # a connect that failed faster than this was refused: retry next poll
ILLEGAL_VALUE = 3


class Bridge:
    def __init__(
        self,
        cfg: Dict[str, Any],
        link: ModbusLink,
        mqtt: MqttLink,
        topics: Topics,
        clock: Clock = SYSTEM_CLOCK,
        config_path: Optional[str] = None,
    ) -> None:
        self.link, self.mqtt, self.topics, self.clock = link, mqtt, topics, clock
        self.config_path = config_path  # re-read on {base}/config/changed
        self.phases_refused = False  # the charger answered exception 3 on 1215
        self.command_wall_at: Optional[float] = None  # published as command.at (unix time)
        self.started_at = clock.wall()
        self.keeper = SetpointKeeper(KeeperSettings.from_config(cfg))
        self.apply_config(cfg)
        self.sanitizer = Sanitizer()
        self.values: Dict[str, codec.Value] = {}
        self.identity: Dict[str, codec.Value] = {}
        self.online = False
        self._availability_due = False  # set_online changed it: publish_state announces it
        self.reconnect_at = 0.0
        self.backoff_s = self.poll_s
        self.last_state_json: Optional[str] = None
        self.last_state_at = 0.0
        self.down_since: Optional[float] = None
        self.polls = 0
        self.ha = Announcer(HaSettings.from_config(cfg), topics)
        self.info: Optional[Dict[str, Any]] = None
        self.ha_max_a: Optional[float] = None
        # The bridge acts on cmd/*: a retained one there is stale and cleared.
        self.inbox = Inbox(
            "bridge",
            topics,
            lambda topic, payload, retain: mqtt.publish(topic, payload, retain=retain),
            consumes=lambda topic: topics.suffix_of(topic).startswith("cmd/"),
        )
        self._loop_errors = LogLimiter()
        # One setpoint write per poll cycle (from one poll to the next), whoever asks for it: the
        # first command of a cycle is written at once, the rest of a burst waits for the next
        # poll, which writes the newest value.
        self._wrote_this_cycle = False

    def apply_config(self, cfg: Dict[str, Any]) -> None:
        """Take over every setting the bridge can change live; the charger's address too."""
        self.cfg = cfg
        self.keeper.s = KeeperSettings.from_config(cfg)
        self.poll_s = cfg["poll_interval_ms"] / 1000.0
        self.verify_delay_s = float(cfg["controls"]["verification_delay"])
        new_link = ModbusLink.from_config(cfg)
        if (new_link.host, new_link.port, new_link.units) != (
            self.link.host,
            self.link.port,
            self.link.units,
        ):
            log.info("charger address changed to %s:%s; reconnecting", new_link.host, new_link.port)
            self.link.close()
            self.link.host, self.link.port, self.link.units = (
                new_link.host,
                new_link.port,
                new_link.units,
            )
        self.link.timeout_s = new_link.timeout_s

    @property
    def phase_switching(self) -> bool:
        return bool(self.cfg["controls"]["phase_switching"]) and not self.phases_refused

    def reload_config(self, payload: bytes) -> None:
        """Handle the UI's retained config/changed notice (MQTT settings apply after a restart)."""
        cfg = reload_on_notice(payload, self.config_path, self.started_at)
        if cfg is not None:
            self.apply_config(cfg)

    # ---- main loop ---------------------------------------------------------------------
    def run(self, stop: threading.Event) -> None:
        next_poll = self.clock.monotonic()
        while not stop.is_set():
            wait = next_poll - self.clock.monotonic()
            event = self.mqtt.next_event(min(max(wait, 0.0), 0.5)) if wait > 0 else None
            if event is not None:
                self._safely(self.handle_event, event)
            # polls go on between messages: a flood of them must not starve the charger
            if self.clock.monotonic() >= next_poll:
                self._safely(self.poll_once)
                next_poll += self.poll_s
                if next_poll < self.clock.monotonic():  # fell behind (slow charger): don't burst
                    next_poll = self.clock.monotonic() + self.poll_s

    def _safely(self, fn: Callable[..., None], *args: Any) -> None:
        try:
            fn(*args)
        except Exception:  # the loop must survive anything; log it with the traceback
            name = getattr(fn, "__name__", "step")
            if self._loop_errors.allow(name, self.clock.monotonic()):
                log.exception("unexpected error in %s; carrying on", name)

    # ---- MQTT --------------------------------------------------------------------------
    def handle_event(self, event: object) -> None:
        if isinstance(event, Connected):
            self.ha.forget()
            self.publish_all()
        elif isinstance(event, Message) and event.topic == self.ha.settings.status_topic:
            if event.payload.strip() == b"online":  # HA (re)started: it needs discovery again
                self.publish_ha(force=True)
        elif isinstance(event, Message):
            self.inbox.deliver(self.handle_message, event, self.clock.wall())

    def handle_message(self, msg: Message) -> None:
        if msg.topic == self.topics.config_changed:
            self.reload_config(msg.payload)
        else:
            self.handle_command(msg.topic, msg.payload)

    def handle_command(self, topic: str, payload: bytes) -> None:
        suffix = self.topics.suffix_of(topic)
        schema = {"cmd/current": "cmd_current", "cmd/phases": "cmd_phases"}.get(suffix)
        if schema is None:
            return
        try:
            body = parse_command(schema, payload)
            if suffix == "cmd/phases" and not self.phase_switching:
                raise PayloadError(
                    "phase switching is not available on this charger "
                    "(disabled in config or refused by the charger)"
                )
        except PayloadError as exc:
            self.reject(topic, payload, str(exc))
            return
        # the keeper's timers run on elapsed time: NTP steps can't stretch a lease
        now = self.clock.monotonic()
        self.command_wall_at = self.clock.wall()
        if suffix == "cmd/current":
            self.keeper.command_current(float(body["amps"]), now)
            log.debug("command: %s A", body["amps"])
        else:
            log.info("command: switch to %s phase(s)", body["phases"])
            self.keeper.command_phases(int(body["phases"]), now)
        # Act now rather than at the next poll (command → write latency), unless this poll
        # cycle already wrote: a burst then costs one write per poll, of the newest value.
        if self.online and not self._wrote_this_cycle:
            self.apply_setpoint(now)
            self.publish_state(force=True)

    def reject(self, topic: str, payload: bytes, reason: str) -> None:
        self.inbox.reject(Message(topic, payload, False), reason, self.clock.wall())

    def publish_all(self) -> None:
        """Everything retained, after a (re)connect to the broker; the availability goes out
        after the state, as when it changes."""
        if self.identity:
            self.publish_info()
        self._availability_due = True
        self.publish_state(force=True)

    def publish_info(self) -> None:
        info = info_payload(self.identity, self.link.units[Device.SOCKET], self.phase_switching)
        self.mqtt.publish(self.topics.info, json.dumps(info), retain=True)
        self.info = info
        self.publish_ha()

    def publish_ha(self, force: bool = False) -> None:
        """Home Assistant discovery (bridge/ha_discovery.py): what changed, or all if forced."""
        station = self._station_max()
        self.ha_max_a = station
        ceiling = float(self.cfg["controls"]["max_set_current"])
        max_a = min(station if station is not None else self._default_max(), ceiling)
        for topic, payload in self.ha.plan(self.info, max_a, force):
            self.mqtt.publish(topic, payload, retain=True)

    def _default_max(self) -> float:
        return float(self.cfg["defaults"]["station_max_current"])

    def publish_state(self, force: bool = False) -> None:
        """The state when it changed (or on the heartbeat), then the availability if it is
        due: whoever reacts to "online" or "offline" already has the state that goes with it."""
        now = self.clock.wall()
        payload = to_payload(self.snapshot(now))
        body = json.dumps({k: v for k, v in payload.items() if k != "ts"}, sort_keys=True)
        due = force or body != self.last_state_json or now - self.last_state_at >= HEARTBEAT_S
        if due and self.mqtt.publish(self.topics.state, json.dumps(payload), retain=True):
            self.last_state_json, self.last_state_at = body, now
        if self._availability_due:
            self._availability_due = False
            self.mqtt.publish(
                self.topics.availability, "online" if self.online else "offline", retain=True
            )

    def snapshot(self, now: float) -> ChargerState:
        k = self.keeper
        mono = self.clock.monotonic()
        cmd = CommandStatus(
            amps=k.target_amps(self._station_max()),
            phases=k.phase_target,
            accepted=k.accepted,
            at=self.command_wall_at,
            lease_s_left=k.lease_left(mono),
            refreshing=k.refreshing(mono),
            reason=k.note,
        )
        values = self.values if self.online else {}
        return ChargerState.from_values(now, self.online, values, cmd, self.phase_switching)

    # ---- Modbus ------------------------------------------------------------------------
    def poll_once(self) -> None:
        now = self.clock.monotonic()  # for the keeper (see handle_command)
        self._wrote_this_cycle = False  # a new poll cycle: one setpoint write allowed again
        if not self.link.connected:
            if self.clock.monotonic() < self.reconnect_at:
                return
            if not self.connect():
                return
        try:
            values: Dict[str, codec.Value] = {}
            for block in POLL_BLOCKS:
                values.update(self.link.read_block(block))
        except (ChargerUnavailable, ChargerRejected) as exc:
            self.lost(str(exc))
            return
        self.polls += 1
        self.values = self.sanitizer.clean(values)
        self.set_online(True)
        if self._station_max() != self.ha_max_a:  # HA's current slider follows the station max
            self.publish_ha()
        self.check_phases()
        self.apply_setpoint(now)
        self.publish_state()

    def connect(self) -> bool:
        started = self.clock.monotonic()
        try:
            self.link.connect()
            identity: Dict[str, codec.Value] = {}
            for block in IDENTITY_BLOCKS:
                identity.update(self.link.read_block(block))
            station = self.link.read_block(
                next(b for b in POLL_BLOCKS if b.device is Device.STATION)
            )
            identity["sockets"] = station.get("sockets")
        except (ChargerUnavailable, ChargerRejected) as exc:
            self.link.close()
            self.lost(str(exc), quick=self.clock.monotonic() - started < QUICK_FAILURE_S)
            return False
        self.identity = identity
        self.backoff_s = self.poll_s
        self.publish_info()
        return True

    def lost(self, why: str, quick: bool = False) -> None:
        """Mark the charger unreachable and plan the next attempt.

        A refused connection costs nothing, so it is retried every poll: a charger that comes
        back is online within one poll. An attempt that hung (timeout) blocks this loop, so
        those back off exponentially up to RECONNECT_MAX_S."""
        if quick:
            self.reconnect_at = self.clock.monotonic() + self.poll_s
        else:
            self.reconnect_at = self.clock.monotonic() + self.backoff_s
            self.backoff_s = min(self.backoff_s * 2, max(RECONNECT_MAX_S, self.poll_s))
        if self.online or self.down_since is None:
            log.error(
                "charger %s:%s unreachable: %s; retrying with back-off up to %.0f s",
                self.link.host,
                self.link.port,
                why,
                RECONNECT_MAX_S,
            )
            self.down_since = self.clock.wall()
        else:
            log.debug("charger still unreachable: %s", why)
        self.set_online(False)
        self.publish_state()

    def set_online(self, online: bool) -> None:
        """Record whether the charger answers; a change is announced by the next
        ``publish_state``, after the state that goes with it."""
        if online and not self.online and self.down_since is not None:
            log.info(
                "charger %s:%s reachable again after %.0f s",
                self.link.host,
                self.link.port,
                self.clock.wall() - self.down_since,
            )
            self.down_since = None
        if online != self.online:
            self.online = online
            self._availability_due = True

    def _station_max(self) -> Optional[float]:
        return finite_number(self.values.get("station_max_current"))

    def readings(self) -> Readings:
        v = self.values
        currents = [
            f for f in (finite_number(v.get(f"current_l{i}")) for i in (1, 2, 3)) if f is not None
        ]
        accounted = v.get("setpoint_accounted")
        return Readings(
            setpoint_a=finite_number(v.get("setpoint")),
            validity_s=v.get("validity_remaining"),  # type: ignore[arg-type]
            accounted=None if accounted is None else accounted == 1,
            station_max_a=self._station_max(),
            max_phase_current_a=max(currents) if currents else None,
        )

    def apply_setpoint(self, now: float) -> None:
        """At most one write per poll cycle, whatever asks for it (poll or command)."""
        if self._wrote_this_cycle:
            return
        action = self.keeper.next_action(now, self.readings())
        if action is not None:
            self._wrote_this_cycle = True
        if isinstance(action, WriteCurrent):
            self.write_current(action, now)
        elif isinstance(action, WritePhases):
            self.write_phases(action.phases, now)

    def write_current(self, action: WriteCurrent, now: float) -> None:
        log.debug("writing %s A to 1210 (%s)", action.amps, action.why)
        try:
            self.link.write(SETPOINT, action.amps)
            self.keeper.wrote_current(action.amps, now)
            if self.verify_delay_s:
                self.clock.sleep(self.verify_delay_s)
            self.values.update(self.sanitizer.clean_partial(self.link.read_block(STATUS_BLOCK)))
        except ChargerRejected as exc:
            self.keeper.failed(now, str(exc))
            log.warning("charger refused setpoint %s A: %s", action.amps, exc)
            return
        except ChargerUnavailable as exc:
            self.keeper.failed(now, str(exc))
            self.lost(str(exc))
            return
        if self.keeper.verified(action.amps, self.readings()):
            level = logging.INFO if action.why == "new setpoint" else logging.DEBUG
            log.log(level, "setpoint %s A written and accepted (%s)", action.amps, action.why)
        else:
            self.keeper.failed(
                now,
                f"read-back {self.values.get('setpoint')} A, 1214={self.values.get('setpoint_accounted')}",
            )
            log.warning(
                "setpoint %s A not confirmed by read-back: %s", action.amps, self.keeper.note
            )

    def check_phases(self) -> None:
        """After a switch, trust the phase currents, not 1215 (unreliable on some firmware)."""
        k = self.keeper
        measured = measured_phases(
            tuple(finite_number(self.values.get(f"current_l{i}")) for i in (1, 2, 3))
        )
        if k.phase_target is None or k.phase_stage is not None or measured is None:
            return
        if measured != k.phase_target:
            note = (
                f"phase switch not applied: charging on {measured} phase(s), not {k.phase_target}"
            )
            if k.note != note:
                log.warning("%s", note)
            k.note = note

    def write_phases(self, phases: int, now: float) -> None:
        try:
            self.link.write(PHASES, phases)
        except ChargerRejected as exc:
            self.keeper.phases_refused()
            if exc.code == ILLEGAL_VALUE:
                self.phases_refused = True
                self.publish_info()
                why = (
                    "charger refused 1215 with exception 3: enable 'Allow 1- and 3-phased "
                    "charging' in the Alfen service installer; phase switching disabled"
                )
            else:
                why = f"charger refused the phase change: {exc}"
            log.error("%s", why)
            payload = json.dumps({"phases": phases}).encode()
            self.mqtt.publish(
                self.topics.error,
                error_body(self.topics.cmd_phases, payload, why, "bridge", self.clock.wall()),
            )
            return
        except ChargerUnavailable as exc:
            self.lost(str(exc))
            return
        log.info("wrote %s phase(s) to 1215; resuming after the settle time", phases)
        self.keeper.wrote_phases(now)
