"""A config file cannot make a process eat memory or time, and every message stays short.

The hostile files are the ones that took the bridge to 2 GB: a 389-byte YAML with eight levels
of aliases inside schedule.items, and a 10 MB file (its one error line was 21.9 MB). Each is run
through the real bridge process; its peak memory comes from wait4().
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import List, Tuple

import pytest

from common.config import (
    MAX_CONFIG_BYTES,
    MAX_PROBLEMS,
    ConfigError,
    load_config,
    read_config,
    validate_config,
)
from common.config_checks import is_host
from tests.helpers import ROOT


def alias_bomb() -> str:
    """Eight levels of nine aliases each: 9**8 (43 million) strings once expanded."""
    lines = ["modbus: {ip: 192.168.1.100}", "schedule:", "  items:", "    - &a [x,x,x,x,x,x,x,x,x]"]
    for level in "bcdefgh":
        prev = chr(ord(level) - 1)
        lines.append(f"    - &{level} [" + ",".join([f"*{prev}"] * 9) + "]")
    lines.append("    - [" + ",".join(["*h"] * 9) + "]")
    return "\n".join(lines) + "\n"


def run_bridge(path: Path) -> Tuple[int, str, int]:
    """(exit code, stderr, peak RSS in MB) of ``python -m bridge --config path``."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "bridge", "--config", str(path)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    try:
        err = proc.stderr.read(1_000_000).decode("utf-8", "replace")  # more would be the bug
    finally:
        _pid, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, err, usage.ru_maxrss // 1024


@pytest.mark.parametrize("kind", ["alias bomb", "10 MB"])
def test_hostile_files_are_refused_with_bounded_memory_and_a_short_message(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "c.yaml"
    if kind == "alias bomb":
        path.write_text(alias_bomb())
        assert len(path.read_bytes()) < 400
        expected = "YAML aliases (*a) are not allowed"
    else:
        filler = "# " + "x" * 98 + "\n"
        path.write_text("modbus: {ip: 192.168.1.100}\n" + filler * 100_000)
        expected = "larger than 1000 kB"
    code, err, peak_mb = run_bridge(path)
    assert code == 2, err[:500]
    assert expected in err and "Traceback" not in err
    assert len(err) < 1000, len(err)
    assert peak_mb < 120, peak_mb  # the bridge's own baseline is about 30 MB


def test_a_file_just_under_the_cap_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    body = "modbus: {ip: 192.168.1.100}\n"
    path.write_text(body + "#" * (MAX_CONFIG_BYTES - len(body) - 1) + "\n")
    assert load_config(path, env={})["modbus"]["ip"] == "192.168.1.100"
    path.write_text(body + "#" * (MAX_CONFIG_BYTES - len(body)) + "\n")
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path, env={})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("modbus: {ip: 192.168.1.100}\nport: &p 5\nx: *p\n", "YAML aliases (*p) are not allowed"),
        ("modbus:\n  ip: 192.168.1.100\n  port: " + "9" * 5000 + "\n", "a value cannot be read"),
        ("modbus: {ip: 192.168.1.100}\nx: " + "[" * 5000 + "]" * 5000 + "\n", "(file): "),
    ],
)
def test_unreadable_yaml_is_one_short_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(path, env={})
    (line,) = err.value.problems
    assert expected in line and len(line) < 300, line


def _problems(raw: object) -> List[str]:
    with pytest.raises(ConfigError) as err:
        validate_config(raw, env={})
    return err.value.problems


def test_messages_quote_at_most_200_characters_of_a_value() -> None:
    huge = "y" * 1_000_000
    lines = _problems(
        {
            "modbus": {"ip": "192.168.1.100", "port": huge},
            "schedule": {"items": [{"start": huge}] * 3},
            "controls": {"k" * 5000: 1},
            "timezone": huge,
            "web": {"port": [huge] * 100},
        }
    )
    assert len(lines) >= 6
    for line in lines:
        assert len(line) < 1200, line[:300]  # the value: 200 characters; the rest: key and form
        assert "y" * 201 not in line and "k" * 61 not in line


def test_thousands_of_problems_are_capped() -> None:
    lines = _problems({"modbus": {"ip": "x"}, "controls": {f"k{i}": 1 for i in range(10_000)}})
    assert len(lines) == MAX_PROBLEMS + 1 and lines[-1].startswith("(more): … and ")
    assert any("and 9950 more unknown keys" in line for line in lines)


def test_deep_nesting_is_refused_without_recursion_error() -> None:
    value: object = 1
    for _ in range(100_000):
        value = [value]
    (line,) = _problems({"modbus": {"ip": "x"}, "schedule": {"items": value}})
    assert "nested deeper than 12 levels" in line


@pytest.mark.parametrize(
    "host",
    [
        "192.168.1.100",
        "::1",
        "fe80::1",
        "charger",
        "charger.lan",
        "alfen-1.example.org.",
        "0.0.0.0",
    ],
)
def test_hosts_that_are_accepted(host: str) -> None:
    assert is_host(host)
    cfg = validate_config({"modbus": {"ip": host}, "mqtt": {"host": host}}, env={})
    assert cfg["modbus"]["ip"] == host


@pytest.mark.parametrize(
    ("key", "value", "reason"),
    [
        ("modbus.ip", "1" * 300, "too long (300 characters; at most 253)"),
        ("modbus.ip", "a" * 64 + ".lan", "expected a host name"),
        ("modbus.ip", "my charger", "expected a host name"),
        ("modbus.ip", "-charger", "expected a host name"),
        ("modbus.ip", "300.1.1.1", "expected a host name"),
        ("modbus.ip", "http://192.168.1.5", "expected a host name"),
        ("mqtt.host", "broker;rm -rf", "expected a host name"),
        ("web.host", "127.0.0.1\n", "expected a host name"),
        ("web.allowed_hosts.0", "evil example", "expected a host name"),
        ("tibber.api_url", "file:///etc/passwd", "does not match"),
        ("scheduled.deadline_time", "07:30\n", "does not match"),
        ("auto.reserve_w", float("nan"), "expected a finite number"),
        ("victron.fuse_limit_a", float("inf"), "is invalid"),
    ],
)
def test_bad_hosts_urls_times_and_numbers_are_refused(key: str, value: object, reason: str) -> None:
    raw: dict = {"modbus": {"ip": "192.168.1.100"}}
    section, name = key.split(".", 1)
    if name.endswith(".0"):
        raw[section] = {name[:-2]: [value]}
    else:
        raw.setdefault(section, {})[name] = value
    lines = _problems(raw)
    assert any(line.startswith(key + ":") and reason in line for line in lines), lines


def test_timezone_is_reported_with_the_other_problems() -> None:
    lines = _problems({"modbus": {"ip": "x", "port": "abc"}, "timezone": "Mars/Olympus"})
    assert [line.split(":")[0] for line in lines] == ["modbus.port", "timezone"], lines


def test_rules_between_keys_are_reported_with_schema_problems() -> None:
    lines = _problems(
        {
            "modbus": {"ip": "x"},
            "web": {"port": 0},
            "auto": {"phase_switch_down_w": 5000, "phase_switch_up_w": 4500},
        }
    )
    keys = [line.split(":")[0] for line in lines]
    assert keys == ["auto.phase_switch_down_w", "web.port"], lines


# ---- the old driver's keys ---------------------------------------------------------------------
OLD_CONTROLS = """
modbus: {ip: 192.168.1.100}
registers: {amps_config: 1210}
controls:
  current_update_interval: 30000
  verify_delay: 250
  min_charge_duration_seconds: 300
"""


def test_old_keys_are_mapped_or_named_with_what_replaces_them(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(OLD_CONTROLS)
    cfg, notes = read_config(path, env={})
    assert cfg["controls"]["verification_delay"] == 0.25  # 250 ms, under its new name
    assert len(notes) == 4, notes
    text = "\n".join(notes)
    assert "controls.verify_delay is an old key: read as controls.verification_delay 250 ms" in text
    assert "controls.current_update_interval is an old key and is ignored" in text
    assert "watchdog_interval_seconds" in text
    assert "controls.min_charge_duration_seconds is an old key and is ignored" in text
    assert "auto.stop_delay_s" in text
    assert "registers is an old key and is ignored" in text
    # the new key wins when both are written; the note says so
    path.write_text(
        OLD_CONTROLS.replace("verify_delay: 250", "verify_delay: 250\n  verification_delay: 0.5")
    )
    cfg, notes = read_config(path, env={})
    assert cfg["controls"]["verification_delay"] == 0.5
    assert any("verification_delay is set; delete verify_delay" in n for n in notes)
    # defaults never bring old names back
    assert "verify_delay" not in load_config(_minimal(tmp_path), env={})["controls"]


def _minimal(tmp: Path) -> Path:
    path = tmp / "m.yaml"
    path.write_text("modbus: {ip: 192.168.1.100}\n")
    return path


def test_each_process_warns_once_at_start_naming_the_old_key(tmp_path: Path) -> None:
    """Every process starts through common.cli.start: the warning comes from there, once."""
    path = tmp_path / "c.yaml"
    path.write_text(OLD_CONTROLS + "logging: {file: null}\n")
    prologue = "from common.cli import start; start('x', None, 'test', ['--config', %r])"
    proc = subprocess.run(
        [sys.executable, "-c", prologue % str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    for key in ("verify_delay", "current_update_interval", "min_charge_duration_seconds"):
        assert proc.stderr.count(f"controls.{key} is an old key") == 1, proc.stderr
    assert "WARNING" in proc.stderr and str(path) in proc.stderr
