"""The JSON API (the seed's endpoints, compatible) plus SSE, sessions and OpenAPI.

Commands are validated against schemas/set_*.schema.json and published, never retained, to
``{base}/control/set/...``; the controller decides. Every rejection is a 4xx with a reason.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Callable, Dict, Iterator, Optional, Tuple

from flask import Blueprint, Response, current_app, jsonify, request

from common.config import ConfigError, validate_config
from common.config_fields import config_value
from common.schema_check import short
from common.schemas import PayloadError, load_schema, parse_json, validate
from ui import config_io
from ui.auth import cross_origin, token_ok
from ui.context import UiContext
from ui.history import to_csv
from ui.openapi import openapi_document

log = logging.getLogger(__name__)
api = Blueprint("api", __name__)
MODE_NAMES = {"manual": 0, "auto": 1, "scheduled": 2}
# SSE pacing: at most this many events per second per stream (bursts coalesce to the latest).
SSE_MIN_GAP_S = 0.25


def ctx() -> UiContext:
    return current_app.extensions["alfen_ui"]  # type: ignore[no-any-return]


def problem(status: int, message: str, **extra: Any) -> Tuple[Response, int]:
    return jsonify(error=message, **extra), status


def _guard_write() -> Optional[Tuple[Response, int]]:
    """Refuse cross-site browser writes and, beyond localhost, writes without the token."""
    if cross_origin(request.headers):
        return problem(403, "cross-origin write refused")
    if not token_ok(ctx().token, request.headers):
        return problem(401, "token required: send 'Authorization: Bearer <web.token>'")
    return None


def _body() -> Any:
    """The request body as strict JSON; raises PayloadError with the reason."""
    raw = request.get_data(cache=False)
    if not raw.strip():
        raise PayloadError("request body is empty; expected a JSON object")
    return parse_json(raw)


# ---- reads ----------------------------------------------------------------------------
@api.get("/api/status")
def status() -> Response:
    c = ctx()
    snap = c.cache.snapshot()
    snap["web"] = {"token_required": c.token is not None}
    snap["currency_symbol"] = config_value(c.cfg, "pricing.currency_symbol")
    return jsonify(snap)


def _since_arg() -> Optional[float]:
    """``?since=<unix seconds>`` (0 when absent or NaN), or None when it is no number."""
    try:
        since_ts = float(request.args.get("since", "0"))
    except ValueError:
        return None
    return since_ts if since_ts == since_ts else 0.0


def _bad_since() -> Tuple[Response, int]:
    return problem(400, f"since: {short(request.args.get('since'))} is not a number (unix seconds)")


@api.get("/api/graph")
def graph() -> Any:
    since_ts = _since_arg()
    if since_ts is None:
        return _bad_since()
    return jsonify(ctx().cache.graph(since_ts))


@api.get("/api/power")
def power() -> Any:
    """The site's power flows, one mean per 30 s for the last hours (the power graph)."""
    since_ts = _since_arg()
    if since_ts is None:
        return _bad_since()
    return jsonify(ctx().cache.power(since_ts))


@api.get("/api/prices")
def prices() -> Any:
    """The import prices the controller plans SCHEDULED with (its ``control/prices``)."""
    body = ctx().cache.prices()
    return jsonify(body if body is not None else {"source": "none", "slots": []})


@api.get("/api/config/schema")
def config_schema() -> Response:
    return jsonify(load_schema("config"))


@api.get("/api/config")
def get_config() -> Any:
    path = ctx().config_path
    try:
        raw = config_io.read_raw(path)
    except config_io.ConfigFileError as exc:
        return problem(409, str(exc))
    resp = jsonify(config_io.masked_view(raw))
    try:
        config_io.ensure_writable(path)
    except config_io.ReadOnlyConfig as exc:
        resp.headers["X-Config-Read-Only"] = str(exc)  # the editor says so before any edit
    return resp


@api.get("/api/sessions")
def sessions() -> Response:
    h = ctx().history
    return jsonify(sessions=h.list(), source=h.source())


@api.get("/api/sessions.csv")
def sessions_csv() -> Response:
    body = to_csv(ctx().history.list())
    return Response(
        body,
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="charging-sessions.csv"'},
    )


@api.get("/api/openapi.json")
def openapi() -> Response:
    return jsonify(openapi_document())


# ---- live updates -----------------------------------------------------------------------
# Server-Sent Events rather than polling: each state change is pushed once to every open page
# with no per-request overhead (no repeated HTTP parsing, headers or JSON for unchanged data),
# the browser reconnects by itself, and a page shows a change within ~0.25 s instead of a poll
# period. The cost is one waitress thread per open page, hence the cap and the heartbeat that
# makes waitress notice a vanished client (its write fails) and frees the slot.
@api.get("/api/events")
def events() -> Any:
    c = ctx()
    if not c.sse_slots.acquire(blocking=False):
        resp, code = problem(503, f"too many live streams (max {c.max_sse}); poll /api/status")
        resp.headers["Retry-After"] = "10"
        return resp, code
    return Response(
        _stream(c),
        mimetype="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


def _stream(c: UiContext) -> Iterator[str]:
    try:
        yield "retry: 3000\n\n"
        seen = -1
        while not c.stopping.is_set():
            version = c.cache.wait_change(seen, c.heartbeat_s)
            if c.stopping.is_set():
                break
            if version == seen:
                yield ": heartbeat\n\n"
                continue
            seen = version
            snap = c.cache.snapshot()
            snap["web"] = {"token_required": c.token is not None}
            yield f"event: status\ndata: {json.dumps(snap, allow_nan=False)}\n\n"
            c.clock.sleep(SSE_MIN_GAP_S)
    finally:
        c.sse_slots.release()


# ---- commands ---------------------------------------------------------------------------
def _command(schema: str, what: str, normalise: Callable[[Dict[str, Any]], Dict[str, Any]]) -> Any:
    denied = _guard_write()
    if denied:
        return denied
    try:
        payload = normalise(validate(schema, _body()))
    except PayloadError as exc:
        return problem(400, str(exc))
    c = ctx()
    topic = c.topics.control_set(what)
    if not c.publisher.publish(topic, json.dumps(payload)):
        return problem(503, "MQTT broker not connected; command not sent")
    log.info("web command %s %s", what, payload)
    return jsonify(ok=True, topic=topic, payload=payload)


def _mode(body: Dict[str, Any]) -> Dict[str, Any]:
    mode = body["mode"]
    return {"mode": MODE_NAMES[mode.lower()] if isinstance(mode, str) else int(mode)}


def _enabled(body: Dict[str, Any]) -> Dict[str, Any]:
    return {"enabled": bool(body["enabled"])}


def _amps(body: Dict[str, Any]) -> Dict[str, Any]:
    amps = float(body["amps"])
    station_max = ctx().cache.station_max_a()
    if station_max is not None and amps > station_max:
        raise PayloadError(f"amps: {amps:g} is above the station maximum of {station_max:g} A")
    return {"amps": amps}


@api.post("/api/mode")
def set_mode() -> Any:
    return _command("set_mode", "mode", _mode)


@api.post("/api/startstop")
def set_startstop() -> Any:
    return _command("set_startstop", "startstop", _enabled)


@api.post("/api/set_current")
def set_current() -> Any:
    return _command("set_current", "current", _amps)


# ---- config -----------------------------------------------------------------------------
@api.put("/api/config")
def put_config() -> Any:
    """Replace the whole config (a body without a key the file has is refused: use PATCH)."""
    return _write_config(config_io.plan_put)


@api.patch("/api/config")
def patch_config() -> Any:
    """Change part of the config: the documented way, and the page's."""
    return _write_config(config_io.plan_patch)


def _write_config(plan: Callable[[Any, Dict[str, Any]], config_io.Change]) -> Any:
    denied = _guard_write()
    if denied:
        return denied
    try:
        body = _body()
    except PayloadError as exc:
        return problem(400, str(exc))
    c = ctx()
    with c.config_lock:
        try:
            config_io.ensure_writable(c.config_path)
            text, stored = config_io.read_file(c.config_path)
            change = plan(body, stored)
            config_io.bind_secrets(change, stored)
            errors = config_io.problems(change, stored)
            if errors:
                return problem(
                    422,
                    "the configuration is invalid; nothing was changed",
                    errors=errors,
                    cleared_secrets=change.cleared,
                )
            writes, removals = config_io.edits(stored, change.new)
            if writes or removals:
                config_io.save(c.config_path, text, writes, removals)
        except config_io.BadBody as exc:
            return problem(400, str(exc))
        except (config_io.ReadOnlyConfig, config_io.ConfigFileError) as exc:
            return problem(409, str(exc))
        except RecursionError:
            return problem(400, "the body is nested too deeply to be a config")
        merged = change.new
        changed = config_io.changed_keys(stored, merged)
        _apply_live(c, merged, changed)
    notified = _notify(c, changed)
    log.info("config saved from the web UI; changed: %s", ", ".join(changed) or "nothing")
    for secret in change.cleared:
        log.warning("config: %s cleared (its address changed; type it again)", secret)
    out: Dict[str, Any] = {
        "ok": True,
        "changed": changed,
        "restart_required": config_io.restart_needed(changed),
        "notified": notified,
        "cleared_secrets": change.cleared,
        "config": config_io.masked_view(merged),
    }
    if change.cleared:
        out["message"] = "; ".join(
            f"{s}: {config_io.cleared_reason(s, stored, change)}" for s in change.cleared
        )
    return jsonify(out)


def _apply_live(c: UiContext, merged: Dict[str, Any], changed: list) -> None:
    """Take over what this process can use without a restart (pricing, history, token)."""
    try:
        fresh = validate_config(merged, c.config_path)
    except ConfigError:  # only env overrides can fail here; keep running on the old config
        return
    c.cfg = fresh
    c.history.state_dir = type(c.history.state_dir)(fresh["state_dir"])
    c.history.currency = fresh["pricing"]["currency"]
    if "web.token" in changed and c.token is not None and fresh["web"]["token"]:
        c.token = fresh["web"]["token"]


def _notify(c: UiContext, changed: list) -> bool:
    """Retained notice so every process (also one started later) can reload the file."""
    notice = {"ts": c.clock.wall(), "source": "ui", "changed": changed}
    return c.publisher.publish(c.topics.config_changed, json.dumps(notice), retain=True)
