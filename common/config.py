"""Load, validate and default the YAML configuration shared by every process.

Validation is schemas/config.schema.json (one source of truth, also used by the UI's editor)
plus a few cross-field checks JSON Schema cannot express. Every problem is reported as one line:
key path, bad value, what was expected.
"""

from __future__ import annotations

import copy
import itertools
import logging
import os
from typing import Any, Dict, Iterator, List, Optional, Tuple

import yaml

from common.config_checks import (
    MAX_DEPTH,
    cross_field_problems,
    key_part,
    legacy_notes,
    map_legacy,
    value_problems,
)
from common.config_fields import CONFIG_SCHEMA, config_value
from common.schema_check import depth_exceeds, short
from common.schemas import load_schema, schema_errors
from common.topics import Topics

ENV_OVERRIDES = {"ALFEN_WEB_HOST": ("web", "host", str), "ALFEN_WEB_PORT": ("web", "port", int)}
# A config file is a few KB; the cap keeps a wrong or hostile file (the UI writes this file) from
# costing the processes memory and seconds before they can say what is wrong.
MAX_CONFIG_BYTES = 1_000_000
# Enough lines to fix a file in one go; a file with thousands of errors is no config at all.
MAX_PROBLEMS = 50


class ConfigError(Exception):
    """Invalid configuration; ``problems`` holds one line per problem."""

    def __init__(self, source: str, problems: List[str]) -> None:
        super().__init__(f"{source}: invalid configuration\n" + "\n".join(problems))
        self.source = source
        self.problems = problems


class _NoAliasLoader(yaml.SafeLoader):
    """PyYAML's safe loader without aliases: ``*name`` repeats a node, and eight nested levels
    of them in a 389-byte file expand to gigabytes. A config has no use for them."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML aliases (*{key_part(event.anchor, 40)}) are not allowed in the config"
                " file; write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text, refused (ConfigError) when unreadable, over MAX_CONFIG_BYTES or not
    UTF-8. At most MAX_CONFIG_BYTES + 1 bytes are ever read."""
    source = str(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(source, [f"(file): cannot read: {exc.strerror or exc}"]) from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            source,
            [f"(file): larger than {MAX_CONFIG_BYTES // 1000} kB; this is not a config file"],
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [f"(file): not UTF-8 text at byte {exc.start}"]) from None


def parse_yaml(text: str, source: str) -> Any:
    """YAML text to Python values (no aliases); every failure is a one-line ConfigError."""
    try:
        return yaml.load(text, Loader=_NoAliasLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = short(str(getattr(exc, "problem", None) or exc)).strip("'\"")
        raise ConfigError(source, [f"(file): not valid YAML at {where}: {problem}"]) from None
    except RecursionError:
        raise ConfigError(source, ["(file): nested too deeply to be a config file"]) from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(source, [f"(file): a value cannot be read: {short(str(exc))}"]) from None


def read_config(
    path: str | os.PathLike[str], env: Dict[str, str] | None = None
) -> Tuple[Dict[str, Any], List[str]]:
    """(validated config with every default filled in, warnings about old keys in the file)."""
    source = str(path)
    raw = parse_yaml(read_text(path), source)
    if raw is None:
        raw = {}
    cfg = validate_config(raw, source, env)
    return cfg, legacy_notes(raw)


def load_config(path: str | os.PathLike[str], env: Dict[str, str] | None = None) -> Dict[str, Any]:
    """Read a YAML file and return the validated config with every default filled in."""
    return read_config(path, env)[0]


def validate_config(
    raw: Any, source: str = "config", env: Dict[str, str] | None = None
) -> Dict[str, Any]:
    """Validate a parsed config mapping; apply env overrides, old keys and defaults.

    Every problem is found in one pass (schema, values, rules between keys), so the user sees
    them all at once.
    """
    if not isinstance(raw, dict):
        raise ConfigError(
            source, [f"(top level): {type(raw).__name__} is not a mapping of sections"]
        )
    if depth_exceeds(raw, MAX_DEPTH):
        raise ConfigError(source, [f"(top level): nested deeper than {MAX_DEPTH} levels"])
    cfg = copy.deepcopy(raw)
    env_problems = _apply_env(cfg, os.environ if env is None else env)
    schema = load_schema(CONFIG_SCHEMA)
    problems = env_problems + schema_problems(cfg) + value_problems(schema, cfg)
    map_legacy(cfg)
    cfg = with_defaults(cfg)
    problems += cross_field_problems(cfg)
    if problems:
        problems.sort(key=lambda line: line.split(": ", 1)[0])
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], f"(more): … and {more} more problems"]
        raise ConfigError(source, problems)
    return cfg


def _key(path: Any) -> str:
    """Dotted key path with each part cut short (a key can be as long as the file)."""
    return ".".join(key_part(p) for p in path)


def schema_problems(cfg: Any) -> List[str]:
    """One line per schema violation: path, value, expected form (at most a few hundred)."""
    schema = load_schema(CONFIG_SCHEMA)
    errors = list(itertools.islice(schema_errors(CONFIG_SCHEMA, cfg), 4 * MAX_PROBLEMS))
    lines = []
    for err in sorted(errors, key=lambda e: list(map(str, e.path))):
        key = _key(err.path) or "(top level)"
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            known = ", ".join(sorted(err.schema.get("properties", {})))
            for name in extra[:MAX_PROBLEMS]:
                full = _key([*err.path, name])
                lines.append(f"{full}: unknown key (known keys here: {known})")
            if len(extra) > MAX_PROBLEMS:
                lines.append(f"{key}: … and {len(extra) - MAX_PROBLEMS} more unknown keys")
            continue
        if err.validator == "required":
            lines.append(f"{key}: {err.message}")
            continue
        sub = _schema_at(schema, list(err.absolute_path))
        lines.append(
            f"{key}: {short(err.instance)} is invalid: {_reason(err)}; "
            f"expected {expected_form(sub)}"
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
    if "x-expected" in node:
        parts.append(node["x-expected"])
    elif node.get("x-host"):
        parts.append("a host name or IP address")
    elif "pattern" in node:
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
                f"{section}.{key} (from ${var}): {short(env[var])} is invalid; expected {kind.__name__}"
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
    # The notice is a claim anyone on the broker can make: re-read (up to 1 MB, fully checked)
    # only when the file really differs from the one this process read last.
    signature = _signature(config_path)
    if signature is not None and _RELOADED.get(config_path) == signature:
        return None
    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        logging.getLogger(__name__).error("config changed but not applied: %s", exc)
        return None
    _RELOADED[config_path] = signature
    logging.getLogger(__name__).info("config reloaded from %s", config_path)
    return cfg


# config path -> (inode, size, mtime) of the file last reloaded, per process
_RELOADED: Dict[str, Optional[Tuple[int, int, int]]] = {}


def _signature(path: str) -> Optional[Tuple[int, int, int]]:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def charger_id(cfg: Dict[str, Any]) -> str:
    """The id in ``{prefix}/{id}``: the configured device instance."""
    return str(config_value(cfg, "device_instance"))


def topics_for(cfg: Dict[str, Any]) -> Topics:
    """This charger's topic names, ``{mqtt.prefix}/{device_instance}``, for every process."""
    return Topics(str(config_value(cfg, "mqtt.prefix")), charger_id(cfg))
