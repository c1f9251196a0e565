"""venus/install.sh, boot.sh and uninstall.sh against a temporary root (no real /service).

Most cases skip pip (--no-pip). The wheel-cache case installs for real, offline, from a cache
holding one hand-made wheel, and boot.sh then rebuilds the venv from that cache.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Dict, Optional, Tuple

import pytest

from tests.helpers import ROOT

INSTALL = ROOT / "venus" / "install.sh"
UNINSTALL = ROOT / "venus" / "uninstall.sh"
BOOT = ROOT / "venus" / "boot.sh"
APP = "data/alfen-victron"
SERVICES = {
    "alfen-bridge": "bridge",
    "alfen-control": "control",
    "alfen-dbus-shim": "dbus_shim",
    "alfen-ui": "ui",
}
RC_OTHER = "#!/bin/sh\n/data/other-addon/start.sh &\n"


def _sh() -> str:
    return (shutil.which("busybox") and "busybox-sh") or "sh"


def run(script: Path, root: Path, *args: str, env: Optional[Dict[str, str]] = None) -> str:
    cmd = ["busybox", "sh"] if shutil.which("busybox") else ["sh"]  # Venus's shell is busybox
    out = subprocess.run(
        [*cmd, str(script), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout


def manifest(root: Path) -> Dict[str, Tuple[str, int, str]]:
    """path -> (kind, mode, content hash or link target)."""
    out: Dict[str, Tuple[str, int, str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            st = p.lstat()
            rel = str(p.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("link", 0, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("dir", stat.S_IMODE(st.st_mode), "")
            else:
                digest = hashlib.sha256(p.read_bytes()).hexdigest()
                out[rel] = ("file", stat.S_IMODE(st.st_mode), digest)
    return out


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "root"
    (r / "data").mkdir(parents=True)
    return r


def test_install_creates_services_venv_and_boot_hook(root: Path) -> None:
    run(INSTALL, root, "--no-pip")
    app = root / APP
    venv_cfg = (app / "venv" / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = true" in venv_cfg
    assert (app / "dbus_shim" / "mirror.py").is_file()
    for name, module in SERVICES.items():
        run_file = app / "service" / name / "run"
        log_run = app / "service" / name / "log" / "run"
        assert stat.S_IMODE(run_file.stat().st_mode) == 0o755
        assert stat.S_IMODE(log_run.stat().st_mode) == 0o755
        assert f"-m {module} --config /{APP}/config.yaml" in run_file.read_text()
        assert "exec multilog t" in log_run.read_text()
        assert os.readlink(root / "service" / name) == f"/{APP}/service/{name}"
    rc = root / "data" / "rc.local"
    assert rc.read_text().startswith("#!/bin/sh\n") and f"/{APP}/boot.sh" in rc.read_text()
    assert stat.S_IMODE(rc.stat().st_mode) == 0o755
    assert (app / "config.yaml").is_file()
    assert stat.S_IMODE((app / "config.yaml").stat().st_mode) == 0o600


def test_install_is_idempotent(root: Path) -> None:
    run(INSTALL, root, "--no-pip")
    first = manifest(root)
    run(INSTALL, root, "--no-pip")
    assert manifest(root) == first
    assert (root / "data" / "rc.local").read_text().count("boot.sh") == 1


def _user_files(root: Path) -> Dict[str, str]:
    """A config the user edited, the settings page's backup, and a session history."""
    files = {
        f"{APP}/config.yaml": "modbus: {ip: 192.0.2.10}\nstate_dir: /data/alfen\n",
        f"{APP}/config.yaml.bak": "modbus: {ip: 192.0.2.9}\n",
        "data/alfen/sessions.sqlite3": "history",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return files


def test_uninstall_keeps_the_users_config_and_history(root: Path) -> None:
    before = manifest(root)
    run(INSTALL, root, "--no-pip")
    files = _user_files(root)
    out = run(UNINSTALL, root)
    for rel, text in files.items():
        assert (root / rel).read_text() == text, rel
    assert "--purge" in out and f"/{APP}/config.yaml" in out and "/data/alfen" in out
    left = set(manifest(root)) - set(before) - {"service"}
    # nothing of the install is left: only the user's files and their folders
    assert left == {*files, APP, "data/alfen"}
    run(INSTALL, root, "--no-pip")  # installing again picks the config up
    assert (root / APP / "config.yaml").read_text() == files[f"{APP}/config.yaml"]


def test_uninstall_purge_leaves_nothing(root: Path) -> None:
    before = manifest(root)
    run(INSTALL, root, "--no-pip")
    _user_files(root)
    run(UNINSTALL, root, "--purge")
    after = manifest(root)
    after.pop("service", None)  # /service exists on every GX; an empty one is not ours to remove
    assert after == before


def test_purge_removes_only_a_state_dir_under_data(root: Path) -> None:
    run(INSTALL, root, "--no-pip")
    (root / APP / "config.yaml").write_text("state_dir: /data/../etc\n")
    (root / "etc").mkdir()
    (root / "data" / "alfen").mkdir()
    run(UNINSTALL, root, "--purge")
    assert (root / "etc").is_dir()  # not a folder under /data: the default was purged instead
    assert not (root / "data" / "alfen").exists()


def test_uninstall_keeps_other_rc_local_lines(root: Path) -> None:
    rc = root / "data" / "rc.local"
    rc.write_text(RC_OTHER)
    rc.chmod(0o755)
    run(INSTALL, root, "--no-pip")
    run(INSTALL, root, "--no-pip")
    assert rc.read_text().startswith(RC_OTHER)
    run(UNINSTALL, root)
    assert rc.read_text() == RC_OTHER
    assert stat.S_IMODE(rc.stat().st_mode) == 0o755


def test_user_config_is_not_overwritten(root: Path) -> None:
    run(INSTALL, root, "--no-pip")
    cfg = root / APP / "config.yaml"
    cfg.write_text("modbus: {ip: 192.0.2.10}\n")
    run(INSTALL, root, "--no-pip")
    assert cfg.read_text() == "modbus: {ip: 192.0.2.10}\n"


@pytest.mark.skipif(not shutil.which("shellcheck"), reason="shellcheck not installed")
def test_scripts_are_shellcheck_clean() -> None:
    out = subprocess.run(
        ["shellcheck", "-s", "sh", str(INSTALL), str(UNINSTALL), str(BOOT)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout


# ---- the wheel cache and boot.sh ----------------------------------------------------------
SYSTEM_PYTHON = "/usr/bin/python3" if os.access("/usr/bin/python3", os.X_OK) else sys.executable


def fake_wheel(folder: Path) -> Path:
    """alfen-victron as a wheel with one module and no dependencies: pip installs it offline."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "alfen_victron-0.1.0-py3-none-any.whl"
    info = "alfen_victron-0.1.0.dist-info"
    with zipfile.ZipFile(path, "w") as whl:
        whl.writestr("alfen_wheel_marker.py", "OK = True\n")
        whl.writestr(
            f"{info}/METADATA", "Metadata-Version: 2.1\nName: alfen-victron\nVersion: 0.1.0\n"
        )
        whl.writestr(
            f"{info}/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        whl.writestr(
            f"{info}/RECORD",
            f"alfen_wheel_marker.py,,\n{info}/METADATA,,\n{info}/WHEEL,,\n{info}/RECORD,,\n",
        )
    return path


def _imports_marker(app: Path) -> bool:
    out = subprocess.run(
        [str(app / "venv" / "bin" / "python"), "-c", "import alfen_wheel_marker"],
        capture_output=True,
    )
    return out.returncode == 0


def _set_venv_version(app: Path, version: str) -> None:
    cfg = app / "venv" / "pyvenv.cfg"
    lines = [
        f"version = {version}" if line.startswith("version") else line
        for line in cfg.read_text().splitlines()
    ]
    cfg.write_text("\n".join(lines) + "\n")


def test_wheel_cache_and_boot_rebuild_after_a_python_change(root: Path, tmp_path: Path) -> None:
    env = {"PYTHON": SYSTEM_PYTHON, "PIP_NO_INDEX": "1"}  # nothing may come from the network
    wheel = fake_wheel(tmp_path / "wheels")
    run(INSTALL, root, "--wheels-from", str(wheel.parent), env=env)
    app = root / APP
    assert (app / "wheels" / wheel.name).is_file()  # the cache boot.sh rebuilds from
    assert _imports_marker(app)
    assert (app / "boot.sh").read_bytes() == BOOT.read_bytes()

    # the same Python: nothing rebuilt, the services linked, and the log says so
    (app / "venv" / "untouched").write_text("")
    out = run(BOOT, root, env=env)
    assert "venv matches the system Python" in out
    assert (app / "venv" / "untouched").exists()
    assert os.readlink(root / "service" / "alfen-ui") == f"/{APP}/service/alfen-ui"

    # a firmware update changed Python: rebuilt offline from the cache, logged
    _set_venv_version(app, "3.7.1")
    for name in SERVICES:
        (root / "service" / name).unlink()
    out = run(BOOT, root, env=env)
    assert "the venv is for Python 3.7, the system has" in out and "venv rebuilt" in out
    assert not (app / "venv" / "untouched").exists() and _imports_marker(app)
    assert "version = 3.7.1" not in (app / "venv" / "pyvenv.cfg").read_text()
    assert os.readlink(root / "service" / "alfen-ui") == f"/{APP}/service/alfen-ui"
    log = (app / "boot.log").read_text()
    assert "rebuilding the venv offline" in log and "venv rebuilt for Python" in log


def test_boot_without_a_wheel_cache_keeps_the_venv_and_says_why(root: Path) -> None:
    env = {"PYTHON": SYSTEM_PYTHON}
    run(INSTALL, root, "--no-pip", env=env)
    app = root / APP
    _set_venv_version(app, "3.7.1")
    out = run(BOOT, root, env=env)  # exits 0: the services are linked all the same
    assert "ERROR: no wheel cache" in out and "run install.sh again" in out
    assert "version = 3.7.1" in (app / "venv" / "pyvenv.cfg").read_text()
    assert os.readlink(root / "service" / "alfen-bridge") == f"/{APP}/service/alfen-bridge"
    assert "ERROR: no wheel cache" in (app / "boot.log").read_text()
