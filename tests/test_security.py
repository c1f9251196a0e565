"""Security checks against the real processes.

* The UI's write rule (ui/auth.py): a bind on any loopback address (127.0.0.0/8, ::1,
  localhost) is local and needs no token; any other bind needs ``web.token`` on every write
  (Bearer or X-Auth-Token), reads stay open; a cross-site browser write is refused even on
  loopback. 127.0.0.2 is loopback, so it is *local* under the real rule.
* Secrets (Tibber token, MQTT password, UI token) appear in no HTTP response, log line or MQTT
  message: the whole stack runs with them set (mosquitto with a password file, Tibber enabled
  against a dead local URL so its error path logs), every MQTT message is collected on '#',
  every log and every API response is grepped.
* MQTT with username/password and TLS: mosquitto with a CA and server certificate made by
  ``openssl`` here and a ``mosquitto_passwd`` file; the bridge connects and publishes; a wrong
  password is refused without a crash and without logging the password.
* A config saved by PUT /api/config is owner-only (0600) and keeps the real secrets (the
  browser only ever sees the mask).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from common.topics import Topics
from sim.charger import control
from tests.helpers import (
    Broker,
    Proc,
    base_config,
    free_port,
    mosquitto_path,
    wait_until,
    write_config,
)

pytestmark = pytest.mark.e2e
TIBBER = "tibber-SECRET-91c3f0aa"
MQTT_USER, MQTT_PASS = "alfen", "mqtt-SECRET-5e7d21bb"
UI_TOKEN = "ui-SECRET-token-33a9d1c7"
WRONG = "wrong-SECRET-pass-0d4e"
SECRETS = (TIBBER, MQTT_PASS, UI_TOKEN)
T = Topics("alfen", "0")


def http(
    method: str, url: str, body: Any = None, headers: Optional[Dict[str, str]] = None
) -> Tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def start_ui(tmp: Path, mqtt_port: int, host: str, **web: Any) -> Tuple[Proc, str, Path]:
    port = free_port()
    cfg = base_config(tmp, 5020, mqtt_port, web={"host": host, "port": port, **web})
    path = write_config(tmp / f"ui-{port}.yaml", cfg)
    proc = Proc("ui", "--config", str(path), log_dir=tmp).start()
    return proc, f"http://{host if host != '0.0.0.0' else '127.0.0.1'}:{port}", path


def wait_http(url: str) -> None:
    def up() -> bool:
        try:
            return http("GET", url + "/api/status")[0] == 200
        except OSError:
            return False

    wait_until(up, 20)


def non_loopback_ip() -> Optional[str]:
    """An address of this machine that is not loopback (the UDP connect sends nothing)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
            ip = str(s.getsockname()[0])
        except OSError:
            return None
    return None if ip.startswith("127.") or ip == "0.0.0.0" else ip


# ---- the UI's write rule -------------------------------------------------------------------------
def test_ui_loopback_alias_is_local(broker: Broker, tmp_path: Path) -> None:
    """127.0.0.2 is loopback: the real rule treats it as local (no token), but a cross-site
    browser write is still refused."""
    proc, url, _ = start_ui(tmp_path, broker.port, "127.0.0.2")
    try:
        wait_http(url)
        status = json.loads(http("GET", url + "/api/status")[1])
        assert status["web"]["token_required"] is False
        assert http("POST", url + "/api/mode", {"mode": 1})[0] == 200
        evil = {"Origin": "http://evil.example"}
        assert http("POST", url + "/api/mode", {"mode": 1}, evil)[0] == 403
    finally:
        proc.stop()


@pytest.mark.parametrize("where", ["wildcard", "interface"])
def test_ui_beyond_localhost_needs_token(broker: Broker, tmp_path: Path, where: str) -> None:
    host = "0.0.0.0" if where == "wildcard" else non_loopback_ip()
    if host is None:
        pytest.skip("this machine has no non-loopback IPv4 address")
    proc, url, _ = start_ui(tmp_path, broker.port, host, token=UI_TOKEN)
    try:
        wait_http(url)
        assert json.loads(http("GET", url + "/api/status")[1])["web"]["token_required"] is True
        writes = [
            ("POST", "/api/mode", {"mode": 1}),
            ("POST", "/api/startstop", {"enabled": False}),
            ("POST", "/api/set_current", {"amps": 8}),
            ("PUT", "/api/config", {}),
        ]
        for method, path, body in writes:
            assert http(method, url + path, body)[0] == 401, path
            bad = {"Authorization": "Bearer wrong-token"}
            assert http(method, url + path, body, bad)[0] == 401, path
            assert http(method, url + path, body, {"X-Auth-Token": UI_TOKEN[:-1]})[0] == 401
        good = {"Authorization": f"Bearer {UI_TOKEN}"}
        assert http("POST", url + "/api/mode", {"mode": 1}, good)[0] == 200
        assert http("POST", url + "/api/mode", {"mode": 0}, {"X-Auth-Token": UI_TOKEN})[0] == 200
        for path in ("/api/status", "/api/config", "/api/sessions", "/api/openapi.json"):
            assert http("GET", url + path)[0] == 200, path  # reads need no token
    finally:
        proc.stop()
    assert UI_TOKEN not in proc.log()


# ---- an authenticated, TLS mosquitto ---------------------------------------------------------------
def _have(tool: str) -> bool:
    return shutil.which(tool) is not None or os.path.exists(f"/usr/bin/{tool}")


def make_certs(d: Path) -> Path:
    """A CA and a server certificate for 127.0.0.1 (SAN), made with openssl."""

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=str(d), check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
        "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "server.crt")  # fmt: skip
    for f in d.iterdir():
        f.chmod(0o644)
    return d / "ca.crt"


class SecureBroker:
    """mosquitto with a password file; ``tls`` adds a TLS listener with our certificate."""

    def __init__(self, d: Path, tls: bool) -> None:
        self.dir, self.port, self.tls = d, free_port(), tls
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> SecureBroker:
        exe = mosquitto_path()
        assert exe is not None
        pw = self.dir / "passwd"
        subprocess.run(["mosquitto_passwd", "-b", "-c", str(pw), MQTT_USER, MQTT_PASS], check=True)
        pw.chmod(0o600)
        conf = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {pw}",
            "persistence false",
        ]
        if self.tls:
            conf += [
                f"cafile {self.dir / 'ca.crt'}",
                f"certfile {self.dir / 'server.crt'}",
                f"keyfile {self.dir / 'server.key'}",
            ]
        if os.geteuid() == 0:
            conf.append("user root")  # else mosquitto drops to 'mosquitto' and cannot read
        (self.dir / "mosquitto.conf").write_text("\n".join(conf) + "\n")
        self.proc = subprocess.Popen(
            [exe, "-c", str(self.dir / "mosquitto.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.dir / "mosquitto.log", "ab"),
        )

        def up() -> bool:
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_until(up, 10)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)


class SecureProbe:
    """Like tests.helpers.Probe, with credentials and optional TLS."""

    def __init__(self, port: int, password: str, ca: Optional[Path]) -> None:
        self.messages: List[Tuple[str, bytes]] = []
        self.lock = threading.Lock()
        self.refused: List[Any] = []
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"sprobe-{id(self)}")
        self.client.username_pw_set(MQTT_USER, password)
        if ca is not None:
            self.client.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_connect(self, c: Any, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if getattr(rc, "is_failure", False):
            self.refused.append(rc)
        else:
            c.subscribe("#")

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self.lock:
            self.messages.append((msg.topic, bytes(msg.payload)))

    def latest(self, topic: str) -> Optional[bytes]:
        with self.lock:
            found = [p for t, p in self.messages if t == topic]
        return found[-1] if found else None

    def publish(self, topic: str, payload: Any) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


needs_tools = pytest.mark.skipif(
    not (mosquitto_path() and _have("openssl") and _have("mosquitto_passwd")),
    reason="needs mosquitto, mosquitto_passwd and openssl (make system-deps installs them)",
)


@needs_tools
def test_bridge_over_mqtt_tls_with_password(tmp_path: Path) -> None:
    ca = make_certs(tmp_path)
    broker = SecureBroker(tmp_path, tls=True).start()
    modbus, ctl = free_port(), free_port()
    sim = Proc(
        "sim", "charger", "--port", str(modbus), "--control-port", str(ctl), log_dir=tmp_path
    )
    mqtt = {"username": MQTT_USER, "password": MQTT_PASS, "tls": True, "ca_file": str(ca)}
    cfg = base_config(tmp_path, modbus, broker.port, mqtt=mqtt)
    bridge = Proc(
        "bridge", "--config", str(write_config(tmp_path / "c.yaml", cfg)), log_dir=tmp_path
    )
    wrong = base_config(tmp_path, modbus, broker.port, mqtt={**mqtt, "password": WRONG})
    wrong["device_instance"] = 5
    intruder = Proc(
        "bridge", "--config", str(write_config(tmp_path / "w.yaml", wrong)), log_dir=tmp_path / "w"
    )
    (tmp_path / "w").mkdir()
    probe = SecureProbe(broker.port, MQTT_PASS, ca)
    try:
        sim.start()
        wait_until(lambda: _ok(ctl), 15)
        bridge.start()
        intruder.start()
        state = wait_until(lambda: probe.latest(T.state), 20)
        assert json.loads(state)["connected"] is True
        assert probe.latest(T.availability) == b"online"
        probe.publish(T.cmd_current, {"amps": 9})  # commands travel over TLS too
        wait_until(lambda: control(ctl, "status")["status"]["sockets"]["1"]["setpoint_a"] == 9, 10)
        # a client with the wrong password is refused, keeps running, never logs a password
        wait_until(lambda: "refused" in intruder.log(), 15)
        assert intruder.alive()
        assert probe.latest("alfen/5/state") is None
        # a plain (non-TLS) client cannot talk to the TLS listener
        plain = paho.Client(CallbackAPIVersion.VERSION2, client_id="plain")
        plain.username_pw_set(MQTT_USER, MQTT_PASS)
        try:
            plain.connect("127.0.0.1", broker.port, keepalive=2)
            for _ in range(10):
                plain.loop(timeout=0.2)
        except OSError:
            pass
        assert not plain.is_connected()
    finally:
        probe.close()
        for p in (intruder, bridge, sim):
            p.stop()
        broker.stop()
    for p in (bridge, intruder):
        assert MQTT_PASS not in p.log() and WRONG not in p.log()
        assert "Traceback" not in p.log()


def _ok(port: int) -> bool:
    try:
        return bool(control(port, "status")["ok"])
    except OSError:
        return False


# ---- no secret anywhere ---------------------------------------------------------------------------
@needs_tools
def test_secrets_never_leave(tmp_path: Path) -> None:
    broker = SecureBroker(tmp_path, tls=False).start()
    modbus, ctl, ui_port = free_port(), free_port(), free_port()
    sim = Proc(
        "sim", "charger", "--port", str(modbus), "--control-port", str(ctl), log_dir=tmp_path
    )
    cfg = base_config(
        tmp_path,
        modbus,
        broker.port,
        mqtt={"username": MQTT_USER, "password": MQTT_PASS},
        tibber={
            "enabled": True,
            "access_token": TIBBER,
            "api_url": f"http://127.0.0.1:{free_port()}/gql",  # nothing listens: error path
            "timeout_s": 1,
        },
        pricing={"source": "tibber"},
        web={"host": "0.0.0.0", "port": ui_port, "token": UI_TOKEN},
    )
    path = write_config(tmp_path / "config.yaml", cfg)
    procs = [Proc(m, "--config", str(path), log_dir=tmp_path) for m in ("bridge", "control", "ui")]
    probe = SecureProbe(broker.port, MQTT_PASS, None)
    url = f"http://127.0.0.1:{ui_port}"
    responses: List[bytes] = []
    try:
        sim.start()
        wait_until(lambda: _ok(ctl), 15)
        control(ctl, "plug", max_current_a=16, phases=3, response_s=0.5)
        for p in procs:
            p.start()
        wait_http(url)
        wait_until(lambda: probe.latest(T.control_state), 20)
        wait_until(lambda: json.loads(http("GET", url + "/api/status")[1])["online"]["charger"], 15)
        good = {"Authorization": f"Bearer {UI_TOKEN}"}
        for path_ in ("/api/status", "/api/config", "/api/config/schema", "/api/sessions",
                      "/api/sessions.csv", "/api/graph", "/api/openapi.json", "/ui/"):  # fmt: skip
            code, body = http("GET", url + path_)
            assert code == 200, path_
            responses.append(body)
        responses.append(http("POST", url + "/api/mode", {"mode": 1})[1])  # 401 body
        responses.append(http("POST", url + "/api/mode", {"mode": "x"}, good)[1])  # 400 body
        config = json.loads(http("GET", url + "/api/config")[1])
        config["auto"]["reserve_w"] = 150
        code, body = http("PUT", url + "/api/config", config, good)
        assert code == 200, body
        responses.append(body)
        bad = dict(config, mqtt={**config["mqtt"], "port": "x"})
        responses.append(http("PUT", url + "/api/config", bad, good)[1])  # 422 body
        wait_until(lambda: "tibber" in (tmp_path / "control.log").read_text().lower(), 15)
    finally:
        probe.close()
        for p in procs:
            p.stop()
        sim.stop()
        broker.stop()
    # the file written by PUT: owner-only, still holding the real secrets, not the mask
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = yaml.safe_load(path.read_text())
    assert saved["tibber"]["access_token"] == TIBBER
    assert saved["mqtt"]["password"] == MQTT_PASS and saved["web"]["token"] == UI_TOKEN
    assert saved["auto"]["reserve_w"] == 150
    # grep everything that left a process
    logs = {p.module: p.log() for p in procs}
    for log_file in tmp_path.glob("alfen*.log"):  # one per process (common/logsetup.py)
        logs[log_file.name] = log_file.read_text(errors="replace")
    assert len(logs) > len(procs), sorted(logs)
    mqtt_traffic = [t.encode() + b" " + m for t, m in probe.messages]
    seen = {t for t, _m in probe.messages}
    assert {T.state, T.control_state, T.availability, T.info} <= seen, sorted(seen)
    assert len(responses) >= 12
    for secret in SECRETS:
        s = secret.encode()
        for name, text in logs.items():
            assert secret not in text, f"{secret} in the {name} log"
        for msg in mqtt_traffic:
            assert s not in msg, f"{secret} in MQTT: {msg[:200]!r}"
        for body in responses:
            assert s not in body, f"{secret} in an HTTP response: {body[:200]!r}"
    assert "Traceback" not in "".join(logs.values())


# ---- DNS rebinding: only the names we serve -------------------------------------------------------
def test_ui_answers_only_the_names_it_serves(broker: Broker, probe: Any, tmp_path: Path) -> None:
    """A page whose name was made to resolve to this machine sends its own name as Host (and a
    matching Origin): every route is refused with 421 before a handler runs."""
    proc, url, _ = start_ui(tmp_path, broker.port, "127.0.0.1", allowed_hosts=["charger.example"])
    port = url.rsplit(":", 1)[1]
    try:
        wait_http(url)
        mark = probe.mark()
        for name in ("evil.example", "evil.example.", "127.0.0.1.evil.example", "0.0.0.0"):
            forged = {"Host": f"{name}:{port}", "Origin": f"http://{name}:{port}"}
            for method, path, body in [
                ("GET", "/ui/", None),
                ("GET", "/api/events", None),
                ("GET", "/api/status", None),
                ("GET", "/api/config", None),
                ("POST", "/api/mode", {"mode": 2}),
                ("PUT", "/api/config", {"modbus": {"ip": "10.0.0.1"}}),
            ]:
                code, answer = http(method, url + path, body, forged)
                assert code == 421, (name, path, code)
                assert b"web.allowed_hosts" in answer
        names = ["127.0.0.1", "localhost", "[::1]", "charger.example", socket.gethostname()]
        names += [ip] if (ip := non_loopback_ip()) else []
        for name in names:
            host = {"Host": f"{name}:{port}"}
            assert http("GET", url + "/api/status", None, host)[0] == 200, name
            ok = http(
                "POST", url + "/api/mode", {"mode": 1}, {**host, "Origin": f"http://{name}:{port}"}
            )
            assert ok[0] == 200, (name, ok)
        topic = T.control_set("mode")
        wait_until(lambda: len(probe.since(mark, topic)) >= len(names), 5)
        # the refused writes never reached a handler: only the allowed ones were published
        assert [json.loads(p) for p in probe.since(mark, topic)] == [{"mode": 1}] * len(names)
    finally:
        proc.stop()


# ---- a secret is bound to where it goes ------------------------------------------------------------
class Recorder:
    """An HTTP server that records the Authorization header of every request (a Tibber API)."""

    def __init__(self) -> None:
        self.auth: List[str] = []
        seen = self.auth

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                seen.append(str(self.headers.get("Authorization")))
                self.send_response(503)
                self.end_headers()

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/gql"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_the_controller_never_sends_the_stored_token_to_a_new_url(
    broker: Broker, tmp_path: Path
) -> None:
    """Item 4 of the attack: PUT tibber.api_url with the masked token used to keep the token,
    and the controller's next start sent it to the attacker. Now every route to that ends with
    the token cleared; only a token typed for the new URL goes there."""
    a, b = Recorder(), Recorder()
    tibber = {"enabled": True, "access_token": TIBBER, "api_url": a.url, "timeout_s": 1}
    port = free_port()
    cfg = base_config(tmp_path, 5020, broker.port, web={"port": port}, tibber=tibber)
    path = write_config(tmp_path / "config.yaml", cfg)
    proc = Proc("ui", "--config", str(path), log_dir=tmp_path).start()
    url = f"http://127.0.0.1:{port}"
    control_proc = Proc("control", "--config", str(path), log_dir=tmp_path)
    try:
        wait_http(url)
        view = json.loads(http("GET", url + "/api/config")[1])
        assert view["tibber"]["access_token"] == "********"
        view["tibber"]["api_url"] = b.url
        code, body = http("PUT", url + "/api/config", view)
        assert code == 422, body  # enabled, and its token is cleared: nothing saved
        assert b"cleared because tibber.api_url changed" in body
        code, body = http("PATCH", url + "/api/config", {"tibber": {"api_url": b.url}})
        assert code == 422, body
        assert yaml.safe_load(path.read_text())["tibber"]["api_url"] == a.url
        # the controller runs on what was saved: it asks A, with the real token
        control_proc.start()
        wait_until(lambda: a.auth, 20)
        assert a.auth[0] == f"Bearer {TIBBER}"
        control_proc.stop()
        # turned off on the way: saved, with the token cleared and said so
        code, body = http(
            "PATCH", url + "/api/config", {"tibber": {"api_url": b.url, "enabled": False}}
        )
        assert code == 200 and json.loads(body)["cleared_secrets"] == ["tibber.access_token"]
        assert http("PATCH", url + "/api/config", {"tibber": {"enabled": True}})[0] == 422
        # typed again for B: B gets that one
        new = {"tibber": {"enabled": True, "access_token": "typed-for-B"}}
        assert http("PATCH", url + "/api/config", new)[0] == 200
        control_proc.start()
        wait_until(lambda: b.auth, 20)
    finally:
        control_proc.stop()
        proc.stop()
        a.close()
        b.close()
    assert set(b.auth) == {"Bearer typed-for-B"}, b.auth
    assert TIBBER not in path.read_text() and TIBBER not in proc.log()
