"""Who may ask: the names we serve, and who may write: loopback binds trust the machine; any
other bind needs the token.

The token is ``web.token`` from the config; if that is empty it is generated once, persisted
atomically (0600) in ``state_dir/web_token`` and logged once, at generation. It is never
logged again, and never sent in any response.

Host names: a page on ``evil.example`` can make its name resolve to this machine (DNS
rebinding); the browser then treats our answers as that page's own, and sends a matching
Origin. Only the Host header still tells: it carries the attacker's name. So a request is served
only for loopback names and addresses, ``web.host``, this machine's own names and addresses,
and ``web.allowed_hosts``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import socket
from pathlib import Path
from typing import Any, Dict, FrozenSet, Iterable, Optional
from urllib.parse import urlsplit

from common.atomic import write_atomic
from common.config_fields import config_value

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
    if is_loopback(str(config_value(cfg, "web.host"))):
        return None
    configured = str(config_value(cfg, "web.token") or "")
    if configured:
        return configured
    path = Path(config_value(cfg, "state_dir")) / TOKEN_FILE
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


def host_name(header: str) -> str:
    """The name in a Host header: lower case, without port, brackets or a final dot."""
    text = header.strip().lower()
    if text.startswith("["):
        end = text.find("]")
        return text[1:end] if end > 0 else text
    if text.count(":") == 1:
        text = text.rsplit(":", 1)[0]
    return text.rstrip(".")


def own_names() -> FrozenSet[str]:
    """This machine's names, without a DNS lookup (a GX may have no DNS at all)."""
    name = socket.gethostname().lower().rstrip(".")
    short = name.split(".", 1)[0]
    return frozenset(n for n in (name, short, f"{short}.local") if n)


def is_own_address(name: str) -> bool:
    """True when ``name`` is an IP address of this machine: the kernel lets us bind to it."""
    try:
        ip = ipaddress.ip_address(name)
    except ValueError:
        return False
    if ip.is_unspecified:
        return False
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(ip), 0))
        return True
    except OSError:
        return False


def host_allowed(header: Optional[str], web: Dict[str, Any], own: Iterable[str]) -> bool:
    """Whether a request with this Host header is for us (see the module docstring).

    No Host header at all is allowed: every browser sends one, so its absence is no rebinding.
    """
    if not header:
        return True
    name = host_name(header)
    if is_loopback(name) or name in own:
        return True
    bound = host_name(str(web.get("host", "")))
    if name == bound and not _is_unspecified(bound):
        return True
    allowed = web.get("allowed_hosts") or ()
    if any(name == host_name(str(a)) for a in allowed):
        return True
    return is_own_address(name)


def _is_unspecified(name: str) -> bool:
    try:
        return ipaddress.ip_address(name).is_unspecified
    except ValueError:
        return False
