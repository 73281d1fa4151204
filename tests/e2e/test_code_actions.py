"""Code actions end to end with a tiny real model: list, resolve, command, cancel, stale."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled
from pytest_lsp import client_capabilities

from codetune_lsp.documents import DocumentSnapshot
from codetune_lsp.prompts.docstrings import docstring_text, insert_docstring
from codetune_lsp.prompts.edits import apply_edits, extract_code, python_problem

from .model_server import history, history_when, open_doc, start_client

SOURCE = (
    "import os\n\n\ndef area(w, h):\n    result = w * h\n    return result\n\n\nprint(area(2, 3))\n"
)
CURSOR = types.Range(
    start=types.Position(line=4, character=6), end=types.Position(line=4, character=6)
)
FUNCTION = "def area(w, h):\n    result = w * h\n    return result\n"


def action_params(uri: str, range_: types.Range = CURSOR, diagnostics=()) -> types.CodeActionParams:
    return types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri),
        range=range_,
        context=types.CodeActionContext(diagnostics=list(diagnostics)),
    )


async def started(tmp_path: Path, model: Path, name: str, caps=None):
    client = await start_client(tmp_path, model, name, capabilities=caps, diagnostics=False)
    uri = (tmp_path / "geometry.py").as_uri()
    (tmp_path / "geometry.py").write_text(SOURCE)
    open_doc(client, uri, SOURCE)
    return client, uri


async def stop(client) -> None:
    await client.shutdown_session()
    await client.stop()


def by_title(actions, prefix: str):
    return next(a for a in actions if a.title.startswith(prefix))


def command_of(action) -> tuple[str, list]:
    """(command, arguments) of an action that runs by command.

    lsprotocol's client-side union hook reads any object with a ``command`` key as a Command,
    even when ``command`` is itself an object (a CodeAction). Editors tell them apart by
    whether ``command`` is a string, and so does this helper.
    """
    command = action.command
    if isinstance(command, str):  # read as a flat Command
        return command, list(action.arguments or [])
    if isinstance(command, dict):
        return command["command"], command["arguments"]
    return command.command, list(command.arguments)


async def test_listing_is_fast_and_calls_no_model(tmp_path: Path, tiny_llama_path: Path) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        first = await client.text_document_code_action_async(action_params(uri))  # opens the store
        started_at = time.perf_counter()
        actions = await client.text_document_code_action_async(action_params(uri))
        elapsed = time.perf_counter() - started_at
        titles = {a.title for a in actions}
        assert {
            "AI: Explain this code",
            "AI: Review this code",
            "AI: Security audit",
            "AI: Optimize",
            "AI: Add docstring",
            "AI: Generate tests",
        } <= titles
        assert len(first) == len(actions)
        assert all(getattr(a, "edit", None) is None for a in actions)
        assert elapsed < 1.0
        assert history(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'code_action'"
        ) == [(0,)]
    finally:
        await stop(client)


async def test_resolve_applies_a_minimal_edit_of_the_function(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    """The docstring action: whatever the (random) model wrote becomes the docstring of the
    function at the cursor, inserted by the server; no other line changes."""
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        docstring = by_title(actions, "AI: Add docstring")
        assert docstring.data and docstring.command is None  # VS Code resolves lazily
        resolved = await client.code_action_resolve_async(docstring)
        (change,) = resolved.edit.document_changes
        assert change.text_document.uri == uri and change.text_document.version == 1
        (output,) = await history_when(
            tmp_path, "SELECT output FROM executions WHERE feature = 'code_action'"
        )
        expected_function = insert_docstring(FUNCTION, docstring_text(output[0]))
        snap = DocumentSnapshot(uri, 1, "python", SOURCE, "utf-16")
        after = apply_edits(SOURCE, snap, list(change.edits))
        assert after == SOURCE.replace(FUNCTION, expected_function)
        (edit,) = change.edits  # one insertion below the def line
        assert edit.range.start == edit.range.end == types.Position(line=4, character=0)
        assert resolved.command.command == "codetune.feedback"
        assert resolved.command.arguments[1] == "applied"
    finally:
        await stop(client)


async def test_code_that_does_not_parse_is_refused_and_recorded_as_unusable(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    """A random model's rewrite of a function is not Python: nothing is offered, the user
    reads why, and the history marks the execution unsuccessful."""
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        resolved = await client.code_action_resolve_async(by_title(actions, "AI: Optimize"))
        assert resolved.edit is None
        ((output, ok, error),) = await history_when(
            tmp_path,
            "SELECT output, success, error_class FROM executions WHERE feature = 'code_action'",
        )
        assert extract_code(output, "python") is None or python_problem(output)
        assert (ok, error) == (0, "EmptyResult")
        shown = [m.message for m in client.messages if m.message.startswith("codetune:")]
        assert shown and ("does not parse" in shown[-1] or "no code" in shown[-1])
    finally:
        await stop(client)


async def test_the_command_path_applies_through_apply_edit(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, "emacs")  # eglot 1.9 style: no resolve
    received = []

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    def apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
        received.append(params.edit)
        return types.ApplyWorkspaceEditResult(applied=True)

    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        docstring = by_title(actions, "AI: Add docstring")
        name, arguments = command_of(docstring)
        assert name == "codetune.runAction"
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=arguments)
        )
        assert result["applied"] is True and len(received) == 1
        await asyncio.sleep(0.3)
        rows = history(
            tmp_path,
            "SELECT e.template_name, f.kind FROM executions e"
            " JOIN feedback f ON f.execution_id = e.id",
        )
        assert rows == [("code_action.docstring", "applied")]
    finally:
        await stop(client)


async def test_a_client_without_apply_edit_gets_the_edit_without_a_wait(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    """ALE declares ``applyEdit: false`` yet applies the edit, and never answers: the
    command must still finish (it used to wait forever) and record no feedback."""
    caps = client_capabilities("emacs")
    caps.workspace.apply_edit = False
    client, uri = await started(tmp_path, tiny_llama_path, "emacs", caps)
    received = []
    never = asyncio.Event()

    @client.feature(types.WORKSPACE_APPLY_EDIT)
    async def apply_edit(params: types.ApplyWorkspaceEditParams):
        received.append(params.edit)
        await never.wait()  # like ALE: applied, never answered

    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        name, arguments = command_of(by_title(actions, "AI: Add docstring"))
        result = await asyncio.wait_for(
            client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=name, arguments=arguments)
            ),
            60,
        )
        assert result["applied"] is None and result["executionId"]
        for _ in range(50):
            if received:
                break
            await asyncio.sleep(0.05)
        assert len(received) == 1
        await asyncio.sleep(0.3)
        assert history(tmp_path, "SELECT count(*) FROM feedback") == [(0,)]
    finally:
        never.set()
        await stop(client)


async def test_explain_writes_an_answer_and_shows_it(tmp_path: Path, tiny_llama_path: Path) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        explain = await client.code_action_resolve_async(by_title(actions, "AI: Explain"))
        assert explain.edit is None  # an answer, not an edit: resolving runs no model
        assert history(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'code_action'"
        ) == [(0,)]
        name, arguments = command_of(explain)
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=name, arguments=arguments)
        )
        (shown,) = client.shown_documents
        assert shown.uri == result["shown"] and shown.uri.endswith("-explain.md")
        answer = Path(shown.uri.removeprefix("file://")).read_text()
        ((output,),) = await history_when(
            tmp_path, "SELECT output FROM executions WHERE feature = 'code_action'"
        )
        assert output.strip() in answer
    finally:
        await stop(client)


async def test_a_stale_action_is_refused_and_nothing_runs(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code")
    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        optimize = by_title(actions, "AI: Optimize")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text=SOURCE + "# edited\n")
                ],
            )
        )
        with pytest.raises(Exception, match="changed since this action was listed"):
            await client.code_action_resolve_async(optimize)
        assert history(
            tmp_path, "SELECT count(*) FROM executions WHERE feature = 'code_action'"
        ) == [(0,)]
    finally:
        await stop(client)


async def action_progress(client, title: str):
    """The progress token the action itself began (diagnostics report progress too)."""
    for _ in range(100):
        for token, reports in client.progress_reports.items():
            if reports and getattr(reports[0], "title", None) == title:
                return token
        await asyncio.sleep(0.05)
    raise AssertionError(f"no progress for {title}")


@pytest.mark.parametrize("how", ["cancelRequest", "progress"])
async def test_cancelling_the_command_stops_the_generation(
    tmp_path: Path, tiny_llama_path: Path, how: str
) -> None:
    caps = client_capabilities("emacs")
    caps.window = types.WindowClientCapabilities(work_done_progress=True)
    client, uri = await started(tmp_path, tiny_llama_path, "emacs", caps)
    try:
        warm = await client.text_document_code_action_async(action_params(uri))
        name, arguments = command_of(by_title(warm, "AI: Review"))  # 768 tokens: time to cancel
        params = types.ExecuteCommandParams(command=name, arguments=arguments)
        await client.text_document_completion_async(  # an invoked completion loads the model
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=0, character=0),
                context=types.CompletionContext(trigger_kind=types.CompletionTriggerKind.Invoked),
            )
        )
        future = client.protocol.send_request(types.WORKSPACE_EXECUTE_COMMAND, params, msg_id=4242)
        token = await action_progress(client, "AI: Review this code")  # the action is running
        if how == "cancelRequest":
            client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id=4242))
        else:
            client.protocol.notify(
                types.WINDOW_WORK_DONE_PROGRESS_CANCEL,
                types.WorkDoneProgressCancelParams(token=token),
            )
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(asyncio.wrap_future(future), 10)
        await asyncio.sleep(1.0)  # a generation that was not stopped would be recorded by now
        rows = history(
            tmp_path, "SELECT finish_reason, success FROM executions WHERE feature = 'code_action'"
        )
        assert all(finish == "cancelled" and not ok for finish, ok in rows), rows
    finally:
        await stop(client)


async def test_a_generated_test_file_that_does_not_parse_is_not_offered(
    tmp_path: Path, tiny_llama_path: Path
) -> None:
    caps = client_capabilities("visual-studio-code")
    client, uri = await started(tmp_path, tiny_llama_path, "visual-studio-code", caps)
    try:
        actions = await client.text_document_code_action_async(action_params(uri))
        resolved = await client.code_action_resolve_async(by_title(actions, "AI: Generate tests"))
        assert resolved.edit is None
        assert not (tmp_path / "test_geometry.py").exists()
        shown = [m.message for m in client.messages if m.message.startswith("codetune:")]
        assert shown and ("does not parse" in shown[-1] or "no test" in shown[-1]), shown
        rows = await history_when(
            tmp_path, "SELECT success FROM executions WHERE feature = 'code_action'"
        )
        assert rows == [(0,)]
    finally:
        await stop(client)
