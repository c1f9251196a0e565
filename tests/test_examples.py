"""The Node-RED example flow and the docker stack refer only to things that exist."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List

import pytest
import yaml

from common.config import load_config
from common.schemas import load_schema, parse_and_validate
from common.topics import COMMAND_SCHEMAS, STATE_SCHEMAS, Topics
from tests.helpers import ROOT

T = Topics("alfen", "0")
FLOW = ROOT / "examples" / "node-red" / "alfen-flow.json"
DOCKER = ROOT / "docker"
# topics of ours that carry no schema'd JSON object: LWT texts and the error channel
PLAIN = {"availability": None, "control/availability": None, "error": "error"}


def _targets(node: Dict[str, Any]) -> List[str]:
    return [target for output in node.get("wires", []) for target in output]


def _flow() -> List[Dict[str, Any]]:
    return json.loads(FLOW.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _suffix(topic: str) -> str:
    suffix = T.suffix_of(topic)
    assert suffix, f"{topic} is not under {T.base}/"
    return suffix


def _schema_of(suffix: str) -> Any:
    name = STATE_SCHEMAS.get(suffix) or COMMAND_SCHEMAS.get(suffix) or PLAIN.get(suffix)
    return load_schema(name) if name else None


def test_flow_wiring_is_consistent() -> None:
    nodes = _flow()
    ids = {n["id"] for n in nodes}
    assert len(ids) == len(nodes)
    tabs = {n["id"] for n in nodes if n["type"] == "tab"}
    brokers = {n["id"] for n in nodes if n["type"] == "mqtt-broker"}
    assert tabs and brokers
    for n in nodes:
        for outputs in n.get("wires", []):
            assert set(outputs) <= ids, n["id"]
        if n["type"] in ("mqtt in", "mqtt out"):
            assert n["broker"] in brokers
        if n["type"] not in ("tab", "mqtt-broker"):
            assert n["z"] in tabs


def test_flow_topics_and_fields_are_in_the_contract() -> None:
    nodes = _flow()
    by_id = {n["id"]: n for n in nodes}
    mqtt = [n for n in nodes if n["type"] in ("mqtt in", "mqtt out")]
    assert {n["type"] for n in mqtt} == {"mqtt in", "mqtt out"}
    for n in mqtt:
        suffix = _suffix(n["topic"])
        assert suffix in STATE_SCHEMAS or suffix in COMMAND_SCHEMAS or suffix in PLAIN, suffix
        if n["type"] == "mqtt out":
            assert suffix in COMMAND_SCHEMAS and n["retain"] in ("false", False)
            feeders = [m for m in nodes if n["id"] in _targets(m)]
            assert feeders
            for m in feeders:  # what the flow publishes passes the controller's validation
                parse_and_validate(COMMAND_SCHEMAS[suffix], m["payload"].encode())
        # every msg.payload.<field> used downstream exists in that topic's schema
        schema = _schema_of(suffix)
        todo = _targets(n)
        while todo:
            m = by_id[todo.pop()]
            todo += _targets(m)
            refs = [r.get("to", "") for r in m.get("rules", []) if r.get("tot") == "msg"]
            refs += [
                m.get(k, "")
                for k in ("complete", "statusVal")
                if m.get("targetType") == "msg" or k == "statusVal"
            ]
            for ref in refs:
                if schema and ref.startswith("payload."):
                    field = ref.split(".")[1]
                    assert field in schema["properties"], (n["topic"], field)


def test_flow_covers_mode_start_stop_and_current() -> None:
    nodes = _flow()
    by_id = {n["id"]: n for n in nodes}
    sent: Dict[str, List[Any]] = {}
    for n in nodes:
        if n["type"] == "inject":
            for target in _targets(n):
                topic = by_id[target]["topic"]
                sent.setdefault(_suffix(topic), []).append(json.loads(n["payload"]))
    assert sorted(p["mode"] for p in sent["control/set/mode"]) == [0, 1, 2]
    assert sorted(p["enabled"] for p in sent["control/set/startstop"]) == [False, True]
    amps = sorted(p["amps"] for p in sent["control/set/current"])
    assert amps and amps[0] >= 6  # below 6 A would pause, not set a current


# ---- docker ------------------------------------------------------------------------------
def _compose() -> Dict[str, Any]:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _module_exists(name: str) -> bool:
    """``python -m name`` can run: a module, or a package with ``__main__``."""
    spec = importlib.util.find_spec(name)
    if spec is None:
        return False
    if spec.submodule_search_locations is None:
        return True
    return importlib.util.find_spec(f"{name}.__main__") is not None


def test_compose_services_healthchecks_and_modules() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"mosquitto", "world", "bridge", "control", "ui"}
    for name, svc in services.items():
        assert "healthcheck" in svc and svc["healthcheck"]["test"][0] == "CMD", name
        for cmd in (svc.get("command"), svc["healthcheck"]["test"][1:]):
            if cmd and cmd[0] == "python":
                assert cmd[1] == "-m" and _module_exists(cmd[2]), (name, cmd)
    for name in ("bridge", "control", "ui"):
        cmd = services[name]["command"]
        assert cmd[:3] == ["python", "-m", name]
        assert services[name]["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert services["bridge"]["depends_on"]["world"]["condition"] == "service_healthy"
    assert services["world"]["command"][2:4] == ["sim", "world"]
    # the image's config is valid and points the parts at the compose services
    cfg = load_config(DOCKER / "config.yaml")
    assert (cfg["modbus"]["ip"], cfg["mqtt"]["host"]) == ("world", "mosquitto")
    assert "--portal" in services["world"]["command"]
    portal = services["world"]["command"][services["world"]["command"].index("--portal") + 1]
    assert cfg["victron"]["portal_id"] == portal


def test_compose_config_is_a_writable_volume_shared_by_its_readers() -> None:
    """The settings page can save: the config directory is a volume, not the read-only image."""
    compose = _compose()
    services = compose["services"]
    for name in ("bridge", "control", "ui"):
        svc = services[name]
        assert svc["read_only"] is True  # the image itself stays read-only
        config = svc["command"][svc["command"].index("--config") + 1]
        mounts = [str(v).split(":") for v in svc.get("volumes", [])]
        at = [m for m in mounts if len(m) >= 2 and config.startswith(m[1].rstrip("/") + "/")]
        assert at, f"{name}: {config} is not on a volume"
        assert "ro" not in at[0][2:], f"{name}: {config} is mounted read-only"
        # a directory, not the single file: an atomic save renames a file into it
        assert at[0][1] == str(Path(config).parent), (name, at[0])
        if not at[0][0].startswith((".", "/")):
            assert at[0][0] in compose["volumes"], at[0][0]
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    assert "chown -R alfen /data/alfen /etc/alfen" in text  # the non-root user may write there
    assert "COPY --chown=alfen docker/config.yaml /etc/alfen/config.yaml" in text


def test_dockerfile_is_slim_and_non_root() -> None:
    text = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    froms = [line.split()[1] for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all("slim" in f for f in froms)
    assert "USER alfen" in text
    assert not any(tool in text for tool in ("build-essential", "gcc", "apt-get install"))
    for line in text.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            src = next(w for w in line.split()[1:] if not w.startswith("--"))
            assert (ROOT / src).exists(), src


@pytest.mark.skipif(not shutil.which("docker"), reason="docker client not installed")
def test_docker_compose_config_validates() -> None:
    probe = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True)
    if probe.returncode != 0:
        pytest.skip("docker compose plugin not available (the YAML checks above still ran)")
    out = subprocess.run(
        ["docker", "compose", "-f", str(DOCKER / "docker-compose.yml"), "config", "--quiet"],
        capture_output=True,
        text=True,
        cwd=str(DOCKER),
    )
    assert out.returncode == 0, out.stderr


def test_the_image_and_the_gx_install_ship_every_package() -> None:
    """Each top-level package the project installs is copied into the Docker build and by the
    GX installer: moving the shim to dbus_shim/ once broke both without a failing test."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    tops = {p.split(".")[0] for p in project["tool"]["setuptools"]["packages"]}
    dockerfile = (DOCKER / "Dockerfile").read_text(encoding="utf-8")
    install = (ROOT / "venus" / "install.sh").read_text(encoding="utf-8")
    shipped = re.search(r"for item in ([^;]+); do", install)
    assert shipped is not None
    for top in sorted(tops):
        assert f"COPY {top} ./{top}" in dockerfile, top
        if top != "demo":
            assert top in shipped.group(1).split(), top
