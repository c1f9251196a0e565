"""Config checks that JSON Schema cannot express, and the old driver's keys.

Every check here reports instead of raising and copes with values of the wrong type (the schema
reports those), so that one run gives the user every problem at once: a bad time zone is named
together with a bad port, not after it is fixed.
"""

from __future__ import annotations

import ipaddress
import math
import re
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytz

from common.evcs import finite_number
from common.schema_check import short

# Nesting deeper than this is no config of ours (the deepest real key is
# schedule.items[].days[]: 5 levels); refusing early keeps deepcopy and the validator, which
# recurse, far from Python's recursion limit.
MAX_DEPTH = 12
# A host name is at most 253 characters (RFC 1123 with RFC 1035's length limit).
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")

# Keys of the old driver's file that no process reads: (path, what replaces it, how).
# verify_delay is mapped (it is verification_delay in milliseconds); the rest are ignored with a
# warning that names what does the job now.
VERIFY_DELAY = ("controls", "verify_delay")
LEGACY_IGNORED: Tuple[Tuple[Tuple[str, ...], str], ...] = (
    (
        ("controls", "current_update_interval"),
        "the setpoint is rewritten by controls.watchdog_interval_seconds and "
        "controls.refresh_floor_seconds (the old driver did not use this key either)",
    ),
    (
        ("controls", "min_charge_duration_seconds"),
        "AUTO keeps charging through a dip for auto.stop_delay_s and charges at least "
        "auto.min_on_s once started",
    ),
    (("registers",), "the register map is fixed by Alfen's Modbus specification"),
)


def key_part(name: Any, limit: int = 60) -> str:
    """One part of a dotted key path, cut short: a key can be as long as the file."""
    text = str(name)
    return text if len(text) <= limit else text[:limit] + "…"


def is_host(text: str) -> bool:
    """An IPv4/IPv6 address or an RFC 1123 host name (labels of letters, digits and hyphens)."""
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        pass
    name = text[:-1] if text.endswith(".") else text
    if not name or len(name) > 253:
        return False
    labels = name.split(".")
    if all(label.isdigit() for label in labels):
        return False  # "300.1.1.1" is neither an address nor a name
    return all(_LABEL.match(label) for label in labels)


def value_problems(schema: Dict[str, Any], cfg: Any) -> List[str]:
    """Non-finite numbers anywhere, and host keys (``x-host`` in the schema) that are not hosts."""
    return list(_walk(schema, cfg, ()))


def _walk(node: Any, value: Any, path: Tuple[str, ...]) -> Iterator[str]:
    node = node if isinstance(node, dict) else {}
    key = ".".join(path) or "(top level)"
    if isinstance(value, float) and not math.isfinite(value):
        yield f"{key}: {value!r} is invalid; expected a finite number"
    elif isinstance(value, str) and node.get("x-host") and len(value) <= 253:
        if not is_host(value):
            yield (
                f"{key}: {short(value)} is invalid; expected a host name (letters, digits, "
                "hyphens and dots: RFC 1123) or an IP address"
            )
    elif isinstance(value, dict):
        props = node.get("properties", {})
        extra = node.get("additionalProperties")
        for name, item in value.items():
            yield from _walk(props.get(name, extra), item, (*path, key_part(name)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(node.get("items"), item, (*path, str(index)))


def _at(cfg: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(cfg, dict):
            return None
        cfg = cfg.get(key)
    return cfg


def _number(cfg: Any, *path: str) -> Optional[float]:
    return finite_number(_at(cfg, *path))


def cross_field_problems(cfg: Any) -> List[str]:
    """Rules between keys, on the config with its defaults; a key of the wrong type is skipped
    (the schema names it)."""
    problems = []
    tz = _at(cfg, "timezone")
    if isinstance(tz, str) and tz not in pytz.all_timezones_set:
        problems.append(
            f"timezone: {short(tz)} is invalid; expected an IANA zone such as 'Europe/Amsterdam'"
        )
    if _at(cfg, "tibber", "enabled") is True and _at(cfg, "tibber", "access_token") == "":
        problems.append(
            "tibber.access_token: '' is invalid; expected a token when tibber.enabled is true"
        )
    down, up = (
        _number(cfg, "auto", "phase_switch_down_w"),
        _number(cfg, "auto", "phase_switch_up_w"),
    )
    if down is not None and up is not None and down >= up:
        problems.append(
            f"auto.phase_switch_down_w: {_at(cfg, 'auto', 'phase_switch_down_w')!r} is invalid; "
            f"expected less than auto.phase_switch_up_w ({_at(cfg, 'auto', 'phase_switch_up_w')!r})"
            " so the phases do not flap"
        )
    want = _number(cfg, "defaults", "intended_set_current")
    ceiling = _number(cfg, "controls", "max_set_current")
    if want is not None and ceiling is not None and want > ceiling:
        problems.append(
            f"defaults.intended_set_current: {_at(cfg, 'defaults', 'intended_set_current')!r} is "
            f"invalid; expected at most controls.max_set_current "
            f"({_at(cfg, 'controls', 'max_set_current')!r})"
        )
    return problems


def map_legacy(cfg: Dict[str, Any]) -> None:
    """Give old keys their effect under the new names (in place; the old key stays)."""
    controls = cfg.get("controls")
    if isinstance(controls, dict) and "verification_delay" not in controls:
        old = controls.get("verify_delay")
        if isinstance(old, (int, float)) and not isinstance(old, bool):
            controls["verification_delay"] = old / 1000.0


def legacy_notes(raw: Any) -> List[str]:
    """One warning per old key in the user's file: the key, and what replaces it."""
    notes = []
    old = _at(raw, *VERIFY_DELAY)
    if old is not None:
        if _at(raw, "controls", "verification_delay") is not None:
            notes.append(
                "controls.verify_delay is an old key and is ignored: "
                "controls.verification_delay is set; delete verify_delay"
            )
        else:
            notes.append(
                f"controls.verify_delay is an old key: read as controls.verification_delay "
                f"{short(old)} ms; write controls.verification_delay (in seconds) instead"
            )
    for path, instead in LEGACY_IGNORED:
        parent = _at(raw, *path[:-1])
        if isinstance(parent, dict) and path[-1] in parent:
            notes.append(f"{'.'.join(path)} is an old key and is ignored: {instead}")
    return notes
