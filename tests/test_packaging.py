"""Packaging and make targets: no build warnings of our own, a quiet demo install, and the velib
parity run wired into `make test` (run when the vendored copy is there, a message when not)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any, Dict

import pytest

from tests.helpers import ROOT

tomllib = pytest.importorskip("tomllib")  # Python 3.11+; the checks are about the file only


def _pyproject() -> Dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def test_license_is_an_spdx_string_with_a_setuptools_that_reads_it() -> None:
    doc = _pyproject()
    assert doc["project"]["license"] == "MIT"  # the table form is deprecated by setuptools
    assert "setuptools>=77" in doc["build-system"]["requires"]


def test_every_folder_shipped_with_data_is_a_listed_package() -> None:
    setup = _pyproject()["tool"]["setuptools"]
    packages = set(setup["packages"])
    for name, patterns in setup["package-data"].items():
        assert name in packages, name
        assert all("/" not in p for p in patterns), (name, patterns)  # subfolders are packages
    for pkg in packages:
        folder = ROOT / pkg.replace(".", "/")
        for sub in folder.iterdir():
            if sub.is_dir() and sub.name != "__pycache__" and any(sub.iterdir()):
                assert f"{pkg}.{sub.name}" in packages, f"{sub} is shipped by no package entry"
    assert {"ui.static", "ui.templates"} <= packages


def _make(*args: str, env: Dict[str, str] = {}) -> subprocess.CompletedProcess:  # noqa: B006
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_make_test_skips_velib_parity_with_a_message_without_the_copy(tmp_path: Path) -> None:
    out = _make("velib-parity-vendored", f"VELIB_VENDOR={tmp_path / 'none'}")
    assert out.returncode == 0, out.stderr
    assert f"velib parity: skipped, no velib_python at {tmp_path / 'none'}" in out.stdout


def test_make_test_runs_velib_parity_on_the_copy_when_there(tmp_path: Path) -> None:
    (tmp_path / "vedbus.py").write_text("# stands in for velib_python's vedbus\n")
    out = _make("-n", "velib-parity-vendored", f"VELIB_VENDOR={tmp_path}")
    assert out.returncode == 0, out.stderr
    assert f'ALFEN_REQUIRE_VELIB=1 VELIB_PYTHON="{tmp_path}"' in out.stdout
    test_line = next(line for line in _makefile_lines() if line.startswith("test:"))
    assert "velib-parity-vendored" in test_line.split()
    default = next(line for line in _makefile_lines() if line.startswith("VELIB_VENDOR ?="))
    assert "$(CURDIR)/../shared/vendor/velib_python" in default  # next to the checkout


def _makefile_lines() -> list:
    return (ROOT / "Makefile").read_text(encoding="utf-8").splitlines()


def test_demo_recipe_echoes_nothing_before_the_summary() -> None:
    lines = _makefile_lines()
    for target in ("$(DEMO_STAMP):", "demo:"):
        at = next(i for i, line in enumerate(lines) if line.startswith(target))
        recipe = []
        for line in lines[at + 1 :]:
            if not line.startswith("\t"):
                break
            recipe.append(line)
        assert recipe and all(line.startswith("\t@") for line in recipe), (target, recipe)


def _fake_python(tmp_path: Path, rc: int) -> Path:
    venv_bin = tmp_path / "venv" / "bin"
    venv_bin.mkdir(parents=True)
    py = venv_bin / "python"
    py.write_text(
        "#!/bin/sh\n"
        'echo "WARNING: Location is ignored"\n'
        'echo "BuildBackendWarning: something is deprecated" >&2\n'
        f'case "$*" in *--upgrade*) exit 0;; esac\nexit {rc}\n'
    )
    py.chmod(0o755)
    return py


def test_pip_quiet_says_nothing_when_pip_succeeds(tmp_path: Path) -> None:
    py = _fake_python(tmp_path, 0)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/pip-quiet.sh"), str(py), "-e", "."],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0
    assert out.stdout == "" and out.stderr == ""
    assert "deprecated" in (tmp_path / "venv" / "pip-install.log").read_text()


def test_pip_quiet_shows_the_log_when_pip_fails(tmp_path: Path) -> None:
    py = _fake_python(tmp_path, 1)
    out = subprocess.run(
        ["bash", str(ROOT / "scripts/pip-quiet.sh"), str(py), "-e", "."],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 1
    assert "deprecated" in out.stderr and "pip install -e . failed" in out.stderr
