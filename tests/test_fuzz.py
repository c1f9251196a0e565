"""Fuzzing the edges that take input: MQTT commands, the real UI server, config files.

* MQTT: arbitrary bytes, JSON of the wrong type, huge numbers, NaN/Infinity, unicode on every
  command topic against the real bridge + controller (sim charger, car charging, mosquitto).
  Nothing may crash; every payload the command's JSON Schema refuses must be answered on
  ``{base}/error`` with a reason; and the charger's write log may only ever hold setpoints of 0
  or 6..station max and phases of 1 or 3.
* The real waitress server (``python -m ui``): raw HTTP requests (the Flask-client fuzzing of
  every operation is in tests/test_ui_fuzz.py); never a 5xx, never a dead process.
* Config: hypothesis mutations of the valid example config, as data and as YAML text:
  ``ConfigError`` with one line per problem or a loaded config, never another exception; a
  sample through ``python -m bridge --config`` exits 2 without a traceback.

The number of inputs tried is printed as ``fuzz: N inputs`` at the end of the module.
"""

from __future__ import annotations

import copy
import http.client
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, Iterator, List, Tuple

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from common.config import ConfigError, load_config, validate_config
from common.inbound import quote_bytes
from common.schemas import load_schema
from common.topics import COMMAND_SCHEMAS, Topics
from sim.charger import control
from tests.helpers import (
    ROOT,
    Broker,
    Probe,
    Proc,
    SimProc,
    base_config,
    config_procs,
    free_port,
    wait_until,
    write_config,
)

STATION_MAX_A = 22.0
T = Topics("alfen", "7")
COUNT: Dict[str, int] = {"mqtt": 0, "http": 0, "config": 0, "config_cli": 0}
FOUND: Dict[str, int] = {}  # what the inputs led to (rejections answered, writes checked)


@pytest.fixture(scope="module", autouse=True)
def report_count(request: pytest.FixtureRequest) -> Iterator[None]:
    """Hands the count to the terminal summary (tests/conftest.py) as a property of the
    module's last test: the one way out of an xdist worker process."""
    yield
    total = sum(COUNT.values())
    line = f"fuzz: {total} inputs ({', '.join(f'{k} {v}' for k, v in COUNT.items())})"
    if FOUND:
        line += "; " + ", ".join(f"{k} {v}" for k, v in FOUND.items())
    mine = [item for item in request.session.items if item.module is request.module]
    if mine:
        mine[-1].user_properties.append(("summary", line))


# ---- strategies ------------------------------------------------------------------------------
weird_numbers = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 5.99, 6, 6.0001, 80, 80.0001, 1e308, -0.0, 2**63, 10**400]),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), weird_numbers, st.text(max_size=12)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
KEYS = ["amps", "phases", "mode", "enabled", "energy_kwh", "by", "value"]
shaped = st.dictionaries(
    st.sampled_from(KEYS),
    st.one_of(json_values, st.sampled_from(["auto", "MANUAL", "scheduled", "07:00", "25:99"])),
    min_size=1,
    max_size=3,
)
raw_literals = st.sampled_from(
    [
        b"",
        b"{",
        b"null",
        b'{"amps": NaN}',
        b'{"amps": Infinity}',
        b'{"amps": -Infinity}',
        b'{"amps": 1e999}',
        b'{"amps": 1e-999}',
        b'{"phases": 2}',
        b'{"phases": 3.0}',
        b'{"mode": "\xc3\xa9"}',
        b'{"amps": 10, "amps": 90}',
        b"\xff\xfe",
        b'{"amps": "10"}',
        '{"mode": "автоматический"}'.encode(),
        b"[" * 5000,
    ]
)
payloads = st.one_of(
    st.binary(max_size=80),
    json_values.map(lambda v: json.dumps(v).encode()),
    shaped.map(lambda v: json.dumps(v, allow_nan=True).encode()),
    raw_literals,
    st.text(max_size=40).map(lambda s: s.encode("utf-8", "surrogatepass")),
)
EDGE_AMPS = [0, 0.01, 0.1, 5.99, 6, 6.0001, 15.5, 21.99, 22, 22.01, 32, 79.99, 80]
amps_ok = st.one_of(st.sampled_from(EDGE_AMPS), st.floats(0, 80))
# schema-valid commands with edge values: they reach the keeper and the Modbus write
valid_commands = st.one_of(
    st.tuples(st.just("cmd/current"), amps_ok.map(lambda a: {"amps": a})),
    st.tuples(st.just("cmd/phases"), st.sampled_from([{"phases": 1}, {"phases": 3}])),
    st.tuples(st.just("control/set/current"), amps_ok.map(lambda a: {"amps": a})),
    st.tuples(st.just("control/set/max_current"), amps_ok.map(lambda a: {"amps": a})),
    st.tuples(st.just("control/set/mode"), st.sampled_from([{"mode": 0}, {"mode": "manual"}])),
    st.tuples(st.just("control/set/startstop"), st.sampled_from([{"enabled": True}])),
).map(lambda t: (t[0], json.dumps(t[1]).encode()))
suffixes = st.one_of(
    st.sampled_from(sorted(COMMAND_SCHEMAS)),
    st.sampled_from(["control/set/bogus", "control/set/", "control/set/MODE"]),
)


def schema_accepts(suffix: str, payload: bytes) -> bool:
    """An independent oracle: strict JSON (no NaN/Infinity, finite) and the command's schema."""
    name = COMMAND_SCHEMAS.get(suffix)
    if name is None:
        return False

    def no_constant(_tok: str) -> Any:
        raise ValueError("constant")

    try:
        value = json.loads(payload.decode("utf-8"), parse_constant=no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False

    def finite(v: Any) -> bool:
        if isinstance(v, float):
            return math.isfinite(v)
        if isinstance(v, dict):
            return all(finite(x) for x in v.values())
        if isinstance(v, list):
            return all(finite(x) for x in v)
        return True

    if not finite(value):
        return False
    schema = load_schema(name)
    return jsonschema.validators.validator_for(schema)(schema).is_valid(value)


# ---- MQTT against the real processes -----------------------------------------------------------
class CommandStack:
    def __init__(self, broker: Broker, tmp: Path) -> None:
        self.sim = SimProc(
            "charger", "--station-max", str(STATION_MAX_A), "--validity-s", "30", log_dir=tmp
        )
        self.modbus, self.ctl = self.sim.modbus, self.sim.ctl
        cfg = base_config(
            tmp,
            self.modbus,
            broker.port,
            device_instance=7,
            controls={
                "command_lease_seconds": 30,
                "phase_switch_pause_seconds": 1,
                "phase_switch_settle_seconds": 1,
            },
            logging={"level": "INFO", "file": str(tmp / "alfen.log")},
        )
        _path, (self.bridge, self.controller) = config_procs(tmp, cfg, "bridge", "control")

    def socket(self) -> Dict[str, Any]:
        return control(self.ctl, "status")["status"]["sockets"]["1"]


@pytest.fixture(scope="module")
def command_stack(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz-mqtt")
    s = CommandStack(broker, tmp)
    s.sim.start()

    def ready() -> bool:
        try:
            return bool(control(s.ctl, "status")["ok"])
        except OSError:
            return False

    wait_until(ready, 15)
    control(s.ctl, "plug", max_current_a=32, phases=3, response_s=0.2)
    s.bridge.start()
    s.controller.start()
    yield s
    for p in (s.controller, s.bridge, s.sim):
        p.stop()


@pytest.mark.e2e
def test_mqtt_commands_fuzzed(command_stack: CommandStack, probe: Probe) -> None:
    s = command_stack
    probe.wait_json(T.control_state, timeout_s=20)
    wait_until(lambda: s.socket()["setpoint_a"] is not None, 15)
    mark = probe.mark()
    sent: List[Tuple[str, bytes]] = []

    @settings(max_examples=700, deadline=None, database=None)
    @given(
        command=st.one_of(st.tuples(suffixes, payloads), valid_commands, valid_commands),
    )
    def publish(command: Tuple[str, bytes]) -> None:
        suffix, payload = command
        probe.client.publish(T.sub(suffix), payload, qos=1).wait_for_publish(5)
        sent.append((suffix, payload))
        COUNT["mqtt"] += 1
        if len(sent) % 40 == 0:  # the sim keeps the last 200 writes: collect as we go
            collect_writes()

    writes: Dict[Tuple[float, str, float], None] = {}

    def collect_writes() -> None:
        for t, name, value in s.socket()["writes"]:
            writes[(t, name, value)] = None

    publish()
    # every schema-invalid command must be answered; wait until the answers stop coming. An
    # empty message is not a command: it is how a retained command is cleared (common/inbound.py)
    must = [(T.sub(x), p) for x, p in sent if p and not schema_accepts(x, p)]

    def errors() -> List[Dict[str, Any]]:
        return [json.loads(p) for p in probe.since(mark, T.error)]

    def answered_all() -> bool:
        seen = {(e["topic"], e["payload"]) for e in errors()}
        return all((t, quote_bytes(p)) in seen for t, p in must)

    try:
        wait_until(answered_all, 30, 0.5)
    except AssertionError:
        seen = {(e["topic"], e["payload"]) for e in errors()}
        missing = [(t, p) for t, p in must if (t, quote_bytes(p)) not in seen]
        raise AssertionError(
            f"{len(missing)} rejections never answered, e.g. {missing[:5]}"
        ) from None
    error_schema = load_schema("error")
    validator = jsonschema.validators.validator_for(error_schema)(error_schema)
    for e in errors():
        assert validator.is_valid(e), e
        assert isinstance(e["error"], str) and len(e["error"]) >= 5, e
    # nothing crashed, nothing logged a traceback
    for p in (s.bridge, s.controller, s.sim):
        assert p.alive(), f"{p.module} died:\n{p.log()[-2000:]}"
        assert "Traceback" not in p.log(), p.log()[-3000:]
    # no invalid value ever reached a Modbus write
    collect_writes()
    assert writes
    for _t, name, value in writes:
        if name == "setpoint":
            assert value == 0.0 or 6.0 <= value <= STATION_MAX_A, f"setpoint write {value}"
        else:
            assert name == "phases" and value in (1, 3), f"{name} write {value}"
    assert len(must) > 100 and len(errors()) >= len(must)
    assert sum(1 for _t, name, _v in writes if name == "setpoint") > 20, "too few writes tested"
    FOUND["mqtt_rejections_answered"] = len(must)
    FOUND["modbus_writes_checked"] = len(writes)


# ---- the real waitress server ------------------------------------------------------------------
UI_PATHS = [
    "/api/status",
    "/api/graph",
    "/api/config/schema",
    "/api/config",
    "/api/mode",
    "/api/startstop",
    "/api/set_current",
    "/api/sessions",
    "/api/sessions.csv",
    "/api/openapi.json",
    "/ui/",
    "/",
    "/api/%00",
    "/api/../../etc/passwd",
    "/" + "a" * 5000,
]


@pytest.fixture(scope="module")
def ui_server(broker: Broker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    tmp = tmp_path_factory.mktemp("fuzz-ui")
    port = free_port()
    cfg = base_config(tmp, 5020, broker.port, device_instance=8, web={"port": port})
    path = write_config(tmp / "ui.yaml", cfg)
    proc = Proc("ui", "--config", str(path), log_dir=tmp).start()

    def up() -> bool:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            c.request("GET", "/api/status")
            return c.getresponse().status == 200
        except OSError:
            return False

    wait_until(up, 20)
    yield proc, port
    proc.stop()


@pytest.mark.e2e
def test_real_ui_server_fuzzed(ui_server: Any) -> None:
    proc, port = ui_server
    statuses: Dict[int, int] = {}

    @settings(max_examples=250, deadline=None, database=None)
    @given(
        method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]),
        path=st.one_of(st.sampled_from(UI_PATHS), st.text(max_size=30).map(lambda t: "/" + t)),
        body=st.one_of(payloads, st.binary(max_size=300)),
        ctype=st.sampled_from(["application/json", "text/plain", "", "application/x-www-form"]),
        origin=st.sampled_from([None, "http://evil.example", "null"]),
    )
    def send(method: str, path: str, body: bytes, ctype: str, origin: Any) -> None:
        COUNT["http"] += 1
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        headers = {"Content-Type": ctype} if ctype else {}
        if origin:
            headers["Origin"] = origin
        try:
            safe = "".join(c if 32 < ord(c) < 127 else f"%{ord(c) & 0xFF:02X}" for c in path)
            conn.request(method, safe, body=body, headers=headers)
            status = conn.getresponse().status
        finally:
            conn.close()
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500, f"{method} {path!r} {body[:60]!r} -> {status}"

    send()
    # malformed HTTP straight on the socket: waitress answers 4xx or closes, the process lives
    import socket

    for raw in (
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"\x00" * 100,
        b"GET /" + b"x" * 70000,
    ):
        COUNT["http"] += 1
        with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
            sock.sendall(raw + b"\r\n\r\n")
            try:
                reply = sock.recv(200)
            except OSError:
                reply = b""
        assert not reply or not reply.startswith(b"HTTP/1.1 5"), reply
    assert proc.alive(), proc.log()[-2000:]
    assert "Traceback" not in proc.log()
    assert any(code in statuses for code in (200, 400, 401, 403, 404, 405, 415, 422))


# ---- config files ------------------------------------------------------------------------------
def _valid_config() -> Dict[str, Any]:
    raw = yaml.safe_load((ROOT / "config.example.yaml").read_text())
    validate_config(raw)
    return raw


VALID = _valid_config()


def _paths(node: Any, prefix: Tuple[Any, ...] = ()) -> List[Tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


PATHS = _paths(VALID)
mutation = st.tuples(
    st.sampled_from(["replace", "delete", "add"]),
    st.sampled_from(PATHS),
    st.one_of(json_values, st.sampled_from(["", "eighty", -1, 10**9, "25:61", "Mars/Olympus"])),
    st.text(max_size=8),
)


def _mutate(cfg: Dict[str, Any], ops: List[Any]) -> Dict[str, Any]:
    out = copy.deepcopy(cfg)
    for op, path, value, key in ops:
        parent: Any = out
        try:
            for part in path[:-1]:
                parent = parent[part]
            leaf = path[-1]
            if op == "replace":
                parent[leaf] = value
            elif op == "delete":
                del parent[leaf]
            elif isinstance(parent, dict):
                parent[key or "x"] = value
        except (KeyError, IndexError, TypeError):
            continue
    return out


def _ascii(junk: bytes) -> bytes:
    return bytes(b % 128 for b in junk)


def _check_config_error(exc: ConfigError) -> None:
    assert exc.problems and all(isinstance(p, str) and ":" in p for p in exc.problems)


@settings(max_examples=400, deadline=None, database=None)
@given(ops=st.lists(mutation, min_size=1, max_size=4))
def test_config_mutations_give_config_error_or_load(ops: List[Any]) -> None:
    COUNT["config"] += 1
    cfg = _mutate(VALID, ops)
    try:
        validate_config(cfg, env={})
    except ConfigError as exc:
        _check_config_error(exc)


@settings(
    max_examples=200,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cut=st.floats(0, 1),
    flips=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=3).map(_ascii)), max_size=3
    ),
)
def test_config_text_mutations(tmp_path: Path, cut: float, flips: List[Any]) -> None:
    """YAML text cut short and overwritten with ASCII junk: ConfigError or a config."""
    _load_mutated(tmp_path, cut, flips, keep_utf8=True)


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    cut=st.floats(0, 1),
    flips=st.lists(
        st.tuples(st.floats(0, 1), st.binary(min_size=1, max_size=3)), min_size=1, max_size=3
    ),
)
def test_config_binary_mutations(tmp_path: Path, cut: float, flips: List[Any]) -> None:
    """The same with arbitrary bytes (a file damaged on disk, a wrong encoding)."""
    _load_mutated(tmp_path, cut, [(w, b"\xff" + j) for w, j in flips])


def _load_mutated(tmp_path: Path, cut: float, flips: List[Any], keep_utf8: bool = False) -> None:
    COUNT["config"] += 1
    text = bytearray((ROOT / "config.example.yaml").read_bytes())
    text = text[: max(1, int(len(text) * (0.2 + 0.8 * cut)))]
    for where, junk in flips:
        i = int(where * (len(text) - 1))
        text[i : i + len(junk)] = junk
    data = bytes(text)
    if keep_utf8:  # a cut or a flip can split a multi-byte character (the example has "€")
        data = data.decode("utf-8", "ignore").encode("utf-8")
    path = tmp_path / "fuzzed.yaml"
    path.write_bytes(data)
    try:
        load_config(path, env={})
    except ConfigError as exc:
        _check_config_error(exc)


BAD_SAMPLES = [
    b"modbus: [1, 2\n",
    b"modbus:\n  ip: 127.0.0.1\n  port: eighty\n",
    b"\xff\xfe\x00garbage",
    b"- a\n- b\n",
    b"controls:\n  max_set_current: .nan\n",
    b"mqtt:\n  port: 99999999999999999999\n",
]


@pytest.mark.parametrize("sample", BAD_SAMPLES)
def test_bridge_cli_bad_config_exit_2(tmp_path: Path, sample: bytes) -> None:
    COUNT["config_cli"] += 1
    path = tmp_path / "bad.yaml"
    path.write_bytes(sample)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(path)],
        cwd=str(ROOT),
        capture_output=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr.decode()[-2000:]
    err = done.stderr.decode("utf-8", "replace")
    assert "Traceback" not in err and "invalid configuration" in err, err
    assert time.monotonic() - started < 30
