"""The settings editor in headless Chromium against ``python -m ui``: it saves with PATCH only
what the user changed (the user's file keeps its comments and its nulls), and a read-only
config is said on the page before any edit and on Save."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any, Iterator

import pytest
import yaml

from tests.helpers import Proc, base_config, free_port, wait_until, write_config

pytestmark = pytest.mark.browser
sync_api = pytest.importorskip("playwright.sync_api")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync"]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium not installed (make test installs it)")
    with sync_api.sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(
            tempfile.mkdtemp(prefix="chromium-profile-"),
            executable_path=CHROMIUM,
            args=ARGS,
            headless=True,
            bypass_csp=True,
        )
        yield ctx
        ctx.close()


def _user_file(tmp: Path, mqtt_port: int, web_port: int) -> str:
    cfg = base_config(tmp, 5020, mqtt_port, web={"port": web_port})
    text = "# my own notes\n" + yaml.safe_dump(cfg, sort_keys=False)
    return text + "auto:\n  afternoon_battery_soc: null   # off\nsession: {}\n"


def _ui(tmp: Path, path: Path, read_only: bool = False) -> Proc:
    proc = Proc("ui", "--config", str(path), log_dir=tmp)
    if read_only:
        folder = path.parent
        mount = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}"'
        proc.interpreter = [
            "unshare",
            "-m",
            "sh",
            "-c",
            mount + ' && exec "$0" "$@"',
            sys.executable,
        ]
    return proc.start()


def _up(url: str) -> bool:
    import urllib.request

    try:
        with urllib.request.urlopen(url + "/api/status", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_editor_patches_only_the_changed_field(broker: Any, browser: Any, tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "config.yaml"
    path.write_text(_user_file(tmp_path, broker.port, port))
    before = path.read_text()
    proc = _ui(tmp_path, path)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _up(url), 15)
        page = browser.new_page()
        errors: list = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/ui/#settings")
        page.wait_for_selector("#cfg-auto-reserve_w", state="attached")
        page.click("#section-auto > summary")
        page.fill("#cfg-auto-reserve_w", "150")
        with page.expect_request(
            lambda r: r.url.endswith("/api/config") and r.method != "GET"
        ) as req:
            page.click("#config-save")
        assert req.value.method == "PATCH"
        assert json.loads(req.value.post_data) == {"auto": {"reserve_w": 150}}
        page.wait_for_function(
            "document.getElementById('config-msg').textContent.startsWith('Saved')", timeout=5000
        )
        after = path.read_text()
        assert after == before.replace(
            "  afternoon_battery_soc: null   # off\n",
            "  afternoon_battery_soc: null   # off\n  reserve_w: 150\n",
        )
        assert not errors, errors
        page.close()
    finally:
        proc.stop()


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-m", "true"], capture_output=True).returncode == 0
    except OSError:
        return False


def test_editor_says_a_read_only_config(broker: Any, browser: Any, tmp_path: Path) -> None:
    if os.geteuid() != 0 or not _unshare_works():
        pytest.skip("needs root with mount namespaces for a read-only mount")
    port = free_port()
    ro = tmp_path / "ro"
    ro.mkdir()
    path = write_config(
        ro / "config.yaml", base_config(tmp_path, 5020, broker.port, web={"port": port})
    )
    proc = _ui(tmp_path, path, read_only=True)
    url = f"http://127.0.0.1:{port}"
    expected = f"config file is read-only: {path}"
    try:
        wait_until(lambda: _up(url), 15)
        page = browser.new_page()
        page.goto(url + "/ui/#settings")
        page.wait_for_function(
            f"document.getElementById('config-msg').textContent.startsWith({json.dumps(expected)})",
            timeout=5000,
        )
        page.wait_for_selector("#cfg-auto-reserve_w", state="attached")
        page.click("#section-auto > summary")
        page.fill("#cfg-auto-reserve_w", "150")
        page.click("#config-save")
        page.wait_for_function(
            "document.getElementById('config-msg').textContent === "
            + json.dumps("Not saved: " + expected),
            timeout=5000,
        )
        page.close()
    finally:
        proc.stop()
