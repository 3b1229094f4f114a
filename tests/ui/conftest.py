"""Browser tests: Playwright (the pip package; its driver ships in the wheel) driving Debian's Chromium headless.

Never ``playwright install``: the browser is Debian's /usr/bin/chromium. When it is missing and we are root,
this installs it with apt-get once per session; when Chromium still cannot start, the browser tests are
skipped with the reason (the plain HTTP tests in this folder still run).
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PROVIDER_SIM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


def _ensure_chromium() -> str | None:
    """Return None when Chromium is there (installing it if we can), else why it is not."""
    if Path(CHROMIUM).exists():
        return None
    if not hasattr(os, "geteuid") or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return f"{CHROMIUM} is missing and this is not a root Debian shell: apt-get install chromium"
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    try:
        subprocess.run(["apt-get", "update", "-q"], check=True, env=env, capture_output=True, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-q", "chromium"], check=True, env=env, capture_output=True,
                       timeout=1200)
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not install chromium with apt-get: {exc}"
    return None if Path(CHROMIUM).exists() else f"apt-get install chromium did not provide {CHROMIUM}"


@pytest.fixture(scope="package")
def chromium_browser() -> Iterator[Any]:
    problem = _ensure_chromium()
    if problem:
        pytest.skip(f"browser tests need Chromium: {problem}")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need the playwright package (pip install -e '.[test]')")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    except Exception as exc:  # noqa: BLE001 - any launch failure means "no browser here", not a red build
        manager.stop()
        pytest.skip(f"Chromium at {CHROMIUM} could not be launched: {str(exc).splitlines()[0]}")
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()


@pytest.fixture
def ui_page(chromium_browser: Any, provider_sim: Any) -> Iterator[Any]:
    """A desktop-sized page on a freshly reset simulator (provider_sim), closed after the test."""
    context = chromium_browser.new_context(viewport=DESKTOP, base_url=provider_sim.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.ui_errors = errors  # type: ignore[attr-defined]
    try:
        yield page
    finally:
        context.close()  # closes the page's event stream before the session's server stops
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture(scope="session")
def screenshot_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where screenshots go: $PROVIDER_SIM_SCREENSHOTS (e.g. docs/screenshots) or a temporary folder."""
    target = os.environ.get("PROVIDER_SIM_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path
