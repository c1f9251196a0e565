"""The Flask application: the page, the JSON API blueprint, errors as JSON, safe headers."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, Tuple

from flask import Flask, Response, jsonify, redirect, render_template, request
from werkzeug.exceptions import HTTPException

from common.schema_check import short
from ui.api import api
from ui.auth import host_allowed, host_name, own_names
from ui.context import UiContext

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).resolve().parent / "static"
MAX_BODY_BYTES = 256 * 1024
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
)


def _asset_version() -> str:
    """A hash of the shipped assets: a new release busts the browser cache."""
    digest = hashlib.sha1(usedforsecurity=False)
    for path in sorted(STATIC_DIR.glob("*")):
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def create_app(ctx: UiContext) -> Flask:
    app = Flask(__name__, static_folder="static", static_url_path="/ui/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions["alfen_ui"] = ctx
    app.register_blueprint(api)
    version = _asset_version()
    own = own_names()
    # web.host takes effect at a restart: the name the server was started for stays ours even
    # after a save changes it, else the page the user saved from would answer 421
    bound = ctx.cfg.get("web", {}).get("host")

    @app.before_request
    def only_our_names() -> Any:
        """Before any handler (page, SSE, reads and writes): refuse names we do not serve."""
        header = request.environ.get("HTTP_HOST")
        if host_allowed(header, {**ctx.cfg.get("web", {}), "host": bound}, own):
            return None
        name = short(host_name(str(header)), 80)
        return (
            jsonify(
                error=f"this server does not answer to the name {name}; "
                "add it to web.allowed_hosts if it is yours"
            ),
            421,
        )

    @app.get("/")
    @app.get("/ui")
    def root() -> Any:
        return redirect("/ui/", code=302)

    @app.get("/ui/")
    def page() -> Any:
        return render_template("index.html", v=version)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Tuple[Response, int]:
        return jsonify(error=exc.description or exc.name), exc.code or 500

    @app.errorhandler(Exception)
    def crash(exc: Exception) -> Tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return jsonify(error="internal error; see the UI log"), 500

    @app.after_request
    def headers(resp: Response) -> Response:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["Content-Security-Policy"] = CSP
        if request.path.startswith("/api/"):
            resp.headers["Cache-Control"] = "no-store"
        return resp

    return app
