"""Each config default is written once, in schemas/config.schema.json.

* Every settings class that reads the config declares its fields with ``config_field``: the
  field's default is the schema's, ``from_config`` of an empty config gives the schema's default,
  and a non-default value in the config reaches the field (the field reads the key it names).
* No module reads a config key with ``.get("key", <default>)``: an AST scan of the packages.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, Dict, Iterator, List, Set, Tuple

import pytest

from bridge.ha_discovery import HaSettings
from bridge.setpoint import KeeperSettings
from common.config import charger_id, topics_for, validate_config
from common.config_fields import config_default, config_keys, config_value
from common.mqtt_link import MqttSettings
from common.schemas import load_schema
from common.topics import Topics
from control.settings import CoreSettings
from control.settings_cmd import defaults_from_config
from control.tibber import TibberSettings
from control.venus import VenusSettings
from dbus_shim.mirror import ShimConfig
from dbus_shim.paths import View
from tests.helpers import ROOT

# class -> how many of its fields come from the config (a field that stops reading the config
# must be noticed, not silently pass with its literal default)
SETTINGS: Dict[Any, int] = {
    CoreSettings: 42,
    KeeperSettings: 11,
    MqttSettings: 7,
    TibberSettings: 5,
    VenusSettings: 3,
    HaSettings: 2,
    ShimConfig: 3,
}
MINIMAL = {"modbus": {"ip": "192.0.2.1"}}


def _schema_node(key: str) -> Dict[str, Any]:
    node: Dict[str, Any] = load_schema("config")
    for part in key.split("."):
        node = node["properties"][part]
    return node


def _other_value(key: str) -> Any:
    """A valid value for ``key`` that is not its default."""
    node, default = _schema_node(key), config_default(key)
    if "enum" in node:
        return next(v for v in node["enum"] if v != default)
    kind = node.get("type")
    kinds = kind if isinstance(kind, list) else [kind]
    if "boolean" in kinds:
        return not default
    if "string" in kinds:
        return {"timezone": "UTC", "deadline_time": "05:15"}.get(
            key.rsplit(".", 1)[-1], "http://192.0.2.7/x" if "url" in key else "other"
        )
    hi = node.get("maximum")
    lo = node.get("minimum", node.get("exclusiveMinimum", 0))
    if default is None:
        return (lo + hi) / 2 if hi is not None else lo + 7
    step = 1 if "integer" in kinds else 1.5 if hi is None else min(1.5, (hi - lo) / 8)
    return default + step if hi is None or default + step <= hi else default - step


def _read(cls: Any, cfg: Dict[str, Any]) -> Any:
    return cls.from_config(cfg)


@pytest.mark.parametrize("cls", list(SETTINGS), ids=lambda c: c.__name__)
def test_field_defaults_are_the_schema_defaults(cls: Any) -> None:
    keys = config_keys(cls)
    assert len(keys) == SETTINGS[cls], sorted(keys)
    empty = _read(cls, {})
    validated = _read(cls, validate_config(MINIMAL, env={}))
    for name, key in keys.items():
        schema_default = config_default(key)
        want = None if schema_default is None else type(getattr(empty, name))(schema_default)
        field_default = cls.__dataclass_fields__[name].default
        assert field_default == want, f"{cls.__name__}.{name} ({key})"
        assert getattr(empty, name) == want, f"{cls.__name__}.{name} ({key}) from {{}}"
        assert getattr(validated, name) == want, f"{cls.__name__}.{name} ({key}) validated"


@pytest.mark.parametrize("cls", list(SETTINGS), ids=lambda c: c.__name__)
def test_every_config_field_reads_the_key_it_names(cls: Any) -> None:
    # tibber.enabled needs a token
    raw: Dict[str, Any] = {"modbus": {"ip": "192.0.2.1"}, "tibber": {"access_token": "t"}}
    wanted: Dict[str, Any] = {}
    for name, key in config_keys(cls).items():
        value = _other_value(key)
        *sections, leaf = key.split(".")
        node = raw
        for section in sections:
            node = node.setdefault(section, {})
        node[leaf] = value
        wanted[name] = value
    cfg = validate_config(raw, env={})
    got = _read(cls, cfg)
    for name, value in wanted.items():
        assert getattr(got, name) == value, f"{cls.__name__}.{name} ({config_keys(cls)[name]})"
        assert getattr(got, name) != getattr(_read(cls, {}), name)


def test_function_readers_fall_back_to_the_schema() -> None:
    cfg = validate_config(MINIMAL, env={})
    assert defaults_from_config({}) == defaults_from_config(cfg)
    assert defaults_from_config({}).set_current_a == config_default("defaults.intended_set_current")
    assert topics_for({}) == topics_for(cfg) == Topics(config_default("mqtt.prefix"), "0")
    assert charger_id({"device_instance": 3}) == "3"
    assert config_value({"auto": {}}, "auto.min_current_a") == 6.0
    shim_view = View.__dataclass_fields__  # the shim's view copies three config values
    assert shim_view["max_current_ceiling_a"].default == config_default("controls.max_set_current")
    assert shim_view["custom_name"].default == config_default("dbus.custom_name")
    assert shim_view["position"].default == config_default("dbus.position")
    with pytest.raises(KeyError, match=r"auto\.nope: .* gives no default"):
        config_default("auto.nope")


# ---- no second default ----------------------------------------------------------------------
PACKAGES = ("common", "bridge", "dbus_shim", "ui", "control")
NOT_SCANNED: Set[str] = set()
# (file, key): a .get with a second argument that is no config default
NOT_DEFAULTS: Set[Tuple[str, str]] = {
    ("control/settings.py", "enabled"),  # a schedule item's legacy flag, falls back to "active"
    ("ui/auth.py", "host"),  # host_allowed: a web section without a host has no bound name
}


def _leaf_keys_with_defaults() -> Set[str]:
    keys: Set[str] = set()

    def walk(node: Dict[str, Any]) -> None:
        for name, sub in node.get("properties", {}).items():
            if "default" in sub and sub.get("type") != "object":
                keys.add(name)
            walk(sub)

    walk(load_schema("config"))
    return keys


def _defaulted_gets(path: Path, keys: Set[str]) -> Iterator[Tuple[int, str, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("get", "setdefault", "pop")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value in keys
        ):
            yield node.lineno, str(node.args[0].value), ast.unparse(node)


def test_no_module_reads_a_config_key_with_its_own_default() -> None:
    keys = _leaf_keys_with_defaults()
    assert {"min_current_a", "client_id_prefix", "timeout_s"} <= keys
    found: List[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            rel = path.relative_to(ROOT).as_posix()
            if rel in NOT_SCANNED:
                continue
            for line, key, call in _defaulted_gets(path, keys):
                if (rel, key) not in NOT_DEFAULTS:
                    found.append(f"{rel}:{line}: {call}")
    assert not found, "read with config_value/config_field instead:\n" + "\n".join(found)
