"""Config-backed settings: each field names its config key, and its default is the schema's.

schemas/config.schema.json is the one place a config default is written. A settings dataclass
declares ``lease_s: float = config_field("controls.command_lease_seconds")``; the field's default
is read from the schema, and ``read_fields`` takes every such field from a config, falling back to
the schema's default for a key the config lacks (tests pass partial configs).
"""

from __future__ import annotations

import copy
from dataclasses import field, fields
from typing import Any, Callable, Dict

from common.schemas import load_schema

CONFIG_SCHEMA = "config"  # schemas/config.schema.json


def config_default(key: str) -> Any:
    """The schema's default for a dotted key such as ``auto.min_current_a``; KeyError (naming
    the key) when the schema gives none."""
    node: Any = load_schema(CONFIG_SCHEMA)
    for part in key.split("."):
        node = node.get("properties", {}).get(part) if isinstance(node, dict) else None
    if not isinstance(node, dict) or "default" not in node:
        raise KeyError(f"{key}: schemas/{CONFIG_SCHEMA}.schema.json gives no default")
    return copy.deepcopy(node["default"])


def config_value(cfg: Dict[str, Any], key: str) -> Any:
    """The value at a dotted key of a config, else the schema's default."""
    node: Any = cfg
    for part in key.split("."):
        if not isinstance(node, dict) or part not in node:
            return config_default(key)
        node = node[part]
    return node


def config_field(key: str, convert: Callable[[Any], Any] = float) -> Any:
    """A dataclass field read from config key ``key`` through ``convert``; its default is the
    schema's."""
    return field(default=convert(config_default(key)), metadata={"config": key, "convert": convert})


def read_fields(cls: Any, cfg: Dict[str, Any]) -> Dict[str, Any]:
    """Every ``config_field`` of dataclass ``cls``, by field name, from ``cfg``."""
    return {
        f.name: f.metadata["convert"](config_value(cfg, f.metadata["config"]))
        for f in fields(cls)
        if "config" in f.metadata
    }


def config_keys(cls: Any) -> Dict[str, str]:
    """Field name → the config key it is read from."""
    return {f.name: f.metadata["config"] for f in fields(cls) if "config" in f.metadata}


def optional_float(value: Any) -> Any:
    """None stays None (a setting that is off); anything else is a float."""
    return None if value is None else float(value)


def text(value: Any) -> str:
    """A string setting; None (YAML's empty value) is the empty string."""
    return "" if value is None else str(value)
