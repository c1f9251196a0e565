"""Read, mask, validate and write the YAML config file for the editor (GET/PUT /api/config).

Secrets (``x-secret`` in the schema) never leave this process: a GET shows ``MASK`` where a
secret is set, and a PUT that sends ``MASK`` (or leaves the key out) keeps the stored value.
A valid PUT is written atomically (mode 0600) after the previous file is copied to ``.bak``.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any, Dict, List, Tuple

import yaml

from common.atomic import write_atomic
from common.config import ConfigError, redacted, secret_paths, validate_config, with_defaults

MASK = "********"
# Keys this process cannot apply live (it would have to rebind or reconnect).
UI_RESTART_KEYS: Tuple[str, ...] = ("web.host", "web.port", "mqtt", "device_instance")


class ConfigFileError(Exception):
    """The file on disk cannot be read or parsed (edited by hand since the start)."""


def read_raw(path: str | os.PathLike[str]) -> Dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(f"cannot read the config file: {exc.strerror or exc}") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        raise ConfigFileError("the config file is not valid YAML; fix it by hand") from None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigFileError("the config file is not a mapping of sections")
    return raw


def masked_view(raw: Dict[str, Any]) -> Dict[str, Any]:
    """The file's values with every default filled in and every set secret masked."""
    return redacted(with_defaults(raw), mask=MASK)


def _get(node: Any, path: Tuple[str, ...]) -> Tuple[bool, Any]:
    for key in path:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _set(node: Dict[str, Any], path: Tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            return  # the body replaced the section with a non-object: validation will say so
        node = child
    node[path[-1]] = value


def merge_secrets(body: Dict[str, Any], stored: Dict[str, Any]) -> Dict[str, Any]:
    """``body`` with masked or omitted secrets replaced by the stored values."""
    out = copy.deepcopy(body)
    for path in secret_paths():
        has_new, new = _get(out, path)
        has_old, old = _get(stored, path)
        if (not has_new or new == MASK) and has_old:
            _set(out, path, old)
        elif has_new and new == MASK:
            _set(out, path, "")  # MASK with nothing stored: there is no secret to keep
    return out


def _secret_values(cfg: Dict[str, Any]) -> List[str]:
    values = []
    for path in secret_paths():
        ok, value = _get(cfg, path)
        if ok and isinstance(value, str) and value:
            values.append(value)
    return values


def problems(body: Any, stored: Dict[str, Any]) -> List[Dict[str, str]]:
    """Every problem of a candidate config as {"path", "message"}; empty when valid."""
    try:
        validate_config(body, "config", env={})
    except ConfigError as exc:
        hide = _secret_values(body) + _secret_values(stored) if isinstance(body, dict) else []
        return [_split(line, hide) for line in exc.problems]
    return []


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
    a, b = with_defaults(old), with_defaults(new)
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


def save(path: str | os.PathLike[str], cfg: Dict[str, Any]) -> None:
    """Back the current file up to ``<file>.bak`` and write ``cfg`` atomically (0600)."""
    target = Path(path)
    try:
        previous = target.read_bytes()
    except FileNotFoundError:
        previous = None
    if previous is not None:
        write_atomic(target.with_name(target.name + ".bak"), previous, mode=0o600)
    text = "# Written by the web UI; the previous version is in the .bak file next to this one.\n"
    text += yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True)
    write_atomic(target, text, mode=0o600)
