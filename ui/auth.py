"""Who may write: loopback binds trust the machine; any other bind needs the token.

The token is ``web.token`` from the config; if that is empty it is generated once, persisted
atomically (0600) in ``state_dir/web_token`` and logged once, at generation. It is never
logged again, and never sent in any response.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
from pathlib import Path
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

from common.atomic import write_atomic

log = logging.getLogger(__name__)
TOKEN_FILE = "web_token"


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(cfg: Dict[str, Any]) -> Optional[str]:
    """The write token, or None when the bind is loopback-only (no token needed)."""
    web = cfg.get("web", {})
    if is_loopback(str(web.get("host", "127.0.0.1"))):
        return None
    configured = str(web.get("token") or "")
    if configured:
        return configured
    path = Path(cfg.get("state_dir", ".")) / TOKEN_FILE
    try:
        stored = path.read_text(encoding="utf-8").strip()
    except OSError:
        stored = ""
    if stored:
        log.info("web UI bound beyond localhost: write token is in %s", path)
        return stored
    token = secrets.token_urlsafe(24)
    write_atomic(path, token + "\n", mode=0o600)
    # Logged exactly once, when generated: the user needs it to unlock the page.
    log.warning(
        "web UI bound beyond localhost: generated write token %s (saved in %s)", token, path
    )
    return token


def token_ok(expected: Optional[str], headers: Any) -> bool:
    if expected is None:
        return True
    auth = str(headers.get("Authorization", ""))
    given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
    given = given or str(headers.get("X-Auth-Token", ""))
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


def cross_origin(headers: Any) -> bool:
    """True when a browser says the request comes from another site (CSRF on a loopback bind).

    A cross-site page can POST a "simple" request to 127.0.0.1 without any CORS preflight;
    browsers always send Origin on such requests, so a foreign Origin is refused.
    """
    origin = headers.get("Origin")
    if not origin or origin == "null":
        return origin == "null"
    return urlsplit(origin).netloc.lower() != str(headers.get("Host", "")).lower()
