"""venus/install.sh, boot.sh and uninstall.sh against a temporary root (no real /service).

Most cases skip pip (--no-pip). The wheel-cache case installs for real, offline, from a cache
holding one hand-made wheel, and boot.sh then rebuilds the venv from that cache. The firmware
update case installs from the internet and rebuilds the venv offline on another Python minor
version with no compiler on PATH (skipped without PyPI or a second Python).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import os
import shutil
import socket
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path
from types import ModuleType
from typing import Dict, List, Mapping, NamedTuple, Optional, Tuple

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


def run(
    script: Path, root: Path, *args: str, env: Optional[Mapping[str, Optional[str]]] = None
) -> str:
    """Run a venus/ script under root; env adds variables to ours, None removes one."""
    cmd = ["busybox", "sh"] if shutil.which("busybox") else ["sh"]  # Venus's shell is busybox
    merged = {**os.environ, **(env or {})}
    out = subprocess.run(
        [*cmd, str(script), "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in merged.items() if v is not None},
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


# ---- a firmware update to another Python minor version ------------------------------------
def _load_wheel_cache() -> ModuleType:
    spec = importlib.util.spec_from_file_location("wheel_cache", ROOT / "venus" / "wheel_cache.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


wheel_cache = _load_wheel_cache()


class Python(NamedTuple):
    minor: int  # of Python 3
    executable: str
    has_yaml: bool  # a venv made with --system-site-packages would borrow its PyYAML


def _python(python: str) -> Optional[Python]:
    """What a python binary is, None when it does not run or cannot make venvs."""
    probe = (
        "import sys, venv, ensurepip, importlib.util as u;"
        "print(sys.version_info[1], u.find_spec('yaml') is not None, sys.executable)"
    )
    try:
        out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    parts = out.stdout.split()
    if out.returncode != 0 or len(parts) != 3:
        return None
    return Python(int(parts[0]), parts[2], parts[1] == "True")


def _pythons() -> List[Python]:
    """One Python 3.9+ per minor version: the system's, python3.X on PATH, pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    found: Dict[int, Python] = {}
    system = _python(SYSTEM_PYTHON)
    if system:
        found[system.minor] = system
    for minor in range(9, 16):
        candidates = [shutil.which(f"python3.{minor}") or ""]
        candidates += [str(p) for p in sorted(pyenv.glob(f"3.{minor}.*/bin/python3.{minor}"))]
        for candidate in filter(None, candidates):
            info = _python(candidate) if minor not in found else None
            if info and info.minor == minor:
                found[minor] = info
    return [found[m] for m in sorted(found)]


def _update_pair() -> Optional[Tuple[Python, Python]]:
    """(installed with, updated to): the oldest Python, then the next newer one without a PyYAML
    of its own. From 3.9 that crosses the project's pymodbus split at Python 3.10."""
    pythons = _pythons()
    if not pythons:
        return None
    newer = [p for p in pythons[1:] if not p.has_yaml]
    return (pythons[0], newer[0]) if newer else None


def _pypi_reachable() -> bool:
    if os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy"):
        return True  # pip goes through the proxy; let it try
    try:
        socket.create_connection(("pypi.org", 443), timeout=3).close()
        return True
    except OSError:
        return False


def _path_without_compiler(folder: Path) -> str:
    """A PATH holding only the tools boot.sh uses: no gcc, cc or ld, as on a GX."""
    folder.mkdir()
    tools = [
        "busybox",
        "sh",
        "date",
        "sed",
        "mv",
        "rm",
        "ls",
        "wc",
        "tail",
        "ln",
        "mkdir",
        "basename",
        "head",
    ]
    for tool in tools:
        found = shutil.which(tool)
        if found:
            (folder / tool).symlink_to(found)
    for compiler in ("gcc", "cc", "x86_64-linux-gnu-gcc", "ld"):
        assert shutil.which(compiler, path=str(folder)) is None
    return str(folder)


def test_boot_rebuilds_binary_packages_from_source_on_a_new_python(
    root: Path, tmp_path: Path
) -> None:
    pair = _update_pair()
    if pair is None:
        pytest.skip(
            "needs two Pythons 3.9+ of different minor versions, the newer without PyYAML of"
            " its own (python3.X on PATH or in pyenv)"
        )
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable: install.sh fills the wheel cache from the internet")
    old, new = pair
    run(INSTALL, root, env={"PYTHON": old.executable})
    app = root / APP
    wheels = app / "wheels"
    binary = {name for name, _ in wheel_cache.binary_wheels(wheels)}
    assert {"pyyaml", "markupsafe"} <= binary  # built for the install's Python only
    assert wheel_cache.missing(wheels) == []  # every one has its sdist and build requirements
    assert {"pyyaml", "markupsafe"} <= {
        wheel_cache.sdist_name(p)[0] for p in wheel_cache.sdists(wheels)
    }

    # the firmware update: another Python, no network, no compiler, nothing from pip's config
    boot_env: Dict[str, Optional[str]] = {k: None for k in os.environ if k.startswith("PIP_")}
    boot_env.update(
        PYTHON=new.executable,
        PATH=_path_without_compiler(tmp_path / "bin"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_CACHE_DIR=str(tmp_path / "pip-cache"),  # no wheel built earlier on this machine
    )
    out = run(BOOT, root, env=boot_env)
    assert "rebuilding the venv offline" in out and "venv rebuilt for Python" in out, out
    probe = (
        "import flask, markupsafe, pymodbus, yaml, importlib.util as u, sys;"
        "print(sys.version_info[1], yaml.__file__, yaml.__with_libyaml__,"
        " u.find_spec('markupsafe._speedups') is None, u.find_spec('yaml._yaml') is None,"
        " pymodbus.__version__)"
    )
    res = subprocess.run(
        [str(app / "venv" / "bin" / "python"), "-c", probe], capture_output=True, text=True
    )
    assert res.returncode == 0, res.stderr
    minor, yaml_file, with_libyaml, no_speedups, no_yaml_ext, pymodbus = res.stdout.split()
    assert int(minor) == new.minor != old.minor
    if old.minor < 10 <= new.minor:  # pyproject.toml: pymodbus 3.8 before 3.10, >=3.10 from it on
        assert tuple(map(int, pymodbus.split(".")[:2])) >= (3, 10), pymodbus
    assert yaml_file.startswith(str(app / "venv"))  # built into the venv, not borrowed
    assert (with_libyaml, no_speedups, no_yaml_ext) == ("False", "True", "True")  # pure Python


def _sdist(folder: Path, name: str, pyproject: Optional[str]) -> Path:
    """A source package holding only a pyproject.toml (or nothing, like an old setup.py one)."""
    path = folder / f"{name}.tar.gz"
    with tarfile.open(path, "w:gz") as archive:
        data = (pyproject or "").encode()
        info = tarfile.TarInfo(
            f"{name}/{'pyproject.toml' if pyproject is not None else 'PKG-INFO'}"
        )
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    return path


PYYAML_BUILD_SYSTEM = """[project]
requires = ["not-this"]

[build-system]
requires = [
    "setuptools",  # a comment
    'Cython; python_version < "3.13"',
    "Cython>=3.0; python_version >= '3.13'"
]
build-backend = "_pyyaml_pep517"
"""


def test_wheel_cache_reads_build_requirements_for_any_python(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sdist = _sdist(tmp_path, "pyyaml-6.0.4", PYYAML_BUILD_SYSTEM)
    want = ["setuptools", "Cython", "Cython>=3.0"]  # markers dropped: the next Python needs them
    assert wheel_cache.build_requires(sdist) == want
    # Pythons before 3.11 have no tomllib: the fallback reads the same list
    monkeypatch.setitem(sys.modules, "tomllib", None)
    assert wheel_cache.build_requires(sdist) == want
    legacy = _sdist(tmp_path, "oldpkg-1.0", None)
    assert wheel_cache.build_requires(legacy) == wheel_cache.LEGACY_BUILD_REQUIRES


def test_wheel_cache_check_names_what_a_new_python_would_miss(tmp_path: Path) -> None:
    for name in (
        "PyYAML-6.0.4-cp311-cp311-manylinux_2_17_x86_64.whl",
        "markupsafe-3.0.4-cp311-cp311-linux_armv7l.whl",
        "flask-3.1.3-py3-none-any.whl",
        "setuptools-84.2.1-py3-none-any.whl",
    ):
        (tmp_path / name).write_bytes(b"")
    _sdist(tmp_path, "pyyaml-6.0.4", PYYAML_BUILD_SYSTEM)
    assert wheel_cache.missing(tmp_path) == [
        "markupsafe 3.0.4: a binary wheel without its source package",
        "pyyaml-6.0.4.tar.gz: no pure-Python wheel for its build requirement Cython",
        "pyyaml-6.0.4.tar.gz: no pure-Python wheel for its build requirement Cython>=3.0",
    ]
    (tmp_path / "cython-3.3.1-py3-none-any.whl").write_bytes(b"")
    _sdist(tmp_path, "MarkupSafe-3.0.4", '[build-system]\nrequires = ["setuptools>=77"]\n')
    assert wheel_cache.missing(tmp_path) == []
    out = subprocess.run(
        [sys.executable, str(ROOT / "venus" / "wheel_cache.py"), "check", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    (tmp_path / "broken-1.0.tar.gz").write_bytes(b"not a tarball")  # said, not a traceback
    out = subprocess.run(
        [sys.executable, str(ROOT / "venus" / "wheel_cache.py"), "check", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1 and "broken-1.0.tar.gz: not a readable source package" in out.stderr
    assert "Traceback" not in out.stderr


def test_wheel_cache_finds_what_only_other_pythons_require(tmp_path: Path) -> None:
    info = "alfen_victron-0.1.0.dist-info"
    with zipfile.ZipFile(tmp_path / "alfen_victron-0.1.0-py3-none-any.whl", "w") as whl:
        whl.writestr(
            f"{info}/METADATA",
            "Metadata-Version: 2.1\nName: alfen-victron\nVersion: 0.1.0\n"
            'Requires-Dist: pymodbus<3.17,>=3.10; python_version >= "3.10"\n'
            'Requires-Dist: pymodbus<3.9,>=3.8.6; python_version < "3.10"\n'
            "Requires-Dist: paho-mqtt<3,>=2.0\n"
            'Requires-Dist: hypothesis>=6; extra == "dev" and python_version >= "3.9"\n',
        )
        # a copy it vendors does not count: only the wheel's own METADATA
        whl.writestr(
            "alfen_victron/_vendor/x.dist-info/METADATA",
            "Requires-Dist: zipp; python_version < '3'\n",
        )
    assert wheel_cache.python_specific_requires(tmp_path) == [
        "pymodbus<3.17,>=3.10",
        "pymodbus<3.9,>=3.8.6",
    ]


@pytest.mark.parametrize("state_dir", ["/data//", "/data/conf", "/data/alfen"])
def test_purge_removes_only_our_files_whatever_state_dir_says(root: Path, state_dir: str) -> None:
    """state_dir is the user's (and the settings page's) to write: "/data//" once made --purge
    remove the whole of /data. Only the files the processes write go, and the folder only if
    that leaves it empty."""
    run(INSTALL, root, "--no-pip")
    (root / APP / "config.yaml").write_text(f"state_dir: {state_dir}\n")
    target = root / state_dir.strip("/")
    target.mkdir(parents=True, exist_ok=True)
    ours = ("sessions.sqlite3", "settings.json", ".memory.json.x1.tmp", "dbus_shim_0.json")
    for name in ours:
        (target / name).write_text("ours")
    foreign = target / "venus-settings.xml"
    foreign.write_text("not ours")
    (root / "data" / "other").mkdir(parents=True, exist_ok=True)
    run(UNINSTALL, root, "--purge")
    assert foreign.read_text() == "not ours" and (root / "data" / "other").is_dir()
    assert not [name for name in ours if (target / name).exists()]
