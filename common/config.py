"""Load, validate and default the YAML configuration shared by every process.

Validation is schemas/config.schema.json (one source of truth, also used by the UI's editor)
plus a few cross-field checks JSON Schema cannot express. Every problem is reported as one line:
key path, bad value, what was expected.
"""

from __future__ import annotations

import copy
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytz
import yaml

from common.schemas import load_schema, path_of, schema_errors
from common.topics import DEFAULT_PREFIX, Topics

CONFIG_SCHEMA = "config"
ENV_OVERRIDES = {"ALFEN_WEB_HOST": ("web", "host", str), "ALFEN_WEB_PORT": ("web", "port", int)}


class ConfigError(Exception):
    """Invalid configuration; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: List[str]) -> None:
        super().__init__(f"{source}: invalid configuration\n" + "\n".join(problems))
        self.source = source
        self.problems = problems


def load_config(path: str | os.PathLike[str], env: Dict[str, str] | None = None) -> Dict[str, Any]:
    """Read a YAML file and return the validated config with every default filled in."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, [f"(file): cannot read: {exc.strerror or exc}"]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"(file): not UTF-8 text at byte {exc.start}"]) from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(source, [f"(file): not valid YAML at {where}: {problem}"]) from None
    if raw is None:
        raw = {}
    return validate_config(raw, source, env)


def validate_config(
    raw: Any, source: str = "config", env: Dict[str, str] | None = None
) -> Dict[str, Any]:
    """Validate a parsed config mapping; apply env overrides and defaults."""
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [f"(top level): {type(raw).__name__} is not a mapping of sections"]
        )
    cfg = copy.deepcopy(raw)
    env_problems = _apply_env(cfg, os.environ if env is None else env)
    problems = env_problems + schema_problems(cfg)
    if not problems:
        cfg = with_defaults(cfg)
        problems = _cross_field_problems(cfg)
    if problems:
        raise ConfigError(source, problems)
    return cfg


def schema_problems(cfg: Any) -> List[str]:
    """One line per schema violation: path, value, expected form."""
    schema = load_schema(CONFIG_SCHEMA)
    lines = []
    for err in sorted(schema_errors(CONFIG_SCHEMA, cfg), key=lambda e: list(map(str, e.path))):
        key = path_of(err) or "(top level)"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            for name in extra:
                known = ", ".join(sorted(err.schema.get("properties", {})))
                full = f"{key}.{name}" if path_of(err) else name
                lines.append(f"{full}: unknown key (known keys here: {known})")
            continue
        if err.validator == "required":
            lines.append(f"{key}: {err.message}")
            continue
        sub = _schema_at(schema, list(err.absolute_path))
        lines.append(
            f"{key}: {err.instance!r} is invalid: {_reason(err)}; expected {expected_form(sub)}"
        )
    return lines


def _reason(err: Any) -> str:
    if err.validator in ("oneOf", "anyOf"):
        return "matches none of the allowed forms"
    return str(err.message)


def _schema_at(schema: Dict[str, Any], path: List[Any]) -> Dict[str, Any]:
    node = schema
    for part in path:
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, node.get("additionalProperties") or {})
        if not isinstance(node, dict):
            return {}
    return node


def expected_form(node: Dict[str, Any]) -> str:
    """A short human description of what a schema node accepts."""
    parts: List[str] = []
    if "enum" in node:
        parts.append("one of " + ", ".join(repr(v) for v in node["enum"]))
    elif "oneOf" in node:
        parts.append(" or ".join(expected_form(o) for o in node["oneOf"]))
    else:
        kind = node.get("type", "value")
        parts.append(kind if isinstance(kind, str) else "/".join(kind))
    lo, hi = node.get("minimum", node.get("exclusiveMinimum")), node.get("maximum")
    if lo is not None and hi is not None:
        parts.append(f"from {lo} to {hi}")
    elif lo is not None:
        parts.append(f"at least {lo}")
    elif hi is not None:
        parts.append(f"at most {hi}")
    if "x-unit" in node:
        parts.append(f"in {node['x-unit']}")
    if "pattern" in node:
        parts.append("formatted HH:MM" if ":" in node["pattern"] else f"matching {node['pattern']}")
    if node.get("description"):
        parts.append(f"({node['description']})")
    return " ".join(parts)


def _apply_env(cfg: Dict[str, Any], env: Dict[str, str] | os._Environ[str]) -> List[str]:
    problems = []
    for var, (section, key, kind) in ENV_OVERRIDES.items():
        if var not in env or env[var] == "":
            continue
        try:
            value = kind(env[var])
        except ValueError:
            problems.append(
                f"{section}.{key} (from ${var}): {env[var]!r} is invalid; expected {kind.__name__}"
            )
            continue
        sect = cfg.setdefault(section, {})
        if isinstance(sect, dict):
            sect[key] = value
    return problems


def with_defaults(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Fill every missing key that has a schema default (sections are created as needed)."""
    return _fill(load_schema(CONFIG_SCHEMA), copy.deepcopy(cfg))


def _fill(node: Dict[str, Any], value: Any) -> Any:
    if node.get("type") == "object" and isinstance(value, dict):
        for key, sub in node.get("properties", {}).items():
            if key in value:
                value[key] = _fill(sub, value[key])
            elif sub.get("type") == "object" and "properties" in sub:
                value[key] = _fill(sub, {})
            elif "default" in sub:
                value[key] = copy.deepcopy(sub["default"])
    elif node.get("type") == "array" and isinstance(value, list):
        value = [_fill(node.get("items", {}), v) for v in value]
    return value


def _cross_field_problems(cfg: Dict[str, Any]) -> List[str]:
    problems = []
    tz = cfg.get("timezone")
    if tz not in pytz.all_timezones_set:
        problems.append(
            f"timezone: {tz!r} is invalid; expected an IANA zone such as 'Europe/Amsterdam'"
        )
    tib = cfg["tibber"]
    if tib["enabled"] and not tib["access_token"]:
        problems.append(
            "tibber.access_token: '' is invalid; expected a token when tibber.enabled is true"
        )
    auto = cfg["auto"]
    if auto["phase_switch_down_w"] >= auto["phase_switch_up_w"]:
        problems.append(
            f"auto.phase_switch_down_w: {auto['phase_switch_down_w']!r} is invalid; expected less than "
            f"auto.phase_switch_up_w ({auto['phase_switch_up_w']!r}) so the phases do not flap"
        )
    if cfg["defaults"]["intended_set_current"] > cfg["controls"]["max_set_current"]:
        problems.append(
            f"defaults.intended_set_current: {cfg['defaults']['intended_set_current']!r} is invalid; "
            f"expected at most controls.max_set_current ({cfg['controls']['max_set_current']!r})"
        )
    return problems


def secret_paths() -> List[Tuple[str, ...]]:
    """Key paths marked ``x-secret`` in the schema (never logged, never sent to a browser)."""
    return list(_secrets(load_schema(CONFIG_SCHEMA), ()))


def _secrets(node: Dict[str, Any], prefix: Tuple[str, ...]) -> Iterator[Tuple[str, ...]]:
    for key, sub in node.get("properties", {}).items():
        if sub.get("x-secret"):
            yield (*prefix, key)
        yield from _secrets(sub, (*prefix, key))


def redacted(cfg: Dict[str, Any], mask: str = "***") -> Dict[str, Any]:
    """A copy with every secret replaced by ``mask`` when set (empty stays empty)."""
    out = copy.deepcopy(cfg)
    for path in secret_paths():
        node: Any = out
        for key in path[:-1]:
            node = node.get(key) if isinstance(node, dict) else None
        if isinstance(node, dict) and node.get(path[-1]):
            node[path[-1]] = mask
    return out


def reload_on_notice(
    payload: bytes, config_path: Optional[str], started_at: float
) -> Optional[Dict[str, Any]]:
    """The config to apply after a ``{base}/config/changed`` notice, or None.

    A retained notice older than the process was already read at start; an invalid file is
    refused with the reason logged, so a bad save never takes a running process down.
    """
    from common.schemas import PayloadError, parse_json

    try:
        notice = parse_json(payload) if payload else None
    except PayloadError:
        return None
    ts = notice.get("ts") if isinstance(notice, dict) else None
    if not config_path or not isinstance(ts, (int, float)) or ts < started_at:
        return None
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        logging.getLogger(__name__).error("config changed but not applied: %s", exc)
        return None
    logging.getLogger(__name__).info("config reloaded from %s", config_path)
    return cfg


def charger_id(cfg: Dict[str, Any]) -> str:
    """The id in ``{prefix}/{id}``: the configured device instance."""
    return str(cfg.get("device_instance", 0))


def topics_for(cfg: Dict[str, Any]) -> Topics:
    """This charger's topic names, ``{mqtt.prefix}/{device_instance}``, for every process."""
    return Topics(cfg.get("mqtt", {}).get("prefix", DEFAULT_PREFIX), charger_id(cfg))
