"""The UI's JSON API: every endpoint, every rejection, the token, and secrets never leaking."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import pytest
import yaml

from tests.helpers import Probe, Proc, base_config, free_port, wait_until, write_config
from tests.ui_support import SECRET_VALUES, feed_online, make_app, make_config
from ui.config_io import MASK

UI_ROOT = Path(__file__).resolve().parent.parent / "ui"


def _strict(text: str) -> Any:
    def no_nan(token: str) -> Any:
        raise AssertionError(f"{token} in a response")

    return json.loads(text, parse_constant=no_nan)


@pytest.fixture
def app_ctx(tmp_path: Path) -> Any:
    return make_app(tmp_path)


@pytest.fixture
def client(app_ctx: Any) -> Any:
    return app_ctx[0].test_client()


# ---- page and static assets -------------------------------------------------------------
def test_root_redirects_to_page_and_page_uses_no_external_network(client: Any) -> None:
    assert client.get("/").headers["Location"].endswith("/ui/")
    page = client.get("/ui/")
    assert page.status_code == 200 and b"<canvas" in page.data
    texts = [page.get_data(as_text=True)]
    for path in (UI_ROOT / "static").iterdir():
        texts.append(path.read_text(encoding="utf-8"))
        assert client.get(f"/ui/static/{path.name}").status_code == 200
    for text in texts:  # only the SVG namespace URI may look like a URL
        urls = re.findall(r"https?://[^\s\"')]+", text)
        assert all(u.startswith("http://www.w3.org/2000/svg") for u in urls), urls
    assert "default-src 'self'" in page.headers["Content-Security-Policy"]


def test_no_cors_headers_anywhere(client: Any) -> None:
    hdr = {"Origin": "http://evil.example"}
    for resp in (
        client.get("/api/status", headers=hdr),
        client.options("/api/mode", headers=hdr),
        client.post("/api/mode", json={"mode": 1}, headers=hdr),
    ):
        assert not [k for k, _v in resp.headers.items() if k.lower().startswith("access-control")]


# ---- status and graph --------------------------------------------------------------------
def test_status_offline_when_nothing_is_known(client: Any) -> None:
    body = _strict(client.get("/api/status").get_data(as_text=True))
    assert body["online"] == {
        "broker": False,
        "bridge": False,
        "charger": False,
        "controller": False,
    }
    assert (
        body["state"] is None and body["control"] is None and body["web"]["token_required"] is False
    )


def test_status_online_and_nan_never_appears(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache)
    # only the power value becomes NaN (a bare replace of "1.0" could hit the timestamp)
    raw = json.dumps({"ts": time.time(), "connected": True, "power_w": 1.0}).replace(
        '"power_w": 1.0', '"power_w": NaN'
    )
    ctx.cache.apply(ctx.topics.state, raw.encode())  # a NaN from a buggy publisher
    ctx.cache.sample()
    body = _strict(app.test_client().get("/api/status").get_data(as_text=True))
    assert body["state"]["power_w"] is None
    assert body["online"]["broker"] and body["online"]["bridge"] and body["online"]["controller"]


def test_status_shows_charger_offline_on_bridge_lwt_and_on_stale_state(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache)
    c = app.test_client()
    assert c.get("/api/status").json["online"]["charger"] is True
    ctx.cache.apply(ctx.topics.availability, b"offline")
    assert c.get("/api/status").json["online"]["charger"] is False
    feed_online(ctx.cache, ts=time.time() - 600)
    assert c.get("/api/status").json["online"]["charger"] is False


def test_graph_ring_buffer_and_since(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache)
    for _ in range(3):
        ctx.cache.sample()
    c = app.test_client()
    g = c.get("/api/graph").json
    assert len(g["t"]) == 3 and g["actual_a"][0] == 16.0 and g["max_a"][0] == 32.0
    assert g["allowed_a"][0] == 16.0
    assert len(c.get(f"/api/graph?since={g['t'][-1]}").json["t"]) == 0
    assert c.get("/api/graph?since=yesterday").status_code == 400
    assert c.get("/api/graph?since=nan").status_code == 200


# ---- commands ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "body", "topic", "payload"),
    [
        ("/api/mode", {"mode": 2}, "alfen/0/control/set/mode", {"mode": 2}),
        ("/api/mode", {"mode": "auto"}, "alfen/0/control/set/mode", {"mode": 1}),
        ("/api/mode", {"mode": "MANUAL"}, "alfen/0/control/set/mode", {"mode": 0}),
        ("/api/startstop", {"enabled": False}, "alfen/0/control/set/startstop", {"enabled": False}),
        ("/api/startstop", {"enabled": 1}, "alfen/0/control/set/startstop", {"enabled": True}),
        ("/api/set_current", {"amps": 13.5}, "alfen/0/control/set/current", {"amps": 13.5}),
    ],
)
def test_commands_publish_normalised_and_not_retained(
    app_ctx: Any, url: str, body: Dict[str, Any], topic: str, payload: Dict[str, Any]
) -> None:
    app, _ctx, pub = app_ctx
    resp = app.test_client().post(url, json=body)
    assert resp.status_code == 200, resp.json
    assert resp.json["ok"] is True
    assert pub.sent == [(topic, payload, False)]


@pytest.mark.parametrize(
    ("url", "raw", "reason"),
    [
        ("/api/mode", b"{not json", "not JSON"),
        ("/api/mode", b"", "empty"),
        ("/api/mode", b"[1]", "not of type 'object'"),
        ("/api/mode", b'{"mode": 3}', "mode"),
        ("/api/mode", b'{"mode": "turbo"}', "mode"),
        ("/api/mode", b'{"mode": 1, "x": 2}', "unknown key"),
        ("/api/mode", b'{"mode": NaN}', "NaN"),
        ("/api/mode", b"\xff\xfe", "UTF-8"),
        ("/api/startstop", b'{"enabled": "yes"}', "enabled"),
        ("/api/startstop", b"{}", "required"),
        ("/api/set_current", b'{"amps": -1}', "minimum"),
        ("/api/set_current", b'{"amps": 81}', "maximum"),
        ("/api/set_current", b'{"amps": "16"}', "number"),
        ("/api/set_current", b'{"amps": true}', "number"),
        ("/api/set_current", b'{"amps": 1e999}', "finite"),
    ],
)
def test_bad_command_bodies_are_400_with_reason(
    app_ctx: Any, url: str, raw: bytes, reason: str
) -> None:
    app, _ctx, pub = app_ctx
    resp = app.test_client().post(url, data=raw, content_type="application/json")
    assert resp.status_code == 400
    assert reason in resp.json["error"]
    assert pub.sent == []


def test_current_above_station_max_is_refused(app_ctx: Any) -> None:
    app, ctx, pub = app_ctx
    feed_online(ctx.cache, station_max_current_a=16.0)
    resp = app.test_client().post("/api/set_current", json={"amps": 20})
    assert resp.status_code == 400 and "station maximum of 16 A" in resp.json["error"]
    assert pub.sent == []


def test_command_without_broker_is_503(app_ctx: Any) -> None:
    app, _ctx, pub = app_ctx
    pub.connected = False
    resp = app.test_client().post("/api/mode", json={"mode": 1})
    assert resp.status_code == 503 and "broker" in resp.json["error"]


def test_oversized_body_is_413(client: Any) -> None:
    resp = client.post(
        "/api/mode", data=b"{" + b" " * 300_000 + b"}", content_type="application/json"
    )
    assert resp.status_code == 413


# ---- config --------------------------------------------------------------------------------
def test_config_schema_and_masked_config(client: Any) -> None:
    schema = client.get("/api/config/schema").json
    assert schema["properties"]["tibber"]["properties"]["access_token"]["x-secret"] is True
    cfg = client.get("/api/config").json
    assert cfg["tibber"]["access_token"] == MASK and cfg["mqtt"]["password"] == MASK
    assert cfg["web"]["token"] == ""  # empty stays empty
    assert cfg["controls"]["max_retries"] == 3  # defaults filled in for the editor


def test_put_valid_config_writes_atomically_with_backup_and_notifies(app_ctx: Any) -> None:
    app, ctx, pub = app_ctx
    c = app.test_client()
    path = Path(ctx.config_path)
    before = path.read_bytes()
    body = c.get("/api/config").json
    body["controls"]["max_retries"] = 5
    body["pricing"]["currency"] = "SEK"
    del body["mqtt"]["password"]  # omitted secret: kept
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 200, resp.json
    assert resp.json["changed"] == ["controls.max_retries", "pricing.currency"]
    assert resp.json["restart_required"] == []
    assert Path(str(path) + ".bak").read_bytes() == before
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(str(path) + ".bak").st_mode) == 0o600
    saved = yaml.safe_load(path.read_text())
    assert saved["controls"]["max_retries"] == 5
    assert saved["tibber"]["access_token"] == SECRET_VALUES[0]
    assert saved["mqtt"]["password"] == SECRET_VALUES[1]
    topic, notice, retain = pub.sent[-1]
    assert topic == "alfen/0/config/changed" and retain is True
    assert notice["changed"] == ["controls.max_retries", "pricing.currency"]
    assert ctx.cfg["pricing"]["currency"] == "SEK"  # applied live
    for secret in SECRET_VALUES:
        assert secret not in resp.get_data(as_text=True)


def test_put_new_secret_replaces_and_empty_clears(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    c = app.test_client()
    body = c.get("/api/config").json
    body["tibber"]["access_token"] = "new-token-value"
    body["mqtt"]["password"] = ""
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 200
    assert "new-token-value" not in resp.get_data(as_text=True)
    saved = yaml.safe_load(Path(ctx.config_path).read_text())
    assert saved["tibber"]["access_token"] == "new-token-value"
    assert saved["mqtt"]["password"] == ""
    assert resp.json["restart_required"] == ["mqtt.password"]


def test_put_restart_keys_reported(app_ctx: Any) -> None:
    app, _ctx, _pub = app_ctx
    c = app.test_client()
    body = c.get("/api/config").json
    body["web"]["port"] = 8099
    assert c.put("/api/config", json=body).json["restart_required"] == ["web.port"]


def test_put_invalid_config_changes_nothing_and_names_every_problem(app_ctx: Any) -> None:
    app, ctx, pub = app_ctx
    c = app.test_client()
    path = Path(ctx.config_path)
    before = path.read_bytes()
    body = c.get("/api/config").json
    body["controls"]["max_retries"] = 99
    body["web"]["port"] = "http"
    body["logging"]["level"] = "LOUD"
    body["modbus"]["bogus"] = 1
    body["tibber"]["enabled"] = True
    body["tibber"]["access_token"] = ""
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 422
    errors = {e["path"]: e["message"] for e in resp.json["errors"]}
    assert set(errors) >= {"controls.max_retries", "web.port", "logging.level", "modbus.bogus"}
    assert "99" in errors["controls.max_retries"] and "10" in errors["controls.max_retries"]
    assert path.read_bytes() == before and not Path(str(path) + ".bak").exists()
    assert pub.sent == []
    # cross-field problems come once the schema is satisfied
    body = c.get("/api/config").json
    body["tibber"]["enabled"] = True
    body["tibber"]["access_token"] = ""
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 422
    assert resp.json["errors"][0]["path"] == "tibber.access_token"


def test_put_config_rejections(client: Any) -> None:
    assert (
        client.put("/api/config", data=b"{oops", content_type="application/json").status_code == 400
    )
    assert client.put("/api/config", data=b"", content_type="application/json").status_code == 400
    resp = client.put("/api/config", json=[1, 2])
    assert resp.status_code == 400 and "expected a JSON object" in resp.json["error"]
    resp = client.patch("/api/config", json={"modbus": None})
    assert resp.status_code == 422 and resp.json["errors"][0]["path"] == "modbus"


def test_secret_values_never_in_error_messages(app_ctx: Any) -> None:
    app, _ctx, _pub = app_ctx
    c = app.test_client()
    body = c.get("/api/config").json
    body["mqtt"]["port"] = SECRET_VALUES[1]  # a secret typed into the wrong field
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 422
    assert SECRET_VALUES[1] not in resp.get_data(as_text=True)


def test_broken_config_file_on_disk_is_409(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    Path(ctx.config_path).write_text("modbus: [unclosed\n")
    c = app.test_client()
    assert c.get("/api/config").status_code == 409
    assert c.put("/api/config", json={"modbus": {"ip": "x"}}).status_code == 409


# ---- token, origin ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("post", "/api/mode", {"mode": 1}),
        ("post", "/api/startstop", {"enabled": True}),
        ("post", "/api/set_current", {"amps": 10}),
        ("put", "/api/config", None),
    ],
)
def test_writes_need_the_token_when_one_is_set(
    tmp_path: Path, method: str, url: str, body: Optional[Dict[str, Any]]
) -> None:
    app, _ctx, pub = make_app(tmp_path, token="s3cret-token")
    c = app.test_client()
    if body is None:
        body = c.get("/api/config").json  # reads need no token
    call = getattr(c, method)
    assert call(url, json=body).status_code == 401
    assert call(url, json=body, headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert call(url, json=body, headers={"Authorization": "Bearer s3cret-token"}).status_code == 200
    assert call(url, json=body, headers={"X-Auth-Token": "s3cret-token"}).status_code == 200
    assert c.get("/api/status").json["web"]["token_required"] is True
    assert "s3cret-token" not in c.get("/api/config").get_data(as_text=True)
    assert len(pub.sent) >= 2


def test_cross_origin_write_is_refused(client: Any) -> None:
    bad = client.post("/api/mode", json={"mode": 1}, headers={"Origin": "http://evil.example"})
    assert bad.status_code == 403
    ok = client.post(
        "/api/mode", json={"mode": 1}, headers={"Origin": "http://localhost", "Host": "localhost"}
    )
    assert ok.status_code == 200


# ---- sessions -----------------------------------------------------------------------------
def test_sessions_empty_without_history(client: Any) -> None:
    assert client.get("/api/sessions").json["sessions"] == []
    csv = client.get("/api/sessions.csv")
    assert csv.mimetype == "text/csv" and csv.get_data(as_text=True).startswith("start,end")


def test_sessions_from_the_controllers_store(app_ctx: Any) -> None:
    store_mod = pytest.importorskip("control.store")
    app, ctx, _pub = app_ctx
    store = store_mod.Store(ctx.cfg["state_dir"])
    store.open()  # the controller creates the table; a row is written as it would write one
    store.close()
    con = sqlite3.connect(str(Path(ctx.cfg["state_dir"]) / store_mod.HISTORY_DB))
    con.execute(
        "INSERT INTO sessions (start, end, energy_wh, charging_time_s, cost, solar_wh,"
        " battery_wh, grid_wh) VALUES (1764558000, 1764561600, 7500, 3400, 1.875, 5000, 0, 2500)"
    )
    con.commit()
    con.close()
    c = app.test_client()
    body = c.get("/api/sessions").json
    assert body["source"].startswith("control.store:")
    (row,) = body["sessions"]
    assert row["energy_kwh"] == 7.5 and row["duration_s"] == 3600 and row["solar_share"] == 0.667
    csv = c.get("/api/sessions.csv").get_data(as_text=True).splitlines()
    assert csv[1].startswith("2025-12-01T03:00:00+00:00,2025-12-01T04:00:00+00:00,3600,3400,7.5")


# ---- OpenAPI --------------------------------------------------------------------------------
def test_openapi_documents_every_api_route(app_ctx: Any) -> None:
    app, _ctx, _pub = app_ctx
    doc = app.test_client().get("/api/openapi.json").json
    assert doc["openapi"].startswith("3.")
    routed = {
        (r.rule, m.lower())
        for r in app.url_map.iter_rules()
        if r.rule.startswith("/api/")
        for m in r.methods or ()
        if m not in ("HEAD", "OPTIONS")
    }
    documented = {(p, m) for p, ops in doc["paths"].items() for m in ops}
    assert routed == documented


# ---- SSE ------------------------------------------------------------------------------------
def test_sse_pushes_status_and_caps_streams(tmp_path: Path) -> None:
    app, ctx, _pub = make_app(tmp_path, max_sse=1)
    feed_online(ctx.cache)
    c = app.test_client()
    resp = c.get("/api/events", buffered=False)
    assert resp.mimetype == "text/event-stream"
    chunks = iter(resp.response)
    assert next(chunks).startswith(b"retry:")
    event = next(chunks).decode()
    assert event.startswith("event: status\ndata: ")
    assert _strict(event.split("data: ", 1)[1])["online"]["charger"] is True
    second = c.get("/api/events")
    assert second.status_code == 503 and second.headers["Retry-After"]
    assert next(chunks) == b": heartbeat\n\n"  # nothing changed within heartbeat_s
    resp.close()
    assert c.get("/api/events", buffered=False).status_code == 200  # the slot was freed


def test_every_response_is_free_of_secrets(app_ctx: Any) -> None:
    app, ctx, _pub = app_ctx
    feed_online(ctx.cache)
    c = app.test_client()
    texts = [
        c.get(u).get_data(as_text=True)
        for u in (
            "/ui/",
            "/api/status",
            "/api/config",
            "/api/config/schema",
            "/api/sessions",
            "/api/sessions.csv",
            "/api/openapi.json",
            "/api/graph",
        )
    ]
    texts.append(c.put("/api/config", json={"mqtt": {"port": "x"}}).get_data(as_text=True))
    for text in texts:
        for secret in SECRET_VALUES:
            assert secret not in text


# ---- the real process over a real broker ---------------------------------------------------
def _http(method: str, url: str, body: Any = None, token: str = "") -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def ui_proc(broker: Any, tmp_path: Path) -> Iterator[Any]:
    procs = []

    def start(**web: Any) -> Any:
        port = free_port()
        cfg = base_config(tmp_path, 5020, broker.port, web={"port": port, **web})
        cfg["tibber"] = {"access_token": SECRET_VALUES[0]}
        path = write_config(tmp_path / "ui.yaml", cfg)
        proc = Proc("ui", "--config", str(path), log_dir=tmp_path).start()
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        # up and connected to the broker: a command before that answers 503 (not sent)
        wait_until(lambda: (_try_status(url) or {}).get("online", {}).get("broker"), 15)
        return proc, url, path

    yield start
    for p in procs:
        p.stop()


def _try_status(url: str) -> Any:
    try:
        return _http("GET", url + "/api/status")[1]
    except OSError:
        return None


def test_process_reads_mqtt_and_publishes_commands(ui_proc: Any, probe: Probe) -> None:
    proc, url, _path = ui_proc()
    probe.publish("alfen/0/availability", "online", retain=True)
    probe.publish("alfen/0/control/availability", "online", retain=True)
    probe.publish(
        "alfen/0/state", {**json.loads(json.dumps(_state())), "ts": time.time()}, retain=True
    )
    status = wait_until(
        lambda: (s := _http("GET", url + "/api/status")[1])["online"]["charger"] and s, 10
    )
    assert status["state"]["power_w"] == 11057.6 and status["online"]["broker"] is True
    mark = probe.mark()
    assert _http("POST", url + "/api/mode", {"mode": "scheduled"})[0] == 200
    wait_until(lambda: probe.since(mark, "alfen/0/control/set/mode"), 5)
    assert json.loads(probe.since(mark, "alfen/0/control/set/mode")[0]) == {"mode": 2}
    body = _http("GET", url + "/api/config")[1]
    body["auto"]["reserve_w"] = 250
    assert _http("PUT", url + "/api/config", body)[0] == 200
    notice = probe.wait_json("alfen/0/config/changed")
    assert notice["changed"] == ["auto.reserve_w"]
    assert proc.stop() == 0
    log = proc.log()
    assert SECRET_VALUES[0] not in log and "web UI stopped" in log
    for topic in ("alfen/0/availability", "alfen/0/control/availability", "alfen/0/state"):
        probe.publish(topic, b"", retain=True)
    probe.publish("alfen/0/config/changed", b"", retain=True)


def _state() -> Dict[str, Any]:
    from tests.ui_support import example

    return example("state")


def test_process_beyond_localhost_generates_token_once(ui_proc: Any, tmp_path: Path) -> None:
    proc, url, _path = ui_proc(host="0.0.0.0")
    token_file = tmp_path / "state" / "web_token"
    token = token_file.read_text().strip()
    assert stat.S_IMODE(os.stat(token_file).st_mode) == 0o600
    assert _http("POST", url + "/api/mode", {"mode": 1})[0] == 401
    assert _http("POST", url + "/api/mode", {"mode": 1}, token=token)[0] == 200
    assert _http("GET", url + "/api/status")[1]["web"]["token_required"] is True
    proc.stop()
    proc2, url2, _ = ui_proc(host="0.0.0.0")
    assert _http("POST", url2 + "/api/mode", {"mode": 1}, token=token)[0] == 200
    proc2.stop()
    log = proc.log()  # both runs log to the same file
    assert log.count(token) == 1, "the token is logged once, when generated"
    assert SECRET_VALUES[0] not in log


def test_process_rejects_bad_config_with_exit_2(tmp_path: Path) -> None:
    path = make_config(tmp_path, web={"port": "eighty"})
    proc = Proc("ui", "--config", str(path), log_dir=tmp_path).start()
    assert proc.proc is not None and proc.proc.wait(20) == 2
    assert "web.port" in proc.log()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r"])
def test_csv_quotes_every_text_a_spreadsheet_would_run(start: str) -> None:
    from ui.history import to_csv

    evil = start + 'HYPERLINK("http://x")'
    text = to_csv([{"start": 1764558000, "currency": evil}])
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[1][6] == "'" + evil


@pytest.mark.parametrize(
    ("header", "allowed"),
    [
        ("127.0.0.1:8088", True),
        ("LOCALHOST.:8088", True),
        ("[::1]:8088", True),
        ("charger.example", True),
        ("gx.lan:8088", True),
        ("evil.example:8088", False),
        ("127.0.0.1.evil.example", False),
        ("0.0.0.0:8088", False),
        ("192.0.2.77", False),  # an address, but not one of this machine's
        (None, True),
    ],
)
def test_host_rule(header: Optional[str], allowed: bool) -> None:
    from ui.auth import host_allowed

    web = {"host": "0.0.0.0", "allowed_hosts": ["charger.example"]}
    own = frozenset({"gx.lan", "gx"})
    assert host_allowed(header, web, own) is allowed
    assert host_allowed("gx.lan", {"host": "gx.lan"}, frozenset()) is True


def test_every_route_refuses_a_foreign_host(app_ctx: Any) -> None:
    app, _ctx, pub = app_ctx
    c = app.test_client()
    for method, url in [("get", "/ui/"), ("get", "/api/events"), ("get", "/api/config"),
                        ("post", "/api/mode"), ("patch", "/api/config")]:  # fmt: skip
        resp = getattr(c, method)(url, json={"mode": 1}, headers={"Host": "evil.example"})
        assert resp.status_code == 421, url
    assert pub.sent == []


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_process_with_a_read_only_config_answers_409(broker: Any, tmp_path: Path) -> None:
    """As in a Docker image: the config's folder is a read-only mount (EROFS even for root)."""
    if os.geteuid() == 0 and not _unshare_works():
        pytest.skip("root without mount namespaces: no way to make a read-only file here")
    ro = tmp_path / "ro"
    ro.mkdir()
    port = free_port()
    cfg = base_config(tmp_path, 5020, broker.port, web={"port": port})
    path = write_config(ro / "ui.yaml", cfg)
    proc = Proc("ui", "--config", str(path), log_dir=tmp_path)
    if os.geteuid() == 0:
        mount = f'mount --bind "{ro}" "{ro}" && mount -o remount,bind,ro "{ro}" && exec "$0" "$@"'
        proc.interpreter = ["unshare", "-m", "sh", "-c", mount, sys.executable]
    else:
        ro.chmod(0o555)
        path.chmod(0o444)
    proc.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _try_status(url), 15)
        expected = f"config file is read-only: {path}"
        req = urllib.request.Request(url + "/api/config")
        with urllib.request.urlopen(req, timeout=5) as resp:
            assert resp.headers["X-Config-Read-Only"] == expected
            view = json.loads(resp.read())
        assert _http("PATCH", url + "/api/config", {"auto": {"reserve_w": 150}}) == (
            409,
            {"error": expected},
        )
        view["auto"]["reserve_w"] = 150
        assert _http("PUT", url + "/api/config", view)[1] == {"error": expected}
    finally:
        proc.stop()
        ro.chmod(0o755)
    assert "unhandled error" not in proc.log()  # (the old answer: 500, OSError errno 30)
    assert yaml.safe_load(path.read_text()) == cfg
