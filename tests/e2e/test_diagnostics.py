"""AI diagnostics in the editor with a tiny real model: push, pull, cache, stale, quick fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types
from pytest_lsp import client_capabilities

from .forced_template import FORCED
from .model_server import count_at_least, history, open_doc, start_client

SOURCE = "import subprocess\n\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
FORCED_ONLY = '[features.diagnostics]\ntemplates = ["diagnostics.forced"]\nrules = []\n'


async def started(tmp_path: Path, model: Path, caps=None, extra: str = ""):
    (tmp_path / "prompts").mkdir(exist_ok=True)
    (tmp_path / "prompts" / "diagnostics.forced.toml").write_text(FORCED)
    config = "\n".join(line for line in extra.splitlines())
    client = await start_client(
        tmp_path, model, "visual-studio-code", capabilities=caps, extra_config=config
    )
    return client, (tmp_path / "app.py").as_uri()


def published(client, uri: str) -> list[types.Diagnostic]:
    return list(client.diagnostics.get(uri, []))


async def wait_published(client, uri: str) -> list[types.Diagnostic]:
    """Non-empty diagnostics for ``uri``, waiting on the publish notifications themselves
    (a loaded machine may take long; the test's own timeout bounds the wait)."""
    while not published(client, uri):
        await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    return published(client, uri)


async def quick_fixes(client, uri: str, diagnostic: types.Diagnostic) -> list:
    """The quick fixes the server lists for one of its diagnostics."""
    return await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=diagnostic.range,
            context=types.CodeActionContext(
                diagnostics=[diagnostic], only=[types.CodeActionKind.QuickFix]
            ),
        )
    )


async def stop(client) -> None:
    await client.shutdown_session()
    await client.stop()


def with_forced_templates(config_extra: str = "") -> str:
    return FORCED_ONLY.replace("[features.diagnostics]\n", "") + config_extra


async def test_findings_are_pushed_on_open_with_cwe_codes(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, extra=with_forced_templates())
    try:
        open_doc(client, uri, SOURCE)
        (diagnostic,) = await wait_published(client, uri)
        assert diagnostic.source == "codetune" and diagnostic.code == "CWE-78"
        assert diagnostic.severity == types.DiagnosticSeverity.Warning
        assert diagnostic.range.start.line == 0 and diagnostic.range.end.line == 0
        assert diagnostic.code_description.href.endswith("/78.html")
        assert diagnostic.data["template"] == "diagnostics.forced"
        # each finding gets the AI quick fix, with no model call to list it
        before = [(await count_at_least(tmp_path, "SELECT count(*) FROM executions"),)]
        actions = await quick_fixes(client, uri, diagnostic)
        (fix,) = actions
        assert fix.kind == types.CodeActionKind.QuickFix and fix.title.startswith("AI: Fix")
        assert history(tmp_path, "SELECT count(*) FROM executions") == before
    finally:
        await stop(client)


async def test_rule_findings_are_pushed_without_a_model_call_and_offer_the_ai_fix(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, extra="templates = []\n")
    try:
        open_doc(client, uri, SOURCE)
        (diagnostic,) = await wait_published(client, uri)
        assert (diagnostic.code, diagnostic.range.start.line) == ("CWE-78", 4)
        assert diagnostic.severity == types.DiagnosticSeverity.Error
        assert diagnostic.data["template"] == "rules:bandit B602"
        assert "argument list" in diagnostic.message  # what to do, not only what was found
        assert history(tmp_path, "SELECT count(*) FROM executions") in ([], [(0,)])
        actions = await quick_fixes(client, uri, diagnostic)
        assert [a.title[:7] for a in actions] == ["AI: Fix"]
    finally:
        await stop(client)


async def test_reopening_unchanged_text_costs_no_model_call(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, extra=with_forced_templates())
    try:
        open_doc(client, uri, SOURCE)
        await wait_published(client, uri)
        calls = await count_at_least(tmp_path, "SELECT count(*) FROM executions")
        assert calls >= 1
        client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        await asyncio.sleep(0.2)
        assert published(client, uri) == []  # cleared on close
        open_doc(client, uri, SOURCE)
        (again,) = await wait_published(client, uri)
        assert again.code == "CWE-78"
        assert history(tmp_path, "SELECT count(*) FROM executions")[0][0] == calls
    finally:
        await stop(client)


async def test_results_for_an_outdated_version_are_dropped(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, extra=with_forced_templates())
    versions = []

    handlers = client.protocol.fm.features
    original = handlers[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def record(params: types.PublishDiagnosticsParams) -> None:  # also keep the version
        versions.append(params.version)
        original(params)

    handlers[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = record

    try:
        open_doc(client, uri, SOURCE)
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text=SOURCE + "# v2\n")
                ],
            )
        )
        client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        await wait_published(client, uri)
        await asyncio.sleep(0.5)
        assert versions and set(versions) == {2}
    finally:
        await stop(client)


async def test_pull_diagnostics_with_result_ids(tmp_path: Path, tiny_llama_path: Path) -> None:
    caps = client_capabilities("visual-studio-code")
    caps.text_document.diagnostic = types.DiagnosticClientCapabilities()
    client, uri = await started(tmp_path, tiny_llama_path, caps, extra=with_forced_templates())
    try:
        open_doc(client, uri, SOURCE)
        params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        full = await client.text_document_diagnostic_async(params)
        assert full.kind == "full" and [d.code for d in full.items] == ["CWE-78"]
        params.previous_result_id = full.result_id
        unchanged = await client.text_document_diagnostic_async(params)
        assert unchanged.kind == "unchanged" and unchanged.result_id == full.result_id
        assert published(client, uri) == []  # a pull client is not also pushed to
    finally:
        await stop(client)


async def test_builtin_templates_run_and_invalid_output_never_crashes(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    both = 'templates = ["diagnostics.security", "diagnostics.quality"]\n'
    client, uri = await started(tmp_path, tiny_llama_path, extra=both)
    try:
        open_doc(client, uri, SOURCE)
        both_ran = {"diagnostics.security", "diagnostics.quality"}
        for _ in range(600):  # a loaded machine may rerun one before the other has a row
            rows = history(tmp_path, "SELECT template_name, success, error_class FROM executions")
            if {r[0] for r in rows} >= both_ran:
                break
            await asyncio.sleep(0.1)
        assert {r[0] for r in rows} == both_ran
        for _, success, error_class in rows:  # a random model: valid JSON or a counted miss
            assert success or error_class in ("OutputInvalid", "CancelledError")
        state = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="codetune.status")
        )
        assert state["openDocuments"] == 1  # still serving
    finally:
        await stop(client)
