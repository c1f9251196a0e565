"""venus/install.sh and uninstall.sh against a temporary root (no pip, no real /service)."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Dict, Tuple

import pytest

from tests.helpers import ROOT

INSTALL = ROOT / "venus" / "install.sh"
UNINSTALL = ROOT / "venus" / "uninstall.sh"
APP = "data/alfen-victron"
SERVICES = {
    "alfen-bridge": "bridge",
    "alfen-control": "control",
    "alfen-dbus-shim": "bridge.dbus_shim",
    "alfen-ui": "ui",
}
RC_OTHER = "#!/bin/sh\n/data/other-addon/start.sh &\n"


def _sh() -> str:
    return (shutil.which("busybox") and "busybox-sh") or "sh"


def run(script: Path, root: Path, *args: str) -> str:
    cmd = ["busybox", "sh"] if shutil.which("busybox") else ["sh"]  # Venus's shell is busybox
    out = subprocess.run(
        [*cmd, str(script), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
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
    assert (app / "bridge" / "dbus_shim" / "service.py").is_file()
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


def test_uninstall_leaves_nothing(root: Path) -> None:
    before = manifest(root)
    run(INSTALL, root, "--no-pip")
    run(UNINSTALL, root)
    after = manifest(root)
    after.pop("service", None)  # /service exists on every GX; an empty one is not ours to remove
    assert after == before


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
        ["shellcheck", "-s", "sh", str(INSTALL), str(UNINSTALL)], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stdout
