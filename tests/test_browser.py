"""End to end in a real browser: JupyterLab serves notebook 02, headless Chromium runs it up to the
augmentation explorer, and the ipywidgets explorer must render and react to a click.

Needs Playwright for Python (requirements-dev.txt) and a Chromium; it uses Debian's ``chromium``
package (``apt-get install chromium``, /usr/bin/chromium) or ``$COURSE_CHROMIUM``, so that nothing
is downloaded at test time. Without them the test is skipped, unless ``CI_REQUIRE_BROWSER=1`` (set by
.ci/run), where it fails instead. A screenshot is saved as artifacts/browser/explorer.png.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from conftest import require_browser
from tools import nbkit
from tools.paths import NOTEBOOK_DIR, REPO

NOTEBOOK = NOTEBOOK_DIR / "02_normalization_and_augmentation.ipynb"
EXPLORER_CALL = "augmentation_explorer("
ARTIFACTS = REPO / "artifacts" / "browser"
SERVER_START_S = 120
RUN_TIMEOUT_MS = 300_000  # the cells up to the explorer, in smoke mode, on a busy 2-core machine



def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 5):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read() or b"null")


@pytest.fixture
def lab_server(tmp_path):
    """A JupyterLab server on a free localhost port with a one-off token and private config dirs."""
    port, token = _free_port(), secrets.token_hex(16)
    settings = tmp_path / "lab-settings"
    # Never autosave: the repository's notebook must not be rewritten with outputs.
    docmanager = settings / "@jupyterlab" / "docmanager-extension"
    docmanager.mkdir(parents=True)
    (docmanager / "plugin.jupyterlab-settings").write_text(json.dumps({"autosave": False}))
    # No announcements/news pop-ups over the notebook (and no network requests for them).
    (settings / "@jupyterlab" / "apputils-extension").mkdir(parents=True)
    (settings / "@jupyterlab" / "apputils-extension" / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False}))
    env = dict(os.environ)
    env.update({
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"),
        "COURSE_RUN_MODE": "smoke",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")])),
    })
    env.setdefault("COURSE_DATA_ROOT", str(REPO / "data"))
    log = (tmp_path / "server.log").open("w")
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={REPO}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI containers run as root
    process = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    original = NOTEBOOK.read_bytes()
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"JupyterLab exited with {process.returncode}:\n{(tmp_path / 'server.log').read_text()}")
            try:
                _get(f"{base}/api/status?token={token}")
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"JupyterLab did not start in {SERVER_START_S} s:\n"
                                f"{(tmp_path / 'server.log').read_text()}")
                time.sleep(0.5)
        yield {"base": base, "token": token, "log": tmp_path / "server.log"}
    finally:
        try:  # shut kernels down through the API, then stop the server (and anything it started)
            for kernel in _get(f"{base}/api/kernels?token={token}") or []:
                request = urllib.request.Request(f"{base}/api/kernels/{kernel['id']}?token={token}", method="DELETE")
                urllib.request.urlopen(request, timeout=10).close()
        except OSError:
            pass
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()
        if NOTEBOOK.read_bytes() != original:  # belt and braces: never leave outputs in the repository
            NOTEBOOK.write_bytes(original)
            pytest.fail(f"JupyterLab modified {NOTEBOOK.name}; it was restored")


def _explorer_cell_index() -> int:
    cells = nbkit.read(NOTEBOOK).cells
    found = [i for i, c in enumerate(cells) if c.cell_type == "code" and EXPLORER_CALL in nbkit.source(c)]
    assert len(found) == 1, f"expected one cell calling {EXPLORER_CALL} in {NOTEBOOK.name}, found {found}"
    return found[0]


def test_augmentation_explorer_in_jupyterlab(request):
    chromium_path = require_browser()
    from playwright.sync_api import expect, sync_playwright

    server = request.getfixturevalue("lab_server")
    last = _explorer_cell_index()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    url = f"{server['base']}/lab/tree/notebooks/{NOTEBOOK.name}?token={server['token']}"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            cells = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell")
            expect(cells.nth(last)).to_be_attached(timeout=120_000)
            expect(page.locator(".jp-Notebook-ExecutionIndicator[data-status='idle']")).to_be_attached(
                timeout=120_000)
            # Select the first cell in command mode, then Shift+Enter runs each cell and moves on:
            # markdown cells render, code cells queue up in order, ending with the explorer.
            active = re.compile(r"\bjp-mod-active\b")
            cells.nth(0).locator(".jp-InputPrompt").first.click()
            page.keyboard.press("Escape")
            expect(cells.nth(0)).to_have_class(active, timeout=30_000)
            for index in range(last + 1):
                page.keyboard.press("Shift+Enter")
                # the next cell is active once this one is queued: a key press that a busy page dropped
                # would otherwise leave a cell unrun (and a NameError further down)
                expect(cells.nth(index + 1)).to_have_class(active, timeout=30_000)
            explorer = cells.nth(last).locator(".jp-OutputArea-output")
            padding = explorer.locator(".widget-slider").first
            checkbox = explorer.locator(".widget-checkbox input[type='checkbox']").first
            image = explorer.locator(".widget-output img").first
            try:
                expect(padding).to_be_visible(timeout=RUN_TIMEOUT_MS)
                expect(checkbox).to_be_visible()
                expect(image).to_be_visible(timeout=60_000)
            except AssertionError:
                page.screenshot(path=str(ARTIFACTS / "explorer_failed.png"), full_page=True)
                raise
            assert explorer.locator(".widget-label", has_text="padding").count() >= 1
            before = image.get_attribute("src")
            assert before and before.startswith("data:image/png"), "the explorer should draw a PNG figure"
            # One interaction: switch normalization on; the figure must be redrawn (a different image).
            checkbox.check()
            page.wait_for_function(
                "([el, old]) => { const img = el.querySelector('.widget-output img');"
                " return img && img.src !== old; }",
                arg=[cells.nth(last).element_handle(), before], timeout=120_000)
            after = image.get_attribute("src")
            assert after != before, "toggling 'normalize' did not change the explorer's figure"
            expect(checkbox).to_be_checked()
            # A second one: the padding slider, moved one step with the keyboard (4 -> 5).
            readout = padding.locator(".widget-readout")
            expect(readout).to_have_text("4")
            padding.locator(".noUi-handle").focus()
            page.keyboard.press("ArrowRight")
            expect(readout).to_have_text("5", timeout=30_000)
            page.wait_for_function(
                "([el, old]) => { const img = el.querySelector('.widget-output img');"
                " return img && img.src !== old; }",
                arg=[cells.nth(last).element_handle(), after], timeout=120_000)
            cells.nth(last).scroll_into_view_if_needed()
            cells.nth(last).screenshot(path=str(ARTIFACTS / "explorer.png"))
            page.screenshot(path=str(ARTIFACTS / "explorer_page.png"))
        finally:
            browser.close()


RENDERED = ("07_resnet.ipynb", "ko/07_resnet.ipynb")  # one notebook of each edition, with a Markdown table


def test_markdown_renders_in_jupyterlab(request):
    """What a person sees when opening a notebook (nothing run): the title cell's two badges are images, not
    Markdown printed as text (issue 24's bug: a badge line starting with an HTML comment), and headings, tables
    and links render."""
    chromium_path = require_browser()
    from playwright.sync_api import expect, sync_playwright

    server = request.getfixturevalue("lab_server")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path, headless=True)
        try:
            for name in RENDERED:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                # ?reset: a fresh workspace, so the notebook opened before is not restored beside this one (under
                # load, the locator below then found the earlier panel just before JupyterLab hid it)
                page.goto(f"{server['base']}/lab/tree/notebooks/{name}?reset&token={server['token']}")
                panels = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden)")
                expect(panels).to_have_count(1, timeout=120_000)
                notebook = panels.locator(".jp-Notebook")
                title = notebook.locator(".jp-Cell").first.locator(".jp-RenderedMarkdown")
                expect(title.locator("h1")).to_have_count(1, timeout=120_000)
                badges = title.locator("a > img")
                expect(badges).to_have_count(2)
                assert sorted(badges.nth(i).get_attribute("alt") for i in range(2)) == ["Binder", "Open In Colab"]
                hrefs = [badges.nth(i).locator("xpath=..").get_attribute("href") for i in range(2)]
                assert any("colab.research.google.com" in h for h in hrefs) and any("mybinder.org" in h for h in hrefs)
                shown = title.inner_text()
                assert "[![" not in shown and "<!--" not in shown, f"the title cell shows Markdown as text:\n{shown}"
                assert title.locator("a[href]").count() >= 4, "badges, the glossary and the other edition are links"
                title.screenshot(path=str(ARTIFACTS / f"title_{name.replace('/', '_')}.png"))
                rendered = notebook.locator(".jp-MarkdownCell .jp-RenderedMarkdown")
                expect(rendered.locator("table").first).to_be_attached(timeout=60_000)
                assert rendered.locator("h2").count() >= 3, "the section headings render as headings"
                texts = rendered.all_inner_texts()
                assert not [t for t in texts if "[![" in t or "](http" in t], "a markdown cell shows a link as text"
        finally:
            browser.close()
