"""Read, mask, change and write the user's YAML config file for the editor (/api/config).

- Secrets (``x-secret`` in the schema) never leave this process: a GET shows ``MASK`` where a
  secret is set, and a write that sends ``MASK`` (or leaves the key out) keeps the stored value.
- A secret is bound to where it goes (``x-bound-to``): a write that changes tibber.api_url, or
  mqtt.host or mqtt.port, without typing the matching secret again clears that secret, so a
  stored token is never sent to an address the user did not type it for.
- PATCH merges a partial body into the file; PUT replaces the whole config and refuses a body
  that leaves out a key the file has.
- Saving writes only the keys whose value changed, into the user's own file (comments, key
  order and quoting kept: ui/yaml_edit.py), after copying the previous file to ``.bak``; the new
  name of an old key replaces the old key instead of standing beside it.
"""

from __future__ import annotations

import copy
import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

from common.atomic import write_atomic
from common.config import (
    CONFIG_SCHEMA,
    ConfigError,
    parse_yaml,
    read_text,
    redacted,
    secret_paths,
    validate_config,
    with_defaults,
)
from common.config_checks import MAX_DEPTH, map_legacy
from common.schema_check import depth_exceeds
from common.schemas import load_schema

MASK = "********"
# Keys this process cannot apply live (it would have to rebind or reconnect).
UI_RESTART_KEYS: Tuple[str, ...] = ("web.host", "web.port", "mqtt", "device_instance")
KeyPath = Tuple[str, ...]
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


class ConfigFileError(Exception):
    """The file on disk cannot be read or parsed (edited by hand since the start)."""


class ReadOnlyConfig(Exception):
    """The config file (or its folder) cannot be written: a read-only mount or image."""

    def __init__(self, path: str) -> None:
        super().__init__(f"config file is read-only: {path}")


class BadBody(Exception):
    """A request body that is no config change at all (400)."""


@dataclass
class Change:
    """A proposed config: the whole new raw mapping and what it means."""

    new: Dict[str, Any]
    typed: Dict[KeyPath, bool]  # secret path -> typed in this request (not the mask, not absent)
    cleared: List[str] = field(default_factory=list)


def read_file(path: str | os.PathLike[str]) -> Tuple[str, Dict[str, Any]]:
    """(the file's text, its parsed mapping), with the loader's caps (1 MB, no aliases)."""
    try:
        text = read_text(path)
        raw = parse_yaml(text, str(path))
    except ConfigError as exc:
        raise ConfigFileError("; ".join(exc.problems) + " — fix the file by hand") from None
    if raw is None:
        return text, {}
    if not isinstance(raw, dict):
        raise ConfigFileError("the config file is not a mapping of sections")
    return text, raw


def read_raw(path: str | os.PathLike[str]) -> Dict[str, Any]:
    return read_file(path)[1]


def effective(raw: Dict[str, Any]) -> Dict[str, Any]:
    """What the processes run with: old keys under their new names, every default filled in."""
    cfg = copy.deepcopy(raw)
    map_legacy(cfg)
    return with_defaults(cfg)


def masked_view(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The file's values with every default filled in and every set secret masked."""
    return redacted(effective(raw), mask=MASK)


def _get(node: Any, path: KeyPath) -> Tuple[bool, Any]:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _set(node: Dict[str, Any], path: KeyPath, value: Any) -> None:
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return  # the body replaced the section with a non-object: validation will say so
        node = child
    node[path[-1]] = value


def _leaves(node: Any, path: KeyPath = ()) -> Iterator[KeyPath]:
    """Key paths of every value that is not a non-empty mapping."""
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, (*path, str(key)))
    elif path:
        yield path


def check_body(body: Any) -> Dict[str, Any]:
    """The body as a mapping, or BadBody with the reason."""
    if not isinstance(body, dict):
        raise BadBody(f"expected a JSON object of config sections, not {type(body).__name__}")
    if depth_exceeds(body, MAX_DEPTH):
        raise BadBody("the body is nested deeper than any config")
    return body


def _typed(body: Dict[str, Any]) -> Dict[KeyPath, bool]:
    typed = {}
    for path in secret_paths():
        has, value = _get(body, path)
        typed[path] = has and value != MASK
    return typed


def _keep_secrets(new: Dict[str, Any], stored: Dict[str, Any], typed: Dict[KeyPath, bool]) -> None:
    for path, was_typed in typed.items():
        if was_typed:
            continue
        has_old, old = _get(stored, path)
        has_new, _ = _get(new, path)
        if has_old:
            _set(new, path, old)
        elif has_new:
            _set(new, path, "")  # MASK with nothing stored: there is no secret to keep


def plan_put(body: Any, stored: Dict[str, Any]) -> Change:
    """PUT: the body is the whole config. A body without a key the file has is refused."""
    body = check_body(body)
    secrets = set(secret_paths())
    missing = [".".join(p) for p in _leaves(stored) if p not in secrets and not _get(body, p)[0]]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise BadBody(
            f"PUT replaces the whole config; use PATCH to change part of it (missing: {shown})"
        )
    new = copy.deepcopy(body)
    typed = _typed(body)
    _keep_secrets(new, stored, typed)
    return Change(new, typed)


def plan_patch(body: Any, stored: Dict[str, Any]) -> Change:
    """PATCH: mappings merge key by key; lists and values replace; null is a value."""
    body = check_body(body)
    new = _merge(copy.deepcopy(stored), body)
    typed = _typed(body)
    _keep_secrets(new, stored, typed)
    return Change(new, typed)


def _merge(base: Dict[str, Any], patch: Dict[str, Any]) -> Dict[str, Any]:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = _merge(base[key], value)
        else:
            base[key] = copy.deepcopy(value)
    return base


def _bindings() -> Iterator[Tuple[KeyPath, List[KeyPath]]]:
    props = load_schema(CONFIG_SCHEMA)["properties"]
    for path in secret_paths():
        node = props[path[0]]
        for key in path[1:]:
            node = node["properties"][key]
        yield path, [tuple(d.split(".")) for d in node.get("x-bound-to", ())]


def bind_secrets(change: Change, stored: Dict[str, Any]) -> None:
    """Clear each stored secret whose destination changed unless it was typed again."""
    try:
        before, after = effective(stored), effective(change.new)
    except (TypeError, AttributeError):  # a section of the wrong type: validation names it
        return
    for path, dests in _bindings():
        if change.typed.get(path) or not _get(stored, path)[1]:
            continue
        moved = [d for d in dests if _get(before, d)[1] != _get(after, d)[1]]
        if moved:
            _set(change.new, path, "")
            change.cleared.append(".".join(path))


def cleared_reason(secret: str, stored: Dict[str, Any], change: Change) -> str:
    """Why a secret was cleared: the destinations that changed."""
    for path, dests in _bindings():
        if ".".join(path) == secret:
            names = [".".join(d) for d in dests]
            return (
                f"cleared because {' or '.join(names)} changed: type it again to send it to "
                "the new address"
            )
    return "cleared"


def problems(change: Change, stored: Dict[str, Any]) -> List[Dict[str, str]]:
    """Every problem of the proposed config as {"path", "message"}; empty when valid."""
    try:
        validate_config(change.new, "config", env={})
    except ConfigError as exc:
        hide = _secret_values(change.new) + _secret_values(stored)
        out = [_split(line, hide) for line in exc.problems]
        for item in out:
            if item["path"] in change.cleared:
                item["message"] = cleared_reason(item["path"], stored, change)
        return out
    return []


def _secret_values(cfg: Dict[str, Any]) -> List[str]:
    values = []
    for path in secret_paths():
        ok, value = _get(cfg, path)
        if ok and isinstance(value, str) and value:
            values.append(value)
    return values


def _split(line: str, hide: List[str]) -> Dict[str, str]:
    """``"controls.max_retries: 99 is invalid…"`` → path and message (secrets scrubbed)."""
    for secret in hide:
        line = line.replace(secret, MASK)
    path, sep, message = line.partition(": ")
    if not sep:
        return {"path": "", "message": line}
    path = path.split(" (from $", 1)[0]
    return {"path": "" if path.startswith("(") else path, "message": message}


def changed_keys(old: Dict[str, Any], new: Dict[str, Any]) -> List[str]:
    """Dotted keys (section.key or top-level key) whose effective value differs."""
    a, b = effective(old), effective(new)
    keys: List[str] = []
    for top in sorted(set(a) | set(b)):
        va, vb = a.get(top), b.get(top)
        if va == vb:
            continue
        if isinstance(va, dict) and isinstance(vb, dict):
            keys += [f"{top}.{k}" for k in sorted(set(va) | set(vb)) if va.get(k) != vb.get(k)]
        else:
            keys.append(top)
    return keys


def restart_needed(keys: List[str]) -> List[str]:
    return [k for k in keys if any(k == r or k.startswith(r + ".") for r in UI_RESTART_KEYS)]


def edits(
    stored: Dict[str, Any], new: Dict[str, Any]
) -> Tuple[List[Tuple[KeyPath, Any]], List[KeyPath]]:
    """(values to write, old keys to delete): only the keys whose effective value changes."""
    before, after = effective(stored), effective(new)
    writes = []
    for path in _leaves(new):
        if _get(before, path) != _get(after, path):
            writes.append((path, _get(new, path)[1]))
    removals = []
    for path, _value in writes:
        old = _old_name(path)
        if old is not None and _get(stored, old)[0]:
            removals.append(old)
    return writes, removals


def _old_name(path: KeyPath) -> Optional[KeyPath]:
    """The old key that ``path`` replaces (``x-replaced-by`` on the old key in the schema)."""
    target = ".".join(path)
    for section, node in load_schema(CONFIG_SCHEMA)["properties"].items():
        for key, sub in node.get("properties", {}).items():
            if sub.get("x-replaced-by") == target:
                return (section, key)
    return None


def ensure_writable(path: str | os.PathLike[str]) -> None:
    """ReadOnlyConfig unless the file and its folder (temp file, ``.bak``) can be written."""
    target = Path(path)
    if not os.access(target.parent, os.W_OK) or (
        target.exists() and not os.access(target, os.W_OK)
    ):
        raise ReadOnlyConfig(str(target))


def save(
    path: str | os.PathLike[str],
    text: str,
    writes: List[Tuple[KeyPath, Any]],
    removals: List[KeyPath],
) -> None:
    """Back the current file up to ``<file>.bak`` and write the edited text atomically (0600)."""
    from ui.yaml_edit import edit

    target = Path(path)
    new_text = edit(text, writes, removals)
    try:
        try:
            previous: Optional[bytes] = target.read_bytes()
        except FileNotFoundError:
            previous = None
        if previous is not None:
            write_atomic(target.with_name(target.name + ".bak"), previous, mode=0o600)
        write_atomic(target, new_text, mode=0o600)
    except OSError as exc:
        if exc.errno in _READ_ONLY:
            raise ReadOnlyConfig(str(target)) from None
        raise
