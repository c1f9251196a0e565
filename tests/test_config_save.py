"""Saving the config from the UI keeps the user's file, binds secrets to their address, and
turns every bad body into a 4xx with a reason.

The user's file here is config.example.yaml (comments, quoting, blank lines, a sequence) or a
small file with null and {} in it; the API runs in Flask's test client on a fake publisher.
"""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, List, Tuple

import pytest
import yaml

from tests.helpers import ROOT
from tests.ui_support import make_app
from ui.config_io import MASK


def _app_on(tmp_path: Path, text: str) -> Tuple[Any, Path]:
    app, ctx, _pub = make_app(tmp_path)
    path = Path(ctx.config_path)
    path.write_text(text)
    return app.test_client(), path


def _diff(before: str, after: str) -> List[str]:
    """The changed lines, as '+line' / '-line'."""
    return [
        d.rstrip("\n")
        for d in difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=0)
        if d[:1] in "+-" and not d.startswith(("+++", "---"))
    ]


EXAMPLE = (ROOT / "config.example.yaml").read_text()


def test_patch_writes_only_the_changed_key_into_the_users_file(tmp_path: Path) -> None:
    c, path = _app_on(tmp_path, EXAMPLE)
    resp = c.patch("/api/config", json={"auto": {"reserve_w": 150, "start_delay_s": 90}})
    assert resp.status_code == 200, resp.json
    assert resp.json["changed"] == ["auto.reserve_w", "auto.start_delay_s"]
    after = path.read_text()
    assert _diff(EXAMPLE, after) == [
        "-  start_delay_s: 60",
        "+  start_delay_s: 90",
        "+  reserve_w: 150",
    ]
    assert Path(str(path) + ".bak").read_text() == EXAMPLE
    assert yaml.safe_load(after)["auto"]["reserve_w"] == 150


def test_put_of_the_whole_view_writes_only_what_the_user_changed(tmp_path: Path) -> None:
    c, path = _app_on(tmp_path, EXAMPLE)
    body = c.get("/api/config").json  # every default filled in, as the old editor sent it
    body["schedule"]["items"][0]["start"] = "13:00"
    body["logging"]["level"] = "WARNING"
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 200, resp.json
    assert _diff(EXAMPLE, path.read_text()) == [
        '-      start: "12:00"',
        '+      start: "13:00"',
        "-  level: INFO",
        '+  level: "WARNING"',
    ]


def test_an_unchanged_save_leaves_the_file_alone(tmp_path: Path) -> None:
    c, path = _app_on(tmp_path, EXAMPLE)
    assert c.put("/api/config", json=c.get("/api/config").json).status_code == 200
    same = yaml.safe_load(EXAMPLE)["auto"]["stop_delay_s"]  # the value the file has
    assert c.patch("/api/config", json={"auto": {"stop_delay_s": same}}).status_code == 200
    assert path.read_text() == EXAMPLE and not Path(str(path) + ".bak").exists()


SMALL = """\
# my charger
modbus:
  ip: 192.168.1.100   # wired
auto:
  afternoon_battery_soc: null
  full_battery_soc: 95
session: {}
logging:
  file: null
controls:
  verify_delay: 250
  current_update_interval: 30000
"""


def test_null_and_empty_mapping_stay_and_old_keys_are_replaced_not_doubled(tmp_path: Path) -> None:
    c, path = _app_on(tmp_path, SMALL)
    view = c.get("/api/config").json
    assert view["controls"]["verification_delay"] == 0.25  # verify_delay (ms), under its new name
    resp = c.patch(
        "/api/config",
        json={"auto": {"full_battery_soc": None}, "controls": {"verification_delay": 0.5}},
    )
    assert resp.status_code == 200, resp.json
    after = path.read_text()
    assert _diff(SMALL, after) == [
        "-  full_battery_soc: 95",
        "+  full_battery_soc: null",
        "-  verify_delay: 250",
        "+  verification_delay: 0.5",
    ]
    saved = yaml.safe_load(after)
    assert saved["session"] == {} and saved["logging"]["file"] is None
    assert saved["auto"] == {"afternoon_battery_soc": None, "full_battery_soc": None}
    # the old editor's save (the whole view back) adds neither defaults nor new names
    assert c.put("/api/config", json=c.get("/api/config").json).status_code == 200
    assert path.read_text() == after


def test_put_of_a_partial_body_says_use_patch(tmp_path: Path) -> None:
    c, path = _app_on(tmp_path, SMALL)
    resp = c.put("/api/config", json={"modbus": {"ip": "192.168.1.7"}})
    assert resp.status_code == 400
    assert resp.json["error"].startswith("PUT replaces the whole config; use PATCH")
    assert "auto.afternoon_battery_soc" in resp.json["error"]
    assert path.read_text() == SMALL


# ---- a secret is bound to where it goes ----------------------------------------------------------
def test_changing_the_tibber_url_without_the_token_clears_it(tmp_path: Path) -> None:
    app, ctx, _pub = make_app(tmp_path)
    c, path = app.test_client(), Path(ctx.config_path)
    stored = yaml.safe_load(path.read_text())["tibber"]["access_token"]
    resp = c.patch("/api/config", json={"tibber": {"api_url": "https://evil.example/gql"}})
    assert resp.status_code == 200, resp.json
    assert resp.json["cleared_secrets"] == ["tibber.access_token"]
    assert "tibber.api_url changed" in resp.json["message"]
    saved = yaml.safe_load(path.read_text())["tibber"]
    assert saved == {**saved, "api_url": "https://evil.example/gql", "access_token": ""}
    assert stored not in path.read_text()
    # typed again for the new address: kept
    resp = c.patch(
        "/api/config", json={"tibber": {"api_url": "https://b.example/gql", "access_token": "N"}}
    )
    assert resp.json["cleared_secrets"] == []
    assert yaml.safe_load(path.read_text())["tibber"]["access_token"] == "N"


@pytest.mark.parametrize("change", [{"host": "10.9.9.9"}, {"port": 8883}])
def test_changing_the_broker_with_the_mask_clears_the_mqtt_password(
    tmp_path: Path, change: dict
) -> None:
    app, ctx, _pub = make_app(tmp_path)
    c, path = app.test_client(), Path(ctx.config_path)
    body = c.get("/api/config").json
    assert body["mqtt"]["password"] == MASK
    body["mqtt"].update(change)
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 200 and resp.json["cleared_secrets"] == ["mqtt.password"]
    assert yaml.safe_load(path.read_text())["mqtt"]["password"] == ""
    # the tibber token, bound elsewhere, is kept
    assert yaml.safe_load(path.read_text())["tibber"]["access_token"].startswith("tibber-SECRET")


def test_a_needed_token_cleared_by_a_new_url_is_refused_with_the_reason(tmp_path: Path) -> None:
    app, ctx, _pub = make_app(tmp_path)
    c, path = app.test_client(), Path(ctx.config_path)
    assert c.patch("/api/config", json={"tibber": {"enabled": True}}).status_code == 200
    before = path.read_text()
    body = c.get("/api/config").json
    body["tibber"]["api_url"] = "https://evil.example/gql"
    resp = c.put("/api/config", json=body)
    assert resp.status_code == 422
    (err,) = resp.json["errors"]
    assert err["path"] == "tibber.access_token"
    assert "cleared because tibber.api_url changed" in err["message"]
    assert path.read_text() == before
    # the same address with the mask keeps the token
    body["tibber"]["api_url"] = c.get("/api/config").json["tibber"]["api_url"]
    assert c.put("/api/config", json=body).json["cleared_secrets"] == []


# ---- every bad body is a 4xx with a reason -----------------------------------------------------
def _deep(levels: int) -> Any:
    return json.loads("[" * levels + "]" * levels)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b'{"modbus": {"port": ' + b"9" * 5000 + b"}}", "number"),
        (b"[" * 100_000 + b"]" * 100_000, "nested"),
        (json.dumps({"modbus": {"ip": "x"}, "registers": _deep(900)}).encode(), "nested"),
        (json.dumps({"modbus": {"ip": "x"}, "registers": _deep(20)}).encode(), "nested"),
        (b'{"auto": {"reserve_w": 1e999}}', "finite"),
        (b'"just a string"', "expected a JSON object"),
    ],
)
@pytest.mark.parametrize("method", ["put", "patch"])
def test_nested_or_huge_bodies_are_400_not_500(
    tmp_path: Path, raw: bytes, reason: str, method: str
) -> None:
    if method == "put" and reason == "finite":
        raw = raw.replace(b"{", b'{"modbus": {"ip": "x"}, ', 1)  # a whole config for PUT
    c, path = _app_on(tmp_path, "modbus: {ip: x}\n")
    resp = getattr(c, method)("/api/config", data=raw, content_type="application/json")
    assert resp.status_code == 400, resp.json
    text = json.dumps(resp.json)
    assert reason in text and len(text) < 2000
    assert path.read_text() == "modbus: {ip: x}\n"


def test_a_300_character_modbus_ip_is_refused(tmp_path: Path) -> None:
    c, _path = _app_on(tmp_path, SMALL)
    resp = c.patch("/api/config", json={"modbus": {"ip": "1" * 300}})
    assert resp.status_code == 422
    assert resp.json["errors"][0]["path"] == "modbus.ip"
    assert "at most 253" in resp.json["errors"][0]["message"]


def test_ruamel_needs_nothing_compiled() -> None:
    """What a GX without a compiler installs: ruamel.yaml (>= 0.19) requires its C parts only
    through optional extras, so pip brings in no compiled package."""
    from importlib.metadata import requires, version

    assert tuple(int(x) for x in version("ruamel.yaml").split(".")[:2]) >= (0, 19)
    assert all("extra ==" in req for req in requires("ruamel.yaml") or []), requires("ruamel.yaml")
