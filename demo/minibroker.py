"""A small MQTT 3.1.1 broker for the demo when neither a local broker nor mosquitto exists.

``python -m demo.minibroker --port 1883``. Pure Python (asyncio), no dependencies, enough for
this project's own clients (paho-mqtt 2, MQTT 3.1/3.1.1): retained messages (an empty retained
payload deletes), ``+``/``#`` wildcards (``$``-topics are not matched by a leading wildcard),
last will (sent when a client vanishes without DISCONNECT or misses its keepalive), QoS 0 and 1
(QoS 2 is acknowledged and delivered once, downgraded to 1). No persistence, no auth, no
MQTT 5: it is a demo broker on loopback, not a production one (use mosquitto or the GX's).

amqtt was considered: 0.12 needs Python ≥ 3.10 and pulls compiled wheels (argon2-cffi,
pydantic-core, psutil), which a GX or a bare 3.9 machine cannot build.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import struct
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

log = logging.getLogger("minibroker")

CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP = 1, 2, 3, 4, 5, 6, 7
SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT = 8, 9, 10, 11, 12, 13, 14
MAX_PACKET = 1 << 20  # our payloads are a few kB; refuse anything silly


class ProtocolError(Exception):
    pass


def topic_matches(pattern: str, topic: str) -> bool:
    """MQTT filter matching: ``+`` one level, ``#`` the rest (including the parent level)."""
    if topic.startswith("$") and pattern[:1] in ("+", "#"):
        return False
    pat, top = pattern.split("/"), topic.split("/")
    for i, p in enumerate(pat):
        if p == "#":
            return True
        if i >= len(top) or (p != "+" and p != top[i]):
            return False
    return len(pat) == len(top)


def encode_length(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(ptype: int, flags: int, body: bytes) -> bytes:
    return bytes([(ptype << 4) | flags]) + encode_length(len(body)) + body


def mqtt_str(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("!H", len(raw)) + raw


class Reader:
    """Cursor over one packet body."""

    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def u8(self) -> int:
        self._need(1)
        self.pos += 1
        return self.data[self.pos - 1]

    def u16(self) -> int:
        self._need(2)
        self.pos += 2
        return int(struct.unpack("!H", self.data[self.pos - 2 : self.pos])[0])

    def raw(self) -> bytes:
        n = self.u16()
        self._need(n)
        self.pos += n
        return self.data[self.pos - n : self.pos]

    def text(self) -> str:
        try:
            return self.raw().decode()
        except UnicodeDecodeError as exc:
            raise ProtocolError("string is not UTF-8") from exc

    def rest(self) -> bytes:
        return self.data[self.pos :]

    def more(self) -> bool:
        return self.pos < len(self.data)

    def _need(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise ProtocolError("packet too short")


@dataclass
class Session:
    client_id: str
    writer: asyncio.StreamWriter
    subs: Dict[str, int] = field(default_factory=dict)  # filter -> granted QoS
    will: Optional[Tuple[str, bytes, int, bool]] = None
    next_id: int = 0

    def packet_id(self) -> int:
        self.next_id = self.next_id % 65535 + 1
        return self.next_id


class MiniBroker:
    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        self.host, self.port = host, port
        self.sessions: Dict[str, Session] = {}
        self.retained: Dict[str, Tuple[bytes, int]] = {}
        self.server: Optional[asyncio.AbstractServer] = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._client, self.host, self.port)
        sock = self.server.sockets[0] if self.server.sockets else None
        if sock is not None:
            self.port = int(sock.getsockname()[1])
        log.info("MQTT broker listening on %s:%s", self.host, self.port)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
        for s in list(self.sessions.values()):
            s.writer.close()

    # ---- one connection ------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        session: Optional[Session] = None
        clean_exit = False
        try:
            ptype, _f, body = await asyncio.wait_for(read_packet(reader), 10)
            if ptype != CONNECT:
                raise ProtocolError("first packet is not CONNECT")
            session, keepalive_s = self._connect(Reader(body), writer)
            if session is None:
                return
            timeout = keepalive_s * 1.5 if keepalive_s else None
            while True:
                ptype, flags, body = await asyncio.wait_for(read_packet(reader), timeout)
                if ptype == DISCONNECT:
                    clean_exit = True
                    return
                await self._handle(session, ptype, flags, Reader(body))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError, ProtocolError):
            pass
        finally:
            if session is not None and self.sessions.get(session.client_id) is session:
                del self.sessions[session.client_id]
                if not clean_exit and session.will is not None:
                    topic, payload, qos, retain = session.will
                    self.route(topic, payload, qos, retain)
            writer.close()

    def _connect(self, r: Reader, writer: asyncio.StreamWriter) -> Tuple[Optional[Session], int]:
        name, level = r.text(), r.u8()
        if name not in ("MQTT", "MQIsdp") or level not in (3, 4):
            writer.write(packet(CONNACK, 0, b"\x00\x01"))  # unacceptable protocol version
            return None, 0
        flags, keepalive_s = r.u8(), r.u16()
        client_id = r.text() or f"anon-{id(writer)}"
        will = None
        if flags & 0x04:
            topic, payload = r.text(), r.raw()
            will = (topic, payload, (flags >> 3) & 3, bool(flags & 0x20))
        old = self.sessions.pop(client_id, None)
        if old is not None:  # a client id takes over: the old connection goes, without its will
            old.will = None
            old.writer.close()
        session = Session(client_id, writer, will=will)
        self.sessions[client_id] = session
        writer.write(packet(CONNACK, 0, b"\x00\x00"))
        return session, keepalive_s

    async def _handle(self, s: Session, ptype: int, flags: int, r: Reader) -> None:
        if ptype == PUBLISH:
            qos, retain = (flags >> 1) & 3, bool(flags & 1)
            topic = r.text()
            pid = r.u16() if qos else 0
            if qos == 1:
                s.writer.write(packet(PUBACK, 0, struct.pack("!H", pid)))
            elif qos == 2:
                s.writer.write(packet(PUBREC, 0, struct.pack("!H", pid)))
            self.route(topic, r.rest(), min(qos, 1), retain)
        elif ptype == PUBREL:
            s.writer.write(packet(PUBCOMP, 0, struct.pack("!H", r.u16())))
        elif ptype == SUBSCRIBE:
            pid, granted, new = r.u16(), bytearray(), []
            while r.more():
                flt, qos = r.text(), min(r.u8() & 3, 1)
                s.subs[flt] = qos
                granted.append(qos)
                new.append(flt)
            s.writer.write(packet(SUBACK, 0, struct.pack("!H", pid) + bytes(granted)))
            for topic, (payload, qos) in list(self.retained.items()):
                sub_qos = max((s.subs[f] for f in new if topic_matches(f, topic)), default=-1)
                if sub_qos >= 0:
                    self.deliver(s, topic, payload, min(qos, sub_qos), True)
        elif ptype == UNSUBSCRIBE:
            pid = r.u16()
            while r.more():
                s.subs.pop(r.text(), None)
            s.writer.write(packet(UNSUBACK, 0, struct.pack("!H", pid)))
        elif ptype == PINGREQ:
            s.writer.write(packet(PINGRESP, 0, b""))
        # PUBACK/PUBREC/PUBCOMP from clients: nothing to do (no redelivery on loopback)
        await s.writer.drain()

    def route(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if retain:
            if payload:
                self.retained[topic] = (payload, qos)
            else:
                self.retained.pop(topic, None)
        for s in list(self.sessions.values()):
            sub_qos = max((q for f, q in s.subs.items() if topic_matches(f, topic)), default=-1)
            if sub_qos >= 0:
                self.deliver(s, topic, payload, min(qos, sub_qos), False)

    def deliver(self, s: Session, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        head = mqtt_str(topic) + (struct.pack("!H", s.packet_id()) if qos else b"")
        try:
            s.writer.write(packet(PUBLISH, (qos << 1) | int(retain), head + payload))
        except (ConnectionError, RuntimeError):
            pass


async def read_packet(reader: asyncio.StreamReader) -> Tuple[int, int, bytes]:
    first = (await reader.readexactly(1))[0]
    length, mult = 0, 1
    for _ in range(4):
        byte = (await reader.readexactly(1))[0]
        length += (byte & 0x7F) * mult
        mult *= 128
        if not byte & 0x80:
            break
    else:
        raise ProtocolError("malformed remaining length")
    if length > MAX_PACKET:
        raise ProtocolError("packet too large")
    body = await reader.readexactly(length) if length else b""
    return first >> 4, first & 0x0F, body


async def serve(host: str, port: int) -> None:
    broker = MiniBroker(host, port)
    await broker.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await broker.stop()
    log.info("MQTT broker stopped")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo.minibroker", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)-7s %(message)s")
    try:
        asyncio.run(serve(args.host, args.port))
    except OSError as exc:
        log.error("cannot listen on %s:%s: %s", args.host, args.port, exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
