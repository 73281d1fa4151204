"""VS Code itself: code-server (VS Code in the browser) with the extension installed from its
.vsix, driven through Debian's Chromium by Playwright, against the real server and tiny model.

Each step leaves a screenshot in ``artefacts/vscode/`` (or ``$CODETUNE_ARTEFACTS/vscode``).
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from .conftest import ROOT, SOURCE, Workspace, required
from .tiny_action import TITLE

CODE_SERVER_VERSION = "4.100.3"  # editors/vscode/install-code-server.sh installs it
CHROMIUM = Path("/usr/bin/chromium")  # Debian's; Playwright never downloads a browser here
STEP_TIMEOUT_MS = 60_000  # generous: the tiny model loads on first use, on 2 busy cores
ARTEFACTS = Path(os.environ.get("CODETUNE_ARTEFACTS", ROOT / "artefacts")) / "vscode"


def code_server_binary() -> Path:
    default = Path.home() / ".cache" / "codetune" / f"code-server-{CODE_SERVER_VERSION}"
    folder = Path(os.environ.get("CODETUNE_CODE_SERVER", default))
    binary = folder / "node_modules" / ".bin" / "code-server"
    if not (folder / f".installed-{CODE_SERVER_VERSION}").is_file():
        required(f"code-server {CODE_SERVER_VERSION}", "editors/install-test-clients.sh")
    return binary


@dataclass
class CodeServer:
    url: str
    log: Path


def user_settings(workspace: Workspace) -> dict[str, Any]:
    return {
        # the extension's own settings, as a user would set them
        "codetune.lsp.path": str(workspace.server),
        "codetune.features.completion.mode": "inline",
        # a quiet workbench, so what the test looks for is all that is on screen
        "workbench.startupEditor": "none",
        "workbench.tips.enabled": False,
        "workbench.enableExperiments": False,
        "telemetry.telemetryLevel": "off",
        "security.workspace.trust.enabled": False,
        "extensions.ignoreRecommendations": True,
        "update.mode": "none",
        "remote.autoForwardPorts": False,
        # ghost text only: no word-based suggest widget competing for Tab
        "editor.quickSuggestions": {"other": "off", "comments": "off", "strings": "off"},
        "editor.suggestOnTriggerCharacters": False,
        "editor.wordBasedSuggestions": "off",
        "editor.inlineSuggest.enabled": True,
        "editor.minimap.enabled": False,
    }


@pytest.fixture
def code_server(workspace: Workspace, vsix: Path) -> Iterator[CodeServer]:
    """code-server on loopback with the extension installed from the .vsix."""
    binary = code_server_binary()
    home = workspace.root.parent
    data, extensions = home / "code-user-data", home / "code-extensions"
    (data / "User").mkdir(parents=True)
    (data / "User" / "settings.json").write_text(json.dumps(user_settings(workspace), indent=1))
    common = [
        f"--user-data-dir={data}", f"--extensions-dir={extensions}",
        f"--config={home / 'code-server.yaml'}",
    ]  # fmt: skip
    installed = subprocess.run(
        [str(binary), *common, "--install-extension", str(vsix)],
        env=workspace.env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stdout + installed.stderr
    assert (extensions / "codetune.codetune-0.1.0" / "out" / "extension.js").is_file()

    log = home / "code-server.log"
    argv = [
        str(binary), *common, "--auth=none", "--bind-addr=127.0.0.1:0",
        "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
        "--disable-getting-started-override", str(workspace.root),
    ]  # fmt: skip
    with log.open("w") as sink:
        proc = subprocess.Popen(
            argv, env=workspace.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, text=True, start_new_session=True,
        )  # fmt: skip
        listening = threading.Event()
        found: list[str] = []

        def pump() -> None:  # copy the log, and catch the line that names the port
            assert proc.stdout is not None
            for line in proc.stdout:
                sink.write(line)
                sink.flush()
                match = re.search(r"HTTP server listening on (http://127\.0\.0\.1:\d+)", line)
                if match and not found:
                    found.append(match.group(1))
                    listening.set()
            listening.set()

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            assert listening.wait(60) and found, f"code-server did not listen:\n{log.read_text()}"
            yield CodeServer(url=found[0], log=log)
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # code-server, its extension host, the server
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(20)
            reader.join(20)


def playwright_api() -> ModuleType:
    try:
        import playwright.sync_api
    except ImportError:
        required("Playwright for Python", "the dev extra of pyproject.toml installs it")
    return playwright.sync_api


def wait_for(condition: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll ``condition`` (a cheap read) until it returns something truthy."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")


def feedback_kinds(workspace: Workspace) -> list[str]:
    database = Path(workspace.env["CODETUNE_HOME"]) / "codetune.db"
    if not database.exists():
        return []
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        try:
            return [kind for (kind,) in db.execute("SELECT kind FROM feedback ORDER BY id")]
        except sqlite3.OperationalError:  # not migrated yet
            return []


@pytest.mark.timeout(240)  # the browser steps take about a minute; setup builds the .vsix
def test_vscode_runs_the_extension_ghost_text_actions_and_problems(
    workspace: Workspace, code_server: CodeServer
) -> None:
    sync_api = playwright_api()
    if not CHROMIUM.is_file():
        required("chromium", "editors/install-test-clients.sh installs Debian's")
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTEFACTS.glob("*.png"):
        old.unlink()

    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.set_default_timeout(STEP_TIMEOUT_MS)
        expect = sync_api.expect
        sync_api.expect.set_options(timeout=STEP_TIMEOUT_MS)

        def shot(name: str) -> None:
            page.screenshot(path=str(ARTEFACTS / f"{name}.png"))

        def command(title: str) -> None:
            page.keyboard.press("F1")
            palette = page.locator(".quick-input-widget input")
            expect(palette).to_be_visible()
            palette.fill(f">{title}")
            page.locator(".quick-input-list .monaco-list-row", has_text=title).first.click()

        try:
            # 1. the workspace opens; the Python file opens in an editor
            page.goto(f"{code_server.url}/?folder={workspace.root}")
            page.locator(".explorer-folders-view .monaco-list-row", has_text="app.py").click()
            editor = page.locator(".editor-instance .monaco-editor").first
            lines = editor.locator(".view-lines")
            expect(lines).to_contain_text("def run(cmd):")
            shot("1-file-open")

            # 2. the forced finding (CWE-78, line 1) in the Problems panel
            command("View: Focus Problems")
            problems = page.locator(".markers-panel")
            expect(problems).to_contain_text("CWE-78")
            expect(problems).to_contain_text("codetune")
            expect(problems).to_contain_text("[Ln 1")
            shot("2-problems")

            # 3. the extension activated and started the server: its output channel (listed once the
            #    extension registered it, which the finding above shows it has)
            command("Output: Show Output Channels...")
            page.locator(".quick-input-list .monaco-list-row", has_text="codetune").first.click()
            output = page.locator(".panel .output .view-lines, .output-view .view-lines").first
            expect(output).to_contain_text("Server started: codetune-lsp")
            shot("3-output-channel")

            # 4. typing in the function brings ghost text; Tab accepts it and the server
            #    records the acceptance
            lines.locator(".view-line", has_text="return result").click()
            page.keyboard.press("End")
            page.keyboard.press("Enter")
            page.keyboard.type("value = ")
            ghost = editor.locator(".ghost-text-decoration, .ghost-text").first
            expect(ghost).to_be_visible()
            suggestion = ghost.inner_text().split()
            assert suggestion, "the ghost text is blank"
            shot("4-ghost-text")
            page.keyboard.press("Tab")
            expect(editor.locator(".ghost-text-decoration, .ghost-text")).to_have_count(0)
            expect(lines.locator(".view-line", has_text="value =")).to_contain_text(suggestion[0])
            wait_for(lambda: "accepted" in feedback_kinds(workspace), 60, "the accepted row")
            shot("5-accepted")

            # 5. the code-action menu lists the AI actions; applying one changes the file
            before = lines.inner_text()
            lines.locator(".view-line", has_text="subprocess.call").click()
            page.keyboard.press("Control+Period")
            menu = page.locator(".action-widget")
            expect(menu).to_contain_text(TITLE)
            titles = menu.locator(".action-label, .title").all_inner_texts()
            shot("6-code-actions")
            # the menu takes the keyboard (an overlay stops pointer clicks): walk down to it
            focused = menu.locator(".monaco-list-row.focused")
            for _ in range(len(titles)):
                if focused.get_attribute("aria-label") == TITLE:
                    break
                page.keyboard.press("ArrowDown")
            page.keyboard.press("Enter")
            wait_for(lambda: lines.inner_text() != before, 90, "the action's edit")
            wait_for(lambda: "applied" in feedback_kinds(workspace), 60, "the applied row")
            page.keyboard.press("Control+S")
            wait_for(lambda: workspace.source.read_text() != SOURCE, 30, "the file saved")
            shot("7-action-applied")
        except BaseException:
            shot("failure")  # the screen as it was when a step gave up
            raise
        finally:
            browser.close()
    assert {"AI: Explain this code", "AI: Add docstring"} <= {t.strip() for t in titles}, titles
