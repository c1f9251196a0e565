"""Config: the seed's files load unchanged; every bad value is named with key, value and form."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from common.config import ConfigError, load_config, redacted, validate_config
from tests.helpers import ROOT

SEED_MINIMAL = """
modbus:
  ip: "192.168.1.100"

defaults:
  intended_set_current: 16.0
  station_max_current: 32.0

controls:
  max_set_current: 32.0
  current_tolerance: 0.5

timezone: "Europe/Amsterdam"
"""

# The seed project's full sample (alfen_driver_config.sample.yaml), keys as its users have them.
SEED_SAMPLE = """
modbus:
  ip: 10.128.0.64
  port: 502
  socket_slave_id: 1
  station_slave_id: 200
device_instance: 0
registers:
  voltages: 306
  currents: 320
  power: 344
  energy: 374
  status: 1201
  amps_config: 1210
  phases: 1215
  firmware_version: 123
  firmware_version_count: 17
  station_serial: 157
  station_serial_count: 11
  manufacturer: 117
  manufacturer_count: 5
  platform_type: 140
  platform_type_count: 17
  station_max_current: 1100
  station_status: 1201
defaults:
  intended_set_current: 6.0
  station_max_current: 32.0
logging:
  level: INFO
  file: /var/log/alfen_driver.log
  format: structured
  max_file_size_mb: 10
  backup_count: 5
  console_output: true
  json_format: false
schedule:
  items:
    - enabled: 1
      days_mask: 127
      start: "12:00"
      end: "15:00"
controls:
  current_tolerance: 0.25
  update_difference_threshold: 0.1
  verification_delay: 0.1
  retry_delay: 0.5
  max_retries: 3
  watchdog_interval_seconds: 30
  max_set_current: 64.0
  min_charge_duration_seconds: 300
  current_update_interval: 30000
  verify_delay: 100
poll_interval_ms: 1000
timezone: Europe/Amsterdam
"""


def test_seed_minimal_example_loads_with_defaults(tmp_path: Path) -> None:
    path = tmp_path / "alfen_driver_config.yaml"
    path.write_text(SEED_MINIMAL)
    cfg = load_config(path, env={})
    assert cfg["modbus"] == {
        "ip": "192.168.1.100",
        "port": 502,
        "socket_slave_id": 1,
        "station_slave_id": 200,
        "timeout_s": 3.0,
    }
    assert cfg["controls"]["current_tolerance"] == 0.5
    assert cfg["web"] == {"host": "127.0.0.1", "port": 8088, "token": "", "allowed_hosts": []}
    assert cfg["mqtt"]["prefix"] == "alfen"


def test_seed_full_sample_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(SEED_SAMPLE)
    cfg = load_config(path, env={})
    assert cfg["schedule"]["items"][0]["days_mask"] == 127
    assert cfg["registers"]["amps_config"] == 1210


def test_config_example_in_repo_is_valid() -> None:
    load_config(ROOT / "config.example.yaml", env={})


def test_env_overrides_web_host_and_port() -> None:
    cfg = validate_config(
        yaml.safe_load(SEED_MINIMAL), env={"ALFEN_WEB_HOST": "0.0.0.0", "ALFEN_WEB_PORT": "9000"}
    )
    assert cfg["web"]["host"] == "0.0.0.0" and cfg["web"]["port"] == 9000


@pytest.mark.parametrize(
    "patch, expected",
    [
        ({"modbus": {"ip": "x", "port": "abc"}}, "modbus.port: 'abc' is invalid"),
        (
            {"modbus": {"ip": "x", "port": 70000}},
            "modbus.port: 70000 is invalid: 70000 is greater than the maximum of 65535; expected integer from 1 to 65535",
        ),
        ({"modbus": {}}, "modbus: 'ip' is a required property"),
        (
            {"modbus": {"ip": "x"}, "controls": {"max_retries": 0}},
            "controls.max_retries: 0 is invalid",
        ),
        ({"modbus": {"ip": "x"}, "controls": {"typo_key": 1}}, "controls.typo_key: unknown key"),
        (
            {"modbus": {"ip": "x"}, "timezone": "Mars/Olympus"},
            "timezone: 'Mars/Olympus' is invalid",
        ),
        (
            {"modbus": {"ip": "x"}, "schedule": {"items": [{"start": "25:00"}]}},
            "schedule.items.0.start: '25:00' is invalid",
        ),
        (
            {"modbus": {"ip": "x"}, "tibber": {"enabled": True}},
            "tibber.access_token: '' is invalid",
        ),
        (
            {"modbus": {"ip": "x"}, "tibber": {"strategy": "cheapest"}},
            "tibber.strategy: 'cheapest' is invalid",
        ),
        ({"modbus": {"ip": "x"}, "web": {"port": 0}}, "web.port: 0 is invalid"),
        (
            {"modbus": {"ip": "x"}, "auto": {"battery_capacity_kwh": 0}},
            "auto.battery_capacity_kwh: 0 is invalid",
        ),
        (
            {"modbus": {"ip": "x"}, "auto": {"battery_check": "yes"}},
            "auto.battery_check: 'yes' is invalid",
        ),
        ({"modbus": {"ip": "x"}, "mqtt": {"prefix": "a/#"}}, "mqtt.prefix: 'a/#' is invalid"),
        ([1, 2], "(top level): list is not a mapping"),
    ],
)
def test_each_problem_names_key_value_and_expected_form(patch: object, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(patch, env={})
    assert any(line.startswith(expected) for line in err.value.problems), err.value.problems
    assert all(": " in line for line in err.value.problems)


def test_all_problems_reported_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        validate_config(
            {"modbus": {"ip": "x", "port": -1}, "poll_interval_ms": 5, "web": {"port": "x"}}, env={}
        )
    keys = [line.split(":")[0] for line in err.value.problems]
    assert keys == ["modbus.port", "poll_interval_ms", "web.port"]


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml", env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("modbus:\n  ip: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        load_config(bad, env={})


def test_secrets_are_redacted() -> None:
    cfg = validate_config(
        {
            "modbus": {"ip": "x"},
            "tibber": {"access_token": "s3cr3t-tibber"},
            "mqtt": {"password": "s3cr3t-mqtt"},
        },
        env={},
    )
    red = redacted(cfg)
    assert red["tibber"]["access_token"] == "***" and red["mqtt"]["password"] == "***"
    assert "s3cr3t" not in repr(red) and red["web"]["token"] == ""


def test_bridge_exits_nonzero_with_one_line_per_problem(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("modbus: {ip: x, port: nope}\ncontrols: {max_retries: 0}\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bridge", "--config", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert lines[0].endswith("invalid configuration")
    assert lines[1].startswith("controls.max_retries: 0 is invalid") and lines[2].startswith(
        "modbus.port: 'nope'"
    )
    assert "Traceback" not in proc.stderr
