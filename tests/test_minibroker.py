"""The demo's embedded broker does what our clients need: retained, wildcards, will, QoS 0/1."""

from __future__ import annotations

import socket
import struct
import time
from typing import Iterator

import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from demo.minibroker import CONNECT, mqtt_str, packet, topic_matches
from tests.helpers import Probe, Proc, free_port, wait_until


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    p = free_port()
    proc = Proc("demo.minibroker", "--port", str(p), log_dir=tmp_path_factory.mktemp("mb")).start()
    wait_until(lambda: _answers(p), 10)
    yield p
    assert proc.stop() == 0, proc.log()


def _answers(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("flt", "topic", "hit"),
    [
        ("a/b", "a/b", True),
        ("a/+", "a/b", True),
        ("a/+", "a/b/c", False),
        ("a/#", "a", True),
        ("a/#", "a/b/c", True),
        ("+/+/system/0/Serial", "N/x/system/0/Serial", True),
        ("#", "$SYS/broker", False),
        ("a/b", "a/c", False),
    ],
)
def test_topic_matching(flt: str, topic: str, hit: bool) -> None:
    assert topic_matches(flt, topic) is hit


def test_retained_with_wildcards_and_deletion(port: int) -> None:
    pub = Probe(port, ())
    pub.publish("r/1/state", "one", retain=True)
    pub.publish("r/2/state", "two", retain=True)
    late = Probe(port, ("r/+/state",))
    try:
        wait_until(lambda: late.text("r/1/state") == "one" and late.text("r/2/state") == "two", 5)
        assert all(r for _t, _p, r in late.messages)
        pub.publish("r/1/state", "", retain=True)  # deletes
        later = Probe(port, ("r/#",))
        wait_until(lambda: later.text("r/2/state") == "two", 5)
        assert later.text("r/1/state") is None
        later.close()
    finally:
        pub.close()
        late.close()


def test_qos1_round_trip(port: int) -> None:
    got = []
    sub = paho.Client(CallbackAPIVersion.VERSION2, client_id="qos-sub")
    sub.on_message = lambda _c, _u, m: got.append((m.topic, m.payload, m.qos))
    sub.connect("127.0.0.1", port)
    sub.subscribe("q/#", qos=1)
    sub.loop_start()
    pub = paho.Client(CallbackAPIVersion.VERSION2, client_id="qos-pub")
    pub.connect("127.0.0.1", port)
    pub.loop_start()
    try:
        wait_until(lambda: sub.is_connected() and pub.is_connected(), 5)
        time.sleep(0.2)  # the SUBSCRIBE is processed
        info = pub.publish("q/x", b"hello", qos=1)
        info.wait_for_publish(5)  # PUBACK came back
        assert info.is_published()
        wait_until(lambda: got, 5)
        assert got[0] == ("q/x", b"hello", 1)
    finally:
        for c in (sub, pub):
            c.loop_stop()
            c.disconnect()


def _raw_connect(port: int, client_id: str, will_topic: str, will: bytes) -> socket.socket:
    flags = 0x02 | 0x04 | 0x20  # clean session, will, will retain
    body = mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 30) + mqtt_str(client_id)
    body += mqtt_str(will_topic) + struct.pack("!H", len(will)) + will
    s = socket.create_connection(("127.0.0.1", port), 5)
    s.sendall(packet(CONNECT, 0, body))
    assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK accepted
    return s


def test_last_will_on_a_vanished_client_not_on_disconnect(port: int) -> None:
    watcher = Probe(port, ("w/#",))
    try:
        s = _raw_connect(port, "dies", "w/dies/availability", b"offline")
        s.close()  # no DISCONNECT: the will goes out, retained
        wait_until(lambda: watcher.text("w/dies/availability") == "offline", 5)
        s = _raw_connect(port, "polite", "w/polite/availability", b"offline")
        s.sendall(b"\xe0\x00")  # DISCONNECT: no will
        s.close()
        time.sleep(0.5)
        assert watcher.text("w/polite/availability") is None
        late = Probe(port, ("w/#",))
        wait_until(lambda: late.text("w/dies/availability") == "offline", 5)
        late.close()
    finally:
        watcher.close()
